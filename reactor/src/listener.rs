//! The listening socket, made with socket2 so the backlog and options are ours to set
//! (mio's own `bind` uses a backlog of 128, which overflows under connection storms).

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Opens a non-blocking listener with `SO_REUSEADDR` and the given backlog.
pub(crate) fn listen(addr: SocketAddr, backlog: i32) -> std::io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Listen on v4 too when bound to [::], as most servers do.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Starts a non-blocking outgoing connection, optionally from a chosen local address.
pub(crate) fn connect(
    local: Option<SocketAddr>,
    remote: SocketAddr,
) -> std::io::Result<mio::net::TcpStream> {
    let Some(local) = local else {
        return mio::net::TcpStream::connect(remote);
    };
    let socket = Socket::new(
        Domain::for_address(remote),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    match socket.connect(&remote.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}
