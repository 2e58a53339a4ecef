//! Property checks for the request parser, the `proto` crate's `Envelope`, `Fields` and
//! `Request`, shared by the `request_parser` fuzz target and
//! `proto/tests/fuzz_regressions.rs` (which includes this file by path).
//!
//! The input is one frame body, taken the way `startserv`'s handler takes it:
//! `Envelope::parse`, `check_seq`, `Op::from_name`, `Request::parse`. Checked:
//! * nothing panics;
//! * `Envelope::parse` fails only with `bad_json` (not a JSON object) or `bad_request`
//!   (no string `type`), agreeing with serde_json on which, and keeps `type`, a valid
//!   `seq` (only an integer in 0..2^64-1) and the other fields as they were sent;
//! * `check_seq` fails exactly when a `seq` was sent and is not such an integer;
//! * `Request::parse` for every operation (not only the one named) either gives a
//!   request of that operation that encodes and parses back to itself, or fails with
//!   `bad_request` naming a field;
//! * every `Fields` accessor (`opt_str`, `str_chars`, `str_bytes`, `opt_id`, `id`,
//!   `limit`, `bool_or`, `has`) on the operations' field names, the frame's own keys and
//!   odd names and bounds keeps its promise (bounds, defaults, `null` as absent) and
//!   names the field in its `bad_request`;
//! * every response built from the outcome (`not_a_request_frame`, `error_frame`,
//!   `ok_frame`, `frame_error_frame` with the frame as the message) is one JSON object
//!   that a client reads back (`Incoming::parse`) as a response with the `type` echo cut
//!   to `MAX_TYPE_ECHO` characters, the valid `seq`, `ok` and the same error; and those
//!   the server can send fit the smallest `max_frame` (32 KiB).
//!
//! Responses are built and checked in [`respond_error`], [`respond_ok`] and
//! [`respond_frame_error`] only, so an API change there touches those three.

#![allow(dead_code)]

use std::collections::HashSet;

use proto::answer::{
    error_frame, frame_error_frame, not_a_request_frame, ok_frame, type_echo, MAX_TYPE_ECHO,
};
use proto::{Answer, ChatError, Envelope, ErrorCode, Fields, Incoming, Op, Request};
use serde_json::{Map, Value};

/// The smallest `max_frame` the server accepts (its `config::MIN_FRAME`): every response
/// it can send must fit.
pub const MIN_FRAME: usize = 32 * 1024;

/// `(field, min, max)` as the operations ask for them (proto/src/request.rs), plus edges.
const STRINGS: &[(&str, usize, usize)] = &[
    ("username", 3, 32),
    ("username", 1, 64),
    ("password", 8, 128),
    ("password", 1, 1024),
    ("nickname", 0, 64),
    ("email", 0, 254),
    ("avatar", 0, 256),
    ("message", 0, 256),
    ("query", 1, 32),
    ("text", 1, 4096),
    ("client_msg_id", 1, 64),
    ("token", 1, 128),
    ("type", 0, 0),
    ("seq", 1, usize::MAX),
    ("", 5, 1),
    ("text", usize::MAX, usize::MAX),
];

/// `(field, default, max)` for `limit`.
const LIMITS: &[(&str, usize, usize)] = &[
    ("limit", 50, 100),
    ("limit", 200, 500),
    ("limit", 0, 0),
    ("limit", 7, usize::MAX),
];

/// Integer and boolean fields the operations read.
const IDS: &[&str] = &[
    "to",
    "peer",
    "up_to",
    "before",
    "after",
    "user_id",
    "request_id",
    "limit",
    "push",
    "seq",
    "type",
];

/// Runs every check on one frame body.
pub fn check(frame: &[u8]) {
    let json: Option<Value> = serde_json::from_slice(frame).ok();
    match Envelope::parse(frame) {
        Err(bad) => {
            match &json {
                Some(Value::Object(o)) => {
                    assert_eq!(bad.error.code, ErrorCode::BadRequest, "{}", bad.error);
                    assert!(!matches!(o.get("type"), Some(Value::String(_))));
                    assert_eq!(bad.seq, o.get("seq").and_then(Value::as_u64));
                    assert!(bad.error.message.contains("`type`"), "{}", bad.error);
                }
                _ => {
                    assert_eq!(bad.error.code, ErrorCode::BadJson, "{}", bad.error);
                    assert!(bad.seq.is_none());
                }
            }
            assert_eq!(bad.error.retry_after_ms, None);
            let r = not_a_request_frame(bad.seq, &bad.error);
            check_response(&r, "error", bad.seq, Some(&bad.error), true);
        }
        Ok(env) => {
            let Some(Value::Object(o)) = &json else {
                panic!("an envelope from what serde_json does not read as an object");
            };
            check_envelope(&env, o);
        }
    }
    let text = String::from_utf8_lossy(frame);
    respond_frame_error(ErrorCode::ALL[frame.len() % ErrorCode::ALL.len()], &text);
}

