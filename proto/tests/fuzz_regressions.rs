//! Replays the `request_parser` fuzz target's inputs through its property checks
//! (`fuzz/props/request_parser.rs`, on the `proto` crate's parser): every seed in
//! `fuzz/seeds/request_parser/`, every crash kept in `fuzz/regressions/request_parser/`,
//! and hand-written nasty frames. Runs on stable with plain `cargo test`; see
//! fuzz/README.md.

#[path = "../../fuzz/props/request_parser.rs"]
mod props;
#[path = "../../fuzz/props/replay.rs"]
mod replay;

use props::check;
use proto::answer::MAX_TYPE_ECHO;
use proto::{Envelope, ErrorCode, Op, Request};
use replay::replay;

#[test]
fn seeds() {
    assert!(
        replay("seeds/request_parser", check) >= 5,
        "the seed corpus went missing"
    );
}

#[test]
fn regressions() {
    replay("regressions/request_parser", check);
}

#[test]
fn type_of_40000_characters() {
    let op = "é".repeat(40_000);
    let frame = format!(r#"{{"type":"{op}","seq":1,"text":"{op}"}}"#);
    check(frame.as_bytes());
    let env = Envelope::parse(frame.as_bytes()).unwrap();
    assert_eq!(env.op.chars().count(), 40_000);
    assert_eq!(Op::from_name(&env.op), None);
    let e = env.fields.str_chars("text", 1, 4096).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    // The response echoes the type cut short, and fits the smallest frame.
    let r = props::respond_error(&env.op, env.seq, &e, true);
    assert_eq!(r["type"].as_str().unwrap().chars().count(), MAX_TYPE_ECHO);
    // Characters that escape to six bytes each.
    let frame = format!(r#"{{"type":"{}","seq":1}}"#, "\\u0001".repeat(40_000));
    check(frame.as_bytes());
    let env = Envelope::parse(frame.as_bytes()).unwrap();
    let r = props::respond_error(&env.op, env.seq, &e, true);
    assert_eq!(r["type"].as_str().unwrap(), "\u{1}".repeat(MAX_TYPE_ECHO));
    // A known operation with 40,000-character fields: refused, naming the first.
    let text = "x".repeat(40_000);
    let frame =
        format!(r#"{{"type":"send_message","to":1,"text":"{text}","client_msg_id":"{text}"}}"#);
    check(frame.as_bytes());
    let env = Envelope::parse(frame.as_bytes()).unwrap();
    let e = Request::parse(Op::SendMessage, &env.fields).unwrap_err();
    assert!(e.message.starts_with("field `text`"), "{e}");
}

#[test]
fn seq_above_u64_max() {
    let frame = br#"{"type":"ping","seq":18446744073709551616}"#;
    check(frame);
    let env = Envelope::parse(frame).unwrap();
    // One above the largest valid seq: not echoed, and check_seq refuses it.
    assert_eq!(env.seq, None);
    assert!(env.check_seq().is_err());
    let env = Envelope::parse(br#"{"type":"ping","seq":18446744073709551615}"#).unwrap();
    assert_eq!(env.seq, Some(u64::MAX));
    assert!(env.check_seq().is_ok());
    // A bad `type` still echoes a valid seq, never an invalid one.
    let bad = Envelope::parse(br#"{"type":1,"seq":18446744073709551616}"#).unwrap_err();
    assert_eq!(bad.seq, None);
    let bad = Envelope::parse(br#"{"type":1,"seq":7}"#).unwrap_err();
    assert_eq!(bad.seq, Some(7));
    for seq in [
        "18446744073709551615",
        "-1",
        "1.5",
        "\"1\"",
        "null",
        "1e400",
        "[1]",
    ] {
        check(format!(r#"{{"type":"ping","seq":{seq}}}"#).as_bytes());
    }
}

#[test]
fn arrays_nested_10000_deep_hit_serde_jsons_recursion_limit() {
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let deep = format!("{}1{}", open.repeat(10_000), close.repeat(10_000));
        let frame = format!(r#"{{"type":"ping","seq":{deep}}}"#);
        check(frame.as_bytes());
        let bad = Envelope::parse(frame.as_bytes()).unwrap_err();
        assert_eq!(bad.error.code, ErrorCode::BadJson);
        assert!(
            bad.error.message.contains("recursion limit exceeded"),
            "{}",
            bad.error
        );
        check(deep.as_bytes());
    }
    // Just under the limit (128 levels, the object itself being one) still parses.
    let ok = format!(
        r#"{{"type":"ping","seq":{}1{}}}"#,
        "[".repeat(126),
        "]".repeat(126)
    );
    check(ok.as_bytes());
    assert!(Envelope::parse(ok.as_bytes()).is_ok());
}

#[test]
fn invalid_utf8() {
    for frame in [
        &b"\xff"[..],
        b"{\"type\":\"ping\xff\",\"seq\":1}",
        b"{\"type\":\"\xed\xa0\x80\"}", // a UTF-16 surrogate, encoded
        b"{\"type\":\"ping\",\"text\":\"\xc3\"}",
        b"{\"type\":\"\\ud800\"}",          // a lone surrogate escape
        b"\xef\xbb\xbf{\"type\":\"ping\"}", // a byte-order mark
    ] {
        check(frame);
        let bad = Envelope::parse(frame).unwrap_err();
        assert_eq!(bad.error.code, ErrorCode::BadJson, "{:?}", frame);
    }
}

#[test]
fn odd_but_valid_requests() {
    for frame in [
        r#"{"type":"","seq":0}"#,
        r#"{"type":"ping","type":"login"}"#,
        r#"{"type":"x","to":9223372036854775807,"peer":9223372036854775808,"limit":0}"#,
        r#"{"type":"x","push":"true","text":"","username":"\u0000\u0000\u0000"}"#,
        r#"{"type":"x","seq":{"nested":[1,{"a":null}]},"password":"😀😀"}"#,
        r#"{"type":"\"}\\","":1,"seq":null}"#,
        r#"{"type":"login","token":"t","username":null,"push":false}"#,
        r#"{"type":"register","username":"abc","password":"12345678","email":"a @b"}"#,
        r#"{"type":"history","peer":1,"before":null,"limit":100}"#,
    ] {
        check(frame.as_bytes());
        assert!(Envelope::parse(frame.as_bytes()).is_ok(), "{frame}");
    }
}
