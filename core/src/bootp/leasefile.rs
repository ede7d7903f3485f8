//! The lease file: one lease per line, written by the adapters whenever the
//! server reports [`Event::LeasesChanged`](super::server::Event) and read
//! back at start so leases survive a restart.
//!
//! ```text
//! # netboot leases v1
//! 10.0.0.100 bound 1767225600 1-52:54:00:12:34:56 hw:01525400123456
//! 10.0.0.101 bound never 1-52:54:00:aa:bb:cc id:ff00112233
//! ```
//!
//! Fields: address, state (`bound`, `released`, `declined`), expiry in Unix
//! seconds (or `never`), `htype-hardware address`, and the client key (`hw:`
//! or `id:` followed by hex). The core has no wall clock, so the caller
//! converts: it passes the current [`Instant`] and the current Unix time,
//! and expiries are carried across as offsets from them. `#` starts a
//! comment; blank lines are ignored.

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};
use core::fmt;
use core::net::Ipv4Addr;

use super::leases::{Lease, LeaseState};
use super::{ClientKey, HwAddr, MAX_CLIENT_ID};
use crate::time::{Duration, Instant};

/// The first line of a lease file.
pub const HEADER: &str = "# netboot leases v1";

/// Writes one lease line (with its newline).
///
/// ```
/// use core::net::Ipv4Addr;
/// use netboot_core::bootp::{leasefile, leases::{Lease, LeaseState}, ClientKey, HwAddr};
/// use netboot_core::time::Instant;
///
/// let hw = HwAddr::ethernet([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
/// let lease = Lease { ip: Ipv4Addr::new(10, 0, 0, 100), hw, client: ClientKey::hw(&hw),
///                     state: LeaseState::Bound, expires: Instant::from_secs(3700) };
/// let mut line = String::new();
/// leasefile::write_lease(&mut line, &lease, Instant::from_secs(100), 1_000_000).unwrap();
/// assert_eq!(line, "10.0.0.100 bound 1003600 1-52:54:00:12:34:56 hw:01525400123456\n");
/// let back = leasefile::parse_lease(&line, Instant::from_secs(100), 1_000_000).unwrap().unwrap();
/// assert_eq!(back, lease);
/// ```
pub fn write_lease(
    out: &mut impl fmt::Write,
    lease: &Lease,
    now: Instant,
    unix_now: u64,
) -> fmt::Result {
    write!(out, "{} {} ", lease.ip, lease.state.name())?;
    if lease.expires == Instant::MAX {
        out.write_str("never")?;
    } else {
        let secs = if lease.expires >= now {
            unix_now.saturating_add((lease.expires - now).as_secs())
        } else {
            unix_now.saturating_sub((now - lease.expires).as_secs())
        };
        write!(out, "{secs}")?;
    }
    write!(out, " {}-{} ", lease.hw.htype, lease.hw)?;
    out.write_str(if lease.client.is_client_id() {
        "id:"
    } else {
        "hw:"
    })?;
    for b in lease.client.as_bytes() {
        write!(out, "{b:02x}")?;
    }
    out.write_str("\n")
}

/// What is wrong with a lease line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseLineError {
    /// Fewer or more than five fields.
    #[error("expected 5 fields: address state expiry htype-hwaddr key")]
    Fields,
    /// The address does not parse.
    #[error("bad address")]
    Address,
    /// Unknown state word.
    #[error("bad state (bound, released or declined)")]
    State,
    /// Expiry is neither a number nor `never`.
    #[error("bad expiry")]
    Expiry,
    /// The hardware address does not parse.
    #[error("bad hardware address")]
    HwAddr,
    /// The client key does not parse.
    #[error("bad client key")]
    Key,
}

fn hex(s: &str) -> Option<heapless::Vec<u8, MAX_CLIENT_ID>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let mut v = heapless::Vec::new();
    for i in (0..s.len()).step_by(2) {
        v.push(u8::from_str_radix(s.get(i..i + 2)?, 16).ok()?)
            .ok()?;
    }
    Some(v)
}

