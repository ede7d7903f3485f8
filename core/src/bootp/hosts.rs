//! The static host table: what the server knows about each machine by its
//! hardware address (RFC 951 §1: the server's "database" of clients).
//!
//! The table lives in caller storage (`AsRef<[Host]> + AsMut<[Host]>`: an
//! array in firmware, a `Vec` under std). [`crate::bootp::server::Server::new`]
//! sorts it by hardware address and refuses duplicates, so a lookup is a
//! binary search.

use core::net::Ipv4Addr;

use super::HwAddr;
use crate::wire::bootp::options;

/// The longest boot file name: `file` is 128 bytes with its terminating
/// zero.
pub const MAX_FILE: usize = 127;
/// The longest host name (RFC 1035 label limit, and what fits option 12
/// comfortably).
pub const MAX_HOSTNAME: usize = 63;
/// Room for a host's extra options, encoded.
pub const MAX_EXTRA_OPTIONS: usize = 256;

/// A boot file name.
pub type FileName = heapless::String<MAX_FILE>;

/// One machine the server knows.
///
/// ```
/// use core::net::Ipv4Addr;
/// use netboot_core::bootp::hosts::Host;
///
/// let mut host = Host::new("52:54:00:00:00:01".parse().unwrap());
/// host.ip = Some(Ipv4Addr::new(10, 0, 0, 10));
/// host.set_file("pxelinux.0").unwrap();
/// host.push_option(42, &[10, 0, 0, 1]).unwrap(); // NTP server
/// assert_eq!(host.file.as_str(), "pxelinux.0");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// The client's hardware address.
    pub hw: HwAddr,
    /// Its fixed address; `None` to take one from the pool.
    pub ip: Option<Ipv4Addr>,
    /// Sent as option 12 when not empty.
    pub hostname: heapless::String<MAX_HOSTNAME>,
    /// Its boot file; empty for the server's default.
    pub file: FileName,
    /// The server it boots from (`siaddr`); `None` for the server's default.
    pub next_server: Option<Ipv4Addr>,
    /// Further options, encoded (code, length, value), sent in every reply.
    pub options: heapless::Vec<u8, MAX_EXTRA_OPTIONS>,
}

/// A value that does not fit its bounded field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} is longer than {max} bytes")]
pub struct TooLong {
    /// The field.
    pub field: &'static str,
    /// Its bound.
    pub max: usize,
}

impl Host {
    /// A host with no fixed address and the server's defaults.
    pub fn new(hw: HwAddr) -> Self {
        Host {
            hw,
            ip: None,
            hostname: heapless::String::new(),
            file: heapless::String::new(),
            next_server: None,
            options: heapless::Vec::new(),
        }
    }

    /// Sets the boot file.
    pub fn set_file(&mut self, file: &str) -> Result<(), TooLong> {
        self.file = bounded(file, "file", MAX_FILE)?;
        Ok(())
    }

    /// Sets the host name.
    pub fn set_hostname(&mut self, name: &str) -> Result<(), TooLong> {
        self.hostname = bounded(name, "hostname", MAX_HOSTNAME)?;
        Ok(())
    }

    /// Adds an extra option (split per RFC 3396 if longer than 255 bytes).
    pub fn push_option(&mut self, code: u8, value: &[u8]) -> Result<(), TooLong> {
        let mut buf = [0u8; MAX_EXTRA_OPTIONS];
        let too_long = TooLong {
            field: "options",
            max: MAX_EXTRA_OPTIONS,
        };
        let room = MAX_EXTRA_OPTIONS - self.options.len();
        let mut w = options::OptionsWriter::new(&mut buf[..room]);
        w.push(code, value).map_err(|_| too_long)?;
        let n = w.len();
        self.options
            .extend_from_slice(&buf[..n])
            .map_err(|_| too_long)
    }
}

/// Copies `s` into a bounded string.
pub fn bounded<const N: usize>(
    s: &str,
    field: &'static str,
    max: usize,
) -> Result<heapless::String<N>, TooLong> {
    let mut out = heapless::String::new();
    out.push_str(s).map_err(|_| TooLong { field, max })?;
    Ok(out)
}

/// Finds a host in a table sorted by hardware address.
pub(crate) fn find<'h>(hosts: &'h [Host], hw: &HwAddr) -> Option<&'h Host> {
    hosts
        .binary_search_by(|h| h.hw.cmp(hw))
        .ok()
        .map(|i| &hosts[i])
}