/// An envelope, and the error messages whose responses were checked already.
struct Checked<'a> {
    env: &'a Envelope,
    responded: HashSet<String>,
}

fn check_envelope(env: &Envelope, frame: &Map<String, Value>) {
    assert_eq!(frame.get("type"), Some(&Value::String(env.op.clone())));
    assert_eq!(env.seq, frame.get("seq").and_then(Value::as_u64));
    let mut rest = frame.clone();
    rest.remove("type");
    rest.remove("seq");
    assert_eq!(
        env.fields,
        Fields::from(rest),
        "fields other than type and seq"
    );

    let c = &mut Checked {
        env,
        responded: HashSet::new(),
    };
    let raw_seq = frame.get("seq");
    match env.check_seq() {
        Ok(()) => assert!(raw_seq.is_none_or(Value::is_u64)),
        Err(e) => {
            assert!(raw_seq.is_some_and(|s| !s.is_u64()));
            field_error(c, "seq", &e);
        }
    }
    respond_ok(env);

    let named = Op::from_name(&env.op);
    match named {
        Some(op) => assert_eq!(op.name(), env.op),
        None => {
            // What the server answers (server/src/handler.rs `unknown_type`).
            let shown = type_echo(&env.op);
            let cut = if shown.len() < env.op.len() {
                "…"
            } else {
                ""
            };
            let e = ChatError::new(
                ErrorCode::UnknownType,
                format!("unknown type `{shown}{cut}`"),
            );
            respond_error(&env.op, env.seq, &e, true);
        }
    }
    for op in Op::ALL {
        check_request(c, op, named == Some(op));
    }

    let keys: Vec<&str> = frame.keys().map(String::as_str).collect();
    let names = STRINGS
        .iter()
        .map(|s| s.0)
        .chain(IDS.iter().copied())
        .chain(keys.iter().copied())
        .chain(["missing", "\u{0}", "ümlaut"]);
    for name in names {
        check_field(c, name, frame.get(name));
    }
    for &(name, min, max) in STRINGS {
        check_strings(c, name, min, max);
    }
    for &(name, default, max) in LIMITS {
        check_limit(c, name, default, max);
    }
    for &name in &keys {
        check_strings(c, name, 1, 8);
        check_limit(c, name, 1, 8);
    }
}

/// `Request::parse(op, fields)`: a request of `op` that round-trips, or a field's error.
fn check_request(c: &mut Checked, op: Op, named: bool) {
    let env = c.env;
    match Request::parse(op, &env.fields) {
        Ok(req) => {
            assert_eq!(req.op(), op);
            let body = req.encode(env.seq);
            let again = Envelope::parse(&body).expect("an encoded request is an envelope");
            assert_eq!(again.op, op.name());
            assert_eq!(again.seq, env.seq);
            assert!(again.check_seq().is_ok());
            assert_eq!(Request::parse(op, &again.fields).as_ref(), Ok(&req));
            if named {
                respond_ok(env);
            }
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::BadRequest, "{op:?}: {e}");
            let name = e
                .message
                .strip_prefix("field `")
                .and_then(|m| m.split_once('`'))
                .map(|(name, _)| name.to_owned())
                .unwrap_or_else(|| panic!("{op:?}: {e} names no field"));
            field_error(c, &name, &e);
        }
    }
}

/// The accessors that take only a name (and `opt_str` with a few bounds).
fn check_field(c: &mut Checked, name: &str, raw: Option<&Value>) {
    let f = &c.env.fields;
    // `type` and `seq` are taken out of the fields; null counts as absent.
    let present = !matches!(name, "type" | "seq") && raw.is_some_and(|v| !v.is_null());
    assert_eq!(f.has(name), present, "has({name:?})");

    match f.opt_id(name) {
        Ok(None) => assert!(!present),
        Ok(Some(n)) => {
            assert!(n >= 0);
            assert_eq!(raw.and_then(Value::as_u64), Some(n as u64));
        }
        Err(e) => field_error(c, name, &e),
    }
    match f.id(name) {
        Ok(n) => assert_eq!(f.opt_id(name), Ok(Some(n))),
        Err(e) => field_error(c, name, &e),
    }
    for default in [false, true] {
        match f.bool_or(name, default) {
            Ok(b) if !present => assert_eq!(b, default),
            Ok(b) => assert_eq!(raw, Some(&Value::Bool(b))),
            Err(e) => field_error(c, name, &e),
        }
    }
    for max in [0, 1, 64, usize::MAX] {
        match f.opt_str(name, max) {
            Ok(None) => assert!(!present),
            Ok(Some(s)) => {
                assert!(s.chars().count() <= max);
                assert_eq!(raw.and_then(Value::as_str), Some(&*s));
            }
            Err(e) => field_error(c, name, &e),
        }
    }
}

