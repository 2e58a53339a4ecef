//! The WebSocket endpoint with a real engine and a real socket: how an upgraded
//! connection ends when the application closes it through its handle, when the client
//! closes it, and that nothing follows a close frame.
//!
//! The application here answers `bye` with `leaving` and closes the connection (as the
//! chat closes a revoked session after its `logged_out` push); any other text is
//! echoed back.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use reactor::{ConnHandle, Handler, Server};
use reactor_http::websocket::{serve, Origins, WsConfig};
use reactor_http::Limits;

/// Echoes, except `bye`: answers `leaving`, then closes.
struct Farewells;

impl Handler for Farewells {
    type Session = ();

    fn on_connect(&self, _conn: &ConnHandle) {}

    fn on_frame(&self, conn: &ConnHandle, _session: &mut (), frame: Vec<u8>) {
        if frame == b"bye" {
            assert!(
                conn.send(b"leaving"),
                "the answer before the close is queued"
            );
            conn.close();
        } else {
            conn.send(&frame);
        }
    }
}

struct WsServer {
    server: Option<Server>,
    addr: SocketAddr,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

fn start() -> WsServer {
    let ws = WsConfig {
        path: "/ws".to_string(),
        max_message: 1024,
        origins: Origins::SameHost,
    };
    let server = serve(
        support::builder("ws-test"),
        Limits::default(),
        support::service,
        ws,
        Farewells,
    )
    .expect("start the server");
    let addr = server.local_addr().expect("bound");
    WsServer {
        server: Some(server),
        addr,
    }
}

/// A frame as the server sent it.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    opcode: u8,
    payload: Vec<u8>,
}

/// A client on an upgraded connection.
struct WsClient {
    stream: TcpStream,
}

impl WsClient {
    fn open(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .expect("handshake");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("the 101's head");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        Self { stream }
    }

    /// Sends one masked frame (fin set).
    fn send(&mut self, opcode: u8, payload: &[u8]) {
        assert!(payload.len() < 126);
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&out).expect("send a frame");
    }

    /// The next frame, or `None` at the end of the stream.
    fn next(&mut self) -> Option<Frame> {
        let mut head = [0u8; 2];
        match self.stream.read(&mut head[..1]) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => panic!("reading a frame: {e}"),
        }
        self.stream.read_exact(&mut head[1..]).expect("frame head");
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                self.stream.read_exact(&mut n).expect("length");
                usize::from(u16::from_be_bytes(n))
            }
            127 => panic!("no test frame is that long"),
            n => usize::from(n),
        };
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).expect("payload");
        Some(Frame {
            opcode: head[0] & 0x0f,
            payload,
        })
    }

    /// Every frame up to the end of the stream.
    fn rest(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

fn text(s: &str) -> Frame {
    Frame {
        opcode: 0x1,
        payload: s.as_bytes().to_vec(),
    }
}

fn close(code: u16) -> Frame {
    Frame {
        opcode: 0x8,
        payload: code.to_be_bytes().to_vec(),
    }
}

#[test]
fn a_close_by_the_application_ends_with_a_close_frame() {
    let server = start();
    let mut c = WsClient::open(server.addr);
    c.send(0x1, b"hello");
    assert_eq!(c.next(), Some(text("hello")));
    c.send(0x1, b"bye");
    // The application's last message, then status 1000, then the end: not a bare end
    // of stream (which a browser reports as 1006, an abnormal closure).
    assert_eq!(c.rest(), vec![text("leaving"), close(1000)]);
}

#[test]
fn a_close_by_the_client_is_answered_once() {
    let server = start();
    let mut c = WsClient::open(server.addr);
    c.send(0x1, b"hello");
    assert_eq!(c.next(), Some(text("hello")));
    c.send(0x8, &4001u16.to_be_bytes());
    // The handler's own close frame, echoing the status: no second one from the
    // engine's farewell, and nothing after it.
    assert_eq!(c.rest(), vec![close(4001)]);
}

#[test]
fn many_connections_closed_by_the_application_all_get_their_close_frame() {
    // The close frame is queued by the close itself, not raced against the reactor's
    // flush: every connection gets it, however the threads interleave.
    let server = start();
    let mut clients: Vec<WsClient> = (0..50).map(|_| WsClient::open(server.addr)).collect();
    for c in &mut clients {
        c.send(0x1, b"bye");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(
            c.rest(),
            vec![text("leaving"), close(1000)],
            "connection {i}"
        );
    }
}
