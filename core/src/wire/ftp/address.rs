//! Data-connection addresses on the control channel.
//!
//! * RFC 959 §4.1.2 host-port: `h1,h2,h3,h4,p1,p2`, used by `PORT` and the
//!   `227` reply to `PASV`. [`parse_pasv_reply`] scans a `227` text for the
//!   first six comma-separated numbers, as RFC 1123 §4.1.2.6 asks clients to
//!   do, since servers disagree on the parentheses.
//! * RFC 2428 §2 and §3 extended forms: `EPRT |1|132.235.1.2|6275|` (any
//!   printable delimiter) and the `229 ... (|||6446|)` reply to `EPSV`.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// Parses `h1,h2,h3,h4,p1,p2` (spaces around the numbers are tolerated).
///
/// ```
/// use netboot_core::wire::ftp::parse_host_port;
/// let a = parse_host_port("127,0,0,1,4,1").unwrap();
/// assert_eq!(a.to_string(), "127.0.0.1:1025");
/// assert!(parse_host_port("127,0,0,1,256,1").is_none());
/// ```
pub fn parse_host_port(text: &str) -> Option<SocketAddrV4> {
    let mut n = [0u8; 6];
    let mut parts = text.split(',');
    for slot in &mut n {
        let part = parts.next()?.trim();
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(SocketAddrV4::new(
        Ipv4Addr::new(n[0], n[1], n[2], n[3]),
        u16::from_be_bytes([n[4], n[5]]),
    ))
}

/// Displays an IPv4 socket address as `h1,h2,h3,h4,p1,p2`.
///
/// ```
/// use netboot_core::wire::ftp::format_host_port;
/// let a = "10.0.0.2:1025".parse().unwrap();
/// assert_eq!(format_host_port(a).to_string(), "10,0,0,2,4,1");
/// ```
pub fn format_host_port(addr: SocketAddrV4) -> impl fmt::Display {
    struct HostPort(SocketAddrV4);
    impl fmt::Display for HostPort {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let [a, b, c, d] = self.0.ip().octets();
            let [p1, p2] = self.0.port().to_be_bytes();
            write!(f, "{a},{b},{c},{d},{p1},{p2}")
        }
    }
    HostPort(addr)
}

/// Finds the host-port in the text of a `227` reply.
///
/// ```
/// use netboot_core::wire::ftp::parse_pasv_reply;
/// let a = parse_pasv_reply("Entering Passive Mode (192,0,2,7,195,80).").unwrap();
/// assert_eq!(a.to_string(), "192.0.2.7:50000");
/// // Some servers leave out the parentheses.
/// assert!(parse_pasv_reply("Entering Passive Mode 192,0,2,7,195,80").is_some());
/// ```
pub fn parse_pasv_reply(text: &str) -> Option<SocketAddrV4> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if bytes[start].is_ascii_digit() {
            let end = bytes[start..]
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b',' || *b == b' '))
                .map_or(bytes.len(), |p| start + p);
            if let Some(a) = parse_host_port(text[start..end].trim_end_matches([',', ' '])) {
                return Some(a);
            }
            start = end;
        } else {
            start += 1;
        }
    }
    None
}

/// Parses the RFC 2428 form `<d><proto><d><addr><d><port><d>`.
///
/// Returns the protocol number (1 = IPv4, 2 = IPv6), the address (absent in
/// an `EPSV` reply) and the port. The address family must match the
/// protocol number.
///
/// ```
/// use netboot_core::wire::ftp::parse_extended;
/// let (proto, ip, port) = parse_extended("|2|::1|5282|").unwrap();
/// assert_eq!((proto, ip.unwrap().to_string(), port), (2, "::1".to_string(), 5282));
/// let (_, ip, port) = parse_extended("|||6446|").unwrap();
/// assert_eq!((ip, port), (None, 6446));
/// assert!(parse_extended("|1|::1|21|").is_none());
/// ```
pub fn parse_extended(text: &str) -> Option<(u8, Option<IpAddr>, u16)> {
    let delim = text.chars().next()?;
    if !(33..=126).contains(&(delim as u32)) || delim.is_ascii_digit() {
        return None;
    }
    let mut parts = text.split(delim);
    let (empty, proto, addr, port, end) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if !empty.is_empty() || !end.is_empty() || parts.next().is_some() {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    if addr.is_empty() {
        let proto = if proto.is_empty() {
            0
        } else {
            proto.parse().ok()?
        };
        return Some((proto, None, port));
    }
    let proto: u8 = proto.parse().ok()?;
    let ip: IpAddr = addr.parse().ok()?;
    match (proto, ip) {
        (1, IpAddr::V4(_)) | (2, IpAddr::V6(_)) => Some((proto, Some(ip), port)),
        _ => None,
    }
}

/// The RFC 2428 network protocol number of an address (1 or 2).
pub fn protocol_number(addr: &SocketAddr) -> u8 {
    if addr.is_ipv4() { 1 } else { 2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_rejects_junk() {
        for bad in [
            "",
            "1,2,3,4,5",
            "1,2,3,4,5,6,7",
            "a,2,3,4,5,6",
            "1,,3,4,5,6",
            "1,2,3,4,5,-6",
        ] {
            assert!(parse_host_port(bad).is_none(), "{bad}");
        }
        assert_eq!(
            parse_host_port(" 1, 2,3,4 ,0,21").unwrap(),
            SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 21)
        );
    }

    #[test]
    fn pasv_reply_scan_skips_other_numbers() {
        let a = parse_pasv_reply("=127,0,0,1,200,10").unwrap();
        assert_eq!(a.port(), 200 * 256 + 10);
        assert!(parse_pasv_reply("Entering Passive Mode").is_none());
        assert!(parse_pasv_reply("1 2 3").is_none());
    }

    #[test]
    fn extended_forms() {
        let (p, ip, port) = parse_extended("!1!10.0.0.1!1025!").unwrap();
        assert_eq!((p, ip, port), (1, Some("10.0.0.1".parse().unwrap()), 1025));
        assert!(parse_extended("|1|10.0.0.1|70000|").is_none());
        assert!(parse_extended("|1|10.0.0.1|21").is_none());
        assert!(parse_extended("1|10.0.0.1|21|").is_none());
        assert!(parse_extended("").is_none());
    }
}
