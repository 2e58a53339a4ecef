//! Fuzzes the request parser: the `proto` crate's `Envelope`, `Fields` and `Request`,
//! taken the way `startserv`'s handler takes a frame.
//!
//! The input is one frame body. Checks that nothing panics; that `Envelope::parse` errs
//! (`bad_json` / `bad_request`) exactly when serde_json finds no object with a string
//! `type`, and that `check_seq` refuses exactly the `seq`s outside 0..2^64-1; that
//! `Request::parse` for every operation gives a request that encodes and parses back to
//! itself, or a `bad_request` naming a field; that every `Fields` accessor (`opt_str`,
//! `str_chars`, `str_bytes`, `opt_id`, `id`, `limit`, `bool_or`, `has`) honours its bounds
//! and defaults; and that the responses built from the outcome (`not_a_request_frame`,
//! `error_frame`, `ok_frame`, `frame_error_frame`) are JSON objects a client reads back
//! with the cut `type` echo, the valid `seq` and the same error, within 32 KiB when the
//! server can send them. The checks live in `fuzz/props/request_parser.rs`, shared with
//! `proto/tests/fuzz_regressions.rs`.

#![no_main]

#[path = "../props/request_parser.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
