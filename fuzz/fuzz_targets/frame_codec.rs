//! Fuzzes the wire framing, `reactor::LengthPrefixed`.
//!
//! Bytes 0..2 choose `max_frame` (1..=4096, or the default 65,536), byte 2 seeds the
//! chunking, the rest is a peer's byte stream. Checks that `decode` never panics and
//! returns frames within the buffer (`1 <= consumed <= len`, body of 1..=max_frame
//! bytes), that decoding a stream to its end terminates, that `encode` then `decode`
//! gives the body back (and that `encode` refuses, leaving `out` unchanged, outside
//! 1..=max_frame), and that feeding the stream in pieces through the sub-reactor's
//! carry-buffer loop gives the same frames, error and left-over as decoding it whole.
//! The checks live in `fuzz/props/frame_codec.rs`, shared with
//! `reactor/tests/fuzz_regressions.rs`.

#![no_main]

#[path = "../props/frame_codec.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