fn check_strings(c: &mut Checked, name: &str, min: usize, max: usize) {
    let f = &c.env.fields;
    match f.str_chars(name, min, max) {
        Ok(s) => assert!(
            (min..=max).contains(&s.chars().count()),
            "{name} {min} {max}"
        ),
        Err(e) => field_error(c, name, &e),
    }
    let f = &c.env.fields;
    match f.str_bytes(name, min, max) {
        Ok(s) => assert!((min..=max).contains(&s.len()), "{name} {min} {max}"),
        Err(e) => field_error(c, name, &e),
    }
}

fn check_limit(c: &mut Checked, name: &str, default: usize, max: usize) {
    let f = &c.env.fields;
    match f.limit(name, default, max) {
        Ok(n) if !f.has(name) => assert_eq!(n, default),
        Ok(n) => assert!((1..=max).contains(&n), "{name} {default} {max}: {n}"),
        Err(e) => field_error(c, name, &e),
    }
}

/// An accessor's error: `bad_request` naming the field, and a valid response.
fn field_error(c: &mut Checked, name: &str, e: &ChatError) {
    assert_eq!(e.code, ErrorCode::BadRequest, "{e}");
    assert!(
        e.message.starts_with(&format!("field `{name}` ")),
        "{e} does not name {name:?}"
    );
    assert_eq!(e.retry_after_ms, None);
    if c.responded.insert(e.message.clone()) {
        respond_error(&c.env.op, c.env.seq, e, is_request_field(name));
    }
}

/// Whether an operation reads the field (its name is short, so are errors naming it).
fn is_request_field(name: &str) -> bool {
    STRINGS.iter().any(|s| s.0 == name) || LIMITS.iter().any(|l| l.0 == name) || IDS.contains(&name)
}

/// `error_frame`, checked. `bounded`: the error is one the server can send (not about a
/// field name taken from the frame), so the response must fit the smallest `max_frame`.
pub fn respond_error(op: &str, seq: Option<u64>, e: &ChatError, bounded: bool) -> Value {
    check_response(&error_frame(op, seq, e), op, seq, Some(e), bounded)
}

/// `ok_frame` with an empty answer, checked: it fits the smallest `max_frame`.
pub fn respond_ok(env: &Envelope) -> Value {
    check_response(
        &ok_frame(&env.op, env.seq, &Answer::Done),
        &env.op,
        env.seq,
        None,
        true,
    )
}

/// `frame_error_frame`, checked.
pub fn respond_frame_error(code: ErrorCode, message: &str) -> Value {
    let e = ChatError::new(code, message);
    check_response(
        &frame_error_frame(code, message),
        "error",
        None,
        Some(&e),
        false,
    )
}

/// One response frame: a JSON object a client reads back as a response to `op` with
/// `seq`, `ok` when there is no `error`, else that error.
pub fn check_response(
    frame: &[u8],
    op: &str,
    seq: Option<u64>,
    error: Option<&ChatError>,
    bounded: bool,
) -> Value {
    if bounded {
        assert!(
            frame.len() <= MIN_FRAME,
            "a response of {} bytes",
            frame.len()
        );
    }
    let value: Value = match serde_json::from_slice(frame) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => panic!("response is not an object: {other}"),
        Err(e) => panic!(
            "response is not JSON ({e}): {}",
            String::from_utf8_lossy(frame)
        ),
    };
    let r = match Incoming::parse(frame) {
        Ok(Incoming::Response(r)) => r,
        other => panic!("a client does not read a response: {other:?}"),
    };
    assert_eq!(r.op, type_echo(op));
    assert!(op.starts_with(&*r.op));
    assert_eq!(r.op.chars().count(), op.chars().count().min(MAX_TYPE_ECHO));
    assert_eq!(r.seq, seq);
    assert_eq!(value.get("seq").and_then(Value::as_u64), seq);
    assert_eq!(r.ok, error.is_none());
    assert_eq!(r.error.as_ref(), error);
    value
}