/// Parses one line; `Ok(None)` for blank lines and comments.
pub fn parse_lease(
    line: &str,
    now: Instant,
    unix_now: u64,
) -> Result<Option<Lease>, LeaseLineError> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut fields = line.split_ascii_whitespace();
    let mut next = || fields.next().ok_or(LeaseLineError::Fields);
    let ip: Ipv4Addr = next()?.parse().map_err(|_| LeaseLineError::Address)?;
    let state = match next()? {
        "bound" => LeaseState::Bound,
        "released" => LeaseState::Released,
        "declined" => LeaseState::Declined,
        _ => return Err(LeaseLineError::State),
    };
    let expires = match next()? {
        "never" => Instant::MAX,
        n => {
            let secs: u64 = n.parse().map_err(|_| LeaseLineError::Expiry)?;
            if secs >= unix_now {
                now + Duration::from_secs(secs - unix_now)
            } else {
                now - Duration::from_secs(unix_now - secs)
            }
        }
    };
    let (htype, addr) = next()?.split_once('-').ok_or(LeaseLineError::HwAddr)?;
    let htype: u8 = htype.parse().map_err(|_| LeaseLineError::HwAddr)?;
    let mut hw: HwAddr = addr.parse().map_err(|_| LeaseLineError::HwAddr)?;
    hw.htype = htype;
    let key = next()?;
    let (is_id, bytes) = if let Some(h) = key.strip_prefix("id:") {
        (true, h)
    } else if let Some(h) = key.strip_prefix("hw:") {
        (false, h)
    } else {
        return Err(LeaseLineError::Key);
    };
    let client = hex(bytes)
        .and_then(|b| ClientKey::from_parts(is_id, &b))
        .ok_or(LeaseLineError::Key)?;
    if fields.next().is_some() {
        return Err(LeaseLineError::Fields);
    }
    Ok(Some(Lease {
        ip,
        hw,
        client,
        state,
        expires,
    }))
}

/// Renders a whole lease file: the [`HEADER`] line, then one line per lease
/// (as [`write_lease`] writes it).
///
/// ```
/// use core::net::Ipv4Addr;
/// use netboot_core::bootp::{leasefile, leases::{Lease, LeaseState}, ClientKey, HwAddr};
/// use netboot_core::time::Instant;
///
/// let hw = HwAddr::ethernet([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
/// let lease = Lease { ip: Ipv4Addr::new(10, 0, 0, 100), hw, client: ClientKey::hw(&hw),
///                     state: LeaseState::Bound, expires: Instant::MAX };
/// let text = leasefile::render([lease].into_iter(), Instant::ZERO, 1_000_000);
/// assert_eq!(text, "# netboot leases v1\n10.0.0.100 bound never 1-52:54:00:12:34:56 hw:01525400123456\n");
/// let (leases, bad) = leasefile::parse(&text, Instant::ZERO, 1_000_000);
/// assert_eq!(leases, [lease]);
/// assert!(bad.is_empty());
/// ```
#[cfg(feature = "alloc")]
pub fn render(leases: impl Iterator<Item = Lease>, now: Instant, unix_now: u64) -> String {
    crate::textfile::render(HEADER, leases, |out, lease| {
        write_lease(out, &lease, now, unix_now)
    })
}

