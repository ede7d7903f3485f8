//! Socket set-up shared by the services: UDP sockets with the options the
//! protocols need, and "which of my addresses does that host reach?".

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Options for [`bind_udp`].
#[derive(Clone, Debug, Default)]
pub struct UdpOptions<'a> {
    /// Allow sending to broadcast addresses (`SO_BROADCAST`).
    pub broadcast: bool,
    /// Allow several sockets on the same address (`SO_REUSEADDR`).
    pub reuse_address: bool,
    /// Bind to this network interface by name (`SO_BINDTODEVICE`, Linux;
    /// needs `CAP_NET_RAW`).
    pub interface: Option<&'a str>,
    /// Requested kernel receive buffer, in bytes.
    pub recv_buffer: Option<usize>,
    /// Requested kernel send buffer, in bytes.
    pub send_buffer: Option<usize>,
}

/// Binds a non-blocking UDP socket with `options`.
///
/// An IPv6 wildcard address also accepts IPv4 (dual stack), the way
/// `[::]:69` is usually meant.
///
/// ```
/// use netboot_std::net::{bind_udp, UdpOptions};
///
/// let sock = bind_udp("127.0.0.1:0".parse().unwrap(), &UdpOptions::default()).unwrap();
/// assert_ne!(sock.local_addr().unwrap().port(), 0);
/// ```
pub fn bind_udp(addr: SocketAddr, options: &UdpOptions<'_>) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    if options.broadcast {
        socket.set_broadcast(true)?;
    }
    if options.reuse_address {
        socket.set_reuse_address(true)?;
    }
    if let Some(size) = options.recv_buffer {
        // The kernel clamps to its limits; a smaller buffer is not an error.
        let _ = socket.set_recv_buffer_size(size);
    }
    if let Some(size) = options.send_buffer {
        let _ = socket.set_send_buffer_size(size);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(interface) = options.interface {
        socket.bind_device(Some(interface.as_bytes()))?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    if options.interface.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "binding to an interface needs Linux",
        ));
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The local address this host would use to reach `host` (no packet is
/// sent: this asks the routing table by connecting a UDP socket).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// let ip = netboot_std::net::address_for(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
/// assert_eq!(ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
/// ```
pub fn address_for(host: IpAddr) -> io::Result<IpAddr> {
    let unspecified: IpAddr = match host {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let probe = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
    // The port is irrelevant; connect() on UDP only consults the routes.
    probe.connect(SocketAddr::new(host, 9))?;
    Ok(probe.local_addr()?.ip())
}

/// `addr` with a wildcard IP replaced by loopback: where a client on this
/// host reaches a server listening on `addr`.
///
/// ```
/// let any = "0.0.0.0:69".parse().unwrap();
/// assert_eq!(netboot_std::net::reachable(any).to_string(), "127.0.0.1:69");
/// ```
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// The server's address as seen from `host`, for a server listening on
/// `addrs`: the local address that routes to `host`, with the server's port;
/// a server bound to a specific address returns that address as it is.
///
/// ```
/// let addrs = ["0.0.0.0:1069".parse().unwrap()];
/// let seen = netboot_std::net::address_for_listener(&addrs, "127.0.0.1".parse().unwrap()).unwrap();
/// assert_eq!(seen.to_string(), "127.0.0.1:1069");
/// ```
pub fn address_for_listener(addrs: &[SocketAddr], host: IpAddr) -> io::Result<SocketAddr> {
    let listen = addrs
        .iter()
        .find(|a| a.is_ipv4() == host.is_ipv4() || a.ip().is_unspecified())
        .or(addrs.first())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no listening address"))?;
    if !listen.ip().is_unspecified() {
        return Ok(*listen);
    }
    Ok(SocketAddr::new(address_for(host)?, listen.port()))
}

/// Human explanation for a bind error, naming the likely cause and the fix.
pub fn explain_bind_error(addr: SocketAddr, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
            "cannot bind {addr}: port {} is privileged; run as root (or grant CAP_NET_BIND_SERVICE) or choose a port of 1024 or above",
            addr.port()
        ),
        io::ErrorKind::PermissionDenied => format!("cannot bind {addr}: permission denied ({e})"),
        io::ErrorKind::AddrInUse => {
            format!(
                "cannot bind {addr}: address already in use; stop the other server or choose another port"
            )
        }
        io::ErrorKind::AddrNotAvailable => {
            format!("cannot bind {addr}: that address is not configured on this host")
        }
        _ => format!("cannot bind {addr}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dual_stack_wildcard_accepts_ipv4() {
        let Ok(server) = bind_udp("[::]:0".parse().unwrap(), &UdpOptions::default()) else {
            eprintln!("skipping: no IPv6 on this host");
            return;
        };
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"x", ("127.0.0.1", port)).unwrap();
        server.set_nonblocking(false).unwrap();
        let mut buf = [0; 4];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!(n, 1);
        assert_eq!(from.port(), client.local_addr().unwrap().port());
    }

    #[test]
    fn explains_privileged_ports() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        let msg = explain_bind_error("0.0.0.0:69".parse().unwrap(), &e);
        assert!(msg.contains("privileged"), "{msg}");
    }
}
