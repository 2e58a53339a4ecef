//! Plain non-blocking TCP sockets for clients that must misbehave on purpose (the
//! attackers of `chatload abuse`), which the reactor engine would not let them do:
//! never read, write without limit, stop in the middle of a frame.
//!
//! * [`connect_from`]: a connection from a chosen IPv4 source address (bind before
//!   connect, so each attacker has a source IP of its own), with a connect time limit.
//! * [`poll`]: waits until some of a few sockets can be read or written, or a timeout.
//!
//! std has neither bind-before-connect nor `poll`, so these call libc directly; each
//! unsafe block says why it is sound.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Opens a TCP connection from `local` (any port) to `server`, waiting at most
/// `timeout` for it to complete. The stream is non-blocking.
pub fn connect_from(
    local: Ipv4Addr,
    server: SocketAddrV4,
    timeout: Duration,
) -> io::Result<TcpStream> {
    // SAFETY: socket() takes plain integers and returns a new descriptor or -1.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    check(fd)?;
    // SAFETY: `fd` is a socket descriptor we just created and own nobody else holds;
    // the TcpStream takes it over and closes it on every path from here on.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // Let connect() pick the port per destination, so that many reconnects from one
    // source address do not exhaust its ports on bind. Best effort: an error is ignored.
    // SAFETY: the option value points to a live c_int of the size passed.
    let _ = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let from = sockaddr(SocketAddrV4::new(local, 0));
    // SAFETY: `from` is a valid sockaddr_in that lives across the call; its size is passed.
    check(unsafe {
        libc::bind(
            fd,
            (&from as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    let to = sockaddr(server);
    // SAFETY: as for bind.
    let rc = unsafe {
        libc::connect(
            fd,
            (&to as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
            }
            if poll(&[(&stream, false, true)], left)?[0].writable {
                break;
            }
        }
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
    }
    Ok(stream)
}

/// What [`poll`] found a socket ready for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// A read will not block (data, end of stream or an error to collect).
    pub readable: bool,
    /// A write will not block (or will report an error).
    pub writable: bool,
}

/// Waits at most `timeout` until one of `socks` (stream, want read, want write) is
/// ready; returns each one's readiness (all false on a timeout). Interrupted waits
/// count as timeouts.
pub fn poll(socks: &[(&TcpStream, bool, bool)], timeout: Duration) -> io::Result<Vec<Ready>> {
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|(s, read, write)| libc::pollfd {
            fd: s.as_raw_fd(),
            events: (if *read { libc::POLLIN } else { 0 })
                | (if *write { libc::POLLOUT } else { 0 }),
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a live array of `fds.len()` pollfd structs poll() may write into.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
        return Ok(vec![Ready::default(); socks.len()]);
    }
    let trouble = libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
    Ok(fds
        .iter()
        .map(|f| Ready {
            readable: f.revents & (libc::POLLIN | trouble) != 0,
            writable: f.revents & (libc::POLLOUT | trouble) != 0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn connects_from_the_given_source_and_polls() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else {
            panic!("an IPv4 listener")
        };
        let src = Ipv4Addr::new(127, 0, 1, 77);
        let mut c = connect_from(src, addr, Duration::from_secs(5)).unwrap();
        let (mut s, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(src));
        // Nothing to read yet; writable at once.
        let r = poll(&[(&c, true, true)], Duration::from_millis(10)).unwrap();
        assert_eq!(
            r,
            vec![Ready {
                readable: false,
                writable: true
            }]
        );
        s.write_all(b"hi").unwrap();
        let r = poll(&[(&c, true, false)], Duration::from_secs(5)).unwrap();
        assert!(r[0].readable);
        let mut buf = [0u8; 8];
        assert_eq!(c.read(&mut buf).unwrap(), 2);
        drop(s);
        let r = poll(&[(&c, true, false)], Duration::from_secs(5)).unwrap();
        assert!(r[0].readable);
        assert_eq!(
            c.read(&mut buf).unwrap(),
            0,
            "end of stream after the peer closed"
        );
    }

    #[test]
    fn a_closed_port_is_refused() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let e = connect_from(Ipv4Addr::new(127, 0, 1, 78), to, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