/// Parses a whole lease file: the leases it holds, and the 1-based line
/// number and error of every line that does not parse (blank lines and
/// comments are neither), for the caller to warn about.
///
/// ```
/// use netboot_core::bootp::leasefile::{self, LeaseLineError};
/// use netboot_core::time::Instant;
///
/// let text = "# netboot leases v1\n10.0.0.100 bound never 1-52:54:00:12:34:56 hw:01525400123456\n\n10.0.0.101 held never\n";
/// let (leases, bad) = leasefile::parse(text, Instant::ZERO, 1_000_000);
/// assert_eq!(leases.len(), 1);
/// assert_eq!(leases[0].ip.to_string(), "10.0.0.100");
/// assert_eq!(bad, [(4, LeaseLineError::State)]);
/// ```
#[cfg(feature = "alloc")]
pub fn parse(
    text: &str,
    now: Instant,
    unix_now: u64,
) -> (Vec<Lease>, Vec<(usize, LeaseLineError)>) {
    crate::textfile::parse(text, |line| parse_lease(line, now, unix_now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_client_ids_and_infinite_leases() {
        let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 9]);
        let lease = Lease {
            ip: Ipv4Addr::new(10, 1, 2, 3),
            hw,
            client: ClientKey::id(&[0xff, 0, 1]),
            state: LeaseState::Declined,
            expires: Instant::MAX,
        };
        let mut s = std::string::String::new();
        write_lease(&mut s, &lease, Instant::ZERO, 5).unwrap();
        assert_eq!(s, "10.1.2.3 declined never 1-02:00:00:00:00:09 id:ff0001\n");
        assert_eq!(parse_lease(&s, Instant::ZERO, 5), Ok(Some(lease)));
    }

    #[test]
    fn past_expiry_maps_before_now() {
        let line = "10.0.0.1 bound 90 1-02:00:00:00:00:01 hw:01020000000001";
        let l = parse_lease(line, Instant::from_secs(1000), 100)
            .unwrap()
            .unwrap();
        assert_eq!(l.expires, Instant::from_secs(990));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let now = Instant::ZERO;
        assert_eq!(parse_lease("  # just a comment", now, 0), Ok(None));
        assert_eq!(parse_lease("", now, 0), Ok(None));
        assert_eq!(
            parse_lease("10.0.0.1 bound", now, 0),
            Err(LeaseLineError::Fields)
        );
        assert_eq!(
            parse_lease("10.0.0.x bound 1 1-02:00 hw:01", now, 0),
            Err(LeaseLineError::Address)
        );
        assert_eq!(
            parse_lease("10.0.0.1 held 1 1-02:00 hw:01", now, 0),
            Err(LeaseLineError::State)
        );
        assert_eq!(
            parse_lease("10.0.0.1 bound soon 1-02:00 hw:01", now, 0),
            Err(LeaseLineError::Expiry)
        );
        assert_eq!(
            parse_lease("10.0.0.1 bound 1 02:00 hw:01", now, 0),
            Err(LeaseLineError::HwAddr)
        );
        assert_eq!(
            parse_lease("10.0.0.1 bound 1 1-02:00 xx:01", now, 0),
            Err(LeaseLineError::Key)
        );
        assert_eq!(
            parse_lease("10.0.0.1 bound 1 1-02:00 hw:0", now, 0),
            Err(LeaseLineError::Key)
        );
        assert_eq!(
            parse_lease("10.0.0.1 bound 1 1-02:00 hw:01 extra", now, 0),
            Err(LeaseLineError::Fields)
        );
    }

    #[test]
    fn whole_files_round_trip_and_name_their_bad_lines() {
        let leases: std::vec::Vec<_> = (1..=3u8)
            .map(|i| {
                let hw = HwAddr::ethernet([2, 0, 0, 0, 0, i]);
                Lease {
                    ip: Ipv4Addr::new(10, 0, 0, i),
                    hw,
                    client: ClientKey::hw(&hw),
                    state: LeaseState::Bound,
                    expires: Instant::from_secs(100 * u64::from(i)),
                }
            })
            .collect();
        let now = Instant::from_secs(50);
        let text = render(leases.iter().copied(), now, 1_000);
        assert_eq!(text.lines().next(), Some(HEADER));
        assert_eq!(text.lines().count(), 4);
        assert_eq!(parse(&text, now, 1_000), (leases.clone(), std::vec![]));
        assert_eq!(
            render(core::iter::empty(), now, 1_000),
            std::format!("{HEADER}\n")
        );
        let damaged = std::format!("{text}# note\n\nnonsense\n10.0.0.9 bound\n");
        let (back, bad) = parse(&damaged, now, 1_000);
        assert_eq!(back, leases);
        assert_eq!(
            bad,
            [(7, LeaseLineError::Address), (8, LeaseLineError::Fields)]
        );
    }
}
