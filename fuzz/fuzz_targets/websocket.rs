//! Fuzzes the WebSocket side of the HTTP port: `HttpWsCodec` after an upgrade, client
//! frame parsing and unmasking, message reassembly and the server's frame writers.
//!
//! Byte 0 chooses the message limit, byte 1 seeds the chunking, the rest is a client's
//! byte stream after its handshake. The checks live in `fuzz/props/websocket.rs`, shared
//! with `reactor-http/tests/websocket_fuzz.rs`.

#![no_main]

#[path = "../props/websocket.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check(data));
