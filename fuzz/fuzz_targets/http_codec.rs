//! Fuzzes HTTP request framing and parsing: `reactor_http::HttpCodec`, `Request::parse`
//! and the response writer.
//!
//! Byte 0 chooses the head limit (high bit: the defaults), byte 1 the body limit, byte 2
//! seeds the chunking, the rest is a client's byte stream. Checks that `decode` never
//! panics, cuts whole requests decided by their own bytes within the limits, and gives
//! the same frames, error and left-over however the stream is cut into reads; that every
//! frame parses into a request within the limits or a framing refusal (400/411/501) whose
//! answer is the contract's closing JSON error; that the parser and the codec agree on a
//! stream that is exactly one request; and that a response carrying the stream is written
//! without a line break inside its head. The checks live in `fuzz/props/http_codec.rs`,
//! shared with `reactor-http/tests/fuzz_regressions.rs`.

#![no_main]

#[path = "../props/http_codec.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
