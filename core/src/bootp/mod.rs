//! BOOTP/DHCP machines: the server that answers BOOTP (RFC 951, RFC 1497)
//! and DHCP (RFC 2131) from one host table and pool, and the client that
//! asks for an address and a boot file.
//!
//! * [`server`]: [`server::Server`], the sans-IO server machine;
//! * [`hosts`]: the static host table (hardware address → address, name,
//!   boot file, next server, extra options);
//! * [`extra`]: the extra options a boot profile gives its clients;
//! * [`leases`]: the dynamic pool and its lease table, in caller storage;
//! * [`policy`]: [`policy::BootPolicy`], the per-client boot decision that
//!   the provisioning plan plugs in;
//! * [`leasefile`]: the text format the adapters persist leases in;
//! * [`client`]: [`client::Client`], the sans-IO client machine.
//!
//! Both machines follow the crate's driving contract (`handle_*`, `poll_*`).

pub mod client;
pub mod extra;
pub mod hosts;
pub mod leasefile;
pub mod leases;
pub mod policy;
mod reply;
pub mod server;

use core::fmt;
use core::str::FromStr;

use crate::wire::bootp::Message;
use crate::wire::bootp::options::Value;

/// A client's hardware address: its `htype` and the first `hlen` bytes of
/// `chaddr`.
///
/// ```
/// use netboot_core::bootp::HwAddr;
///
/// let mac: HwAddr = "52:54:00:12:34:56".parse().unwrap();
/// assert_eq!(mac.as_bytes(), &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
/// assert_eq!(mac.to_string(), "52:54:00:12:34:56");
/// assert!("52:54:zz".parse::<HwAddr>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HwAddr {
    /// Hardware type (1 = Ethernet).
    pub htype: u8,
    len: u8,
    bytes: [u8; 16],
}

impl HwAddr {
    /// An Ethernet address.
    pub const fn ethernet(mac: [u8; 6]) -> Self {
        let mut bytes = [0; 16];
        let mut i = 0;
        while i < 6 {
            bytes[i] = mac[i];
            i += 1;
        }
        HwAddr {
            htype: 1,
            len: 6,
            bytes,
        }
    }

    /// An address of type `htype` from up to 16 bytes (longer input is cut
    /// at 16, the size of `chaddr`).
    pub fn new(htype: u8, addr: &[u8]) -> Self {
        let len = addr.len().min(16);
        let mut bytes = [0; 16];
        bytes[..len].copy_from_slice(&addr[..len]);
        HwAddr {
            htype,
            len: len as u8,
            bytes,
        }
    }

    /// The address bytes (`hlen` of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The 16-byte `chaddr` field holding this address.
    pub fn chaddr(&self) -> [u8; 16] {
        self.bytes
    }

    /// `hlen`.
    pub fn hlen(&self) -> u8 {
        self.len
    }

    /// The hardware address of a message's client.
    pub fn of(msg: &Message<'_>) -> Self {
        HwAddr::new(msg.packet().htype(), msg.packet().client_hw_addr())
    }
}

impl fmt::Display for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A hardware address that is not hex bytes separated by `:` or `-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a hardware address (expected hex bytes like 52:54:00:12:34:56)")]
pub struct BadHwAddr;

impl FromStr for HwAddr {
    type Err = BadHwAddr;
    fn from_str(s: &str) -> Result<Self, BadHwAddr> {
        let mut bytes = [0u8; 16];
        let mut len = 0;
        for part in s.split([':', '-']) {
            if len == 16 || part.is_empty() || part.len() > 2 {
                return Err(BadHwAddr);
            }
            bytes[len] = u8::from_str_radix(part, 16).map_err(|_| BadHwAddr)?;
            len += 1;
        }
        Ok(HwAddr::new(1, &bytes[..len]))
    }
}

/// The longest client identifier kept in full; longer ones (RFC 2132 allows
/// 254 bytes) are kept by their first bytes, which is what every client
/// identifier seen in practice fits in.
pub const MAX_CLIENT_ID: usize = 32;

/// How the server recognises a client across messages (RFC 2131 §4.2): by
/// its client identifier (option 61) when it sends one, else by hardware
/// address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ClientKey {
    kind: u8,
    len: u8,
    bytes: [u8; MAX_CLIENT_ID],
}

impl ClientKey {
    const HW: u8 = 1;
    const ID: u8 = 2;

    /// The key of a hardware address.
    pub fn hw(hw: &HwAddr) -> Self {
        let mut bytes = [0; MAX_CLIENT_ID];
        bytes[0] = hw.htype;
        bytes[1..=hw.as_bytes().len()].copy_from_slice(hw.as_bytes());
        ClientKey {
            kind: Self::HW,
            len: hw.hlen() + 1,
            bytes,
        }
    }

    /// The key of a client identifier (option 61), cut at
    /// [`MAX_CLIENT_ID`] bytes.
    pub fn id(id: &[u8]) -> Self {
        let len = id.len().min(MAX_CLIENT_ID);
        let mut bytes = [0; MAX_CLIENT_ID];
        bytes[..len].copy_from_slice(&id[..len]);
        ClientKey {
            kind: Self::ID,
            len: len as u8,
            bytes,
        }
    }

    /// The key of a message's client.
    pub fn of(msg: &Message<'_>) -> Self {
        match msg.client_id() {
            Some(Value::Borrowed(id)) if !id.is_empty() => ClientKey::id(id),
            Some(Value::Joined(id)) if !id.is_empty() => ClientKey::id(&id),
            _ => ClientKey::hw(&HwAddr::of(msg)),
        }
    }

    /// True for an identifier key (option 61).
    pub fn is_client_id(&self) -> bool {
        self.kind == Self::ID
    }

    /// True for the empty key of an unused slot.
    pub fn is_empty(&self) -> bool {
        self.kind == 0
    }

    /// The key's bytes: the identifier, or `htype` followed by the address.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A 32-bit FNV-1a hash of the key, for the lease index.
    pub fn hash(&self) -> u32 {
        let mut h: u32 = 0x811c_9dc5 ^ u32::from(self.kind);
        for &b in self.as_bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h
    }

    /// Rebuilds a key from its kind flag and bytes (lease files).
    pub fn from_parts(is_client_id: bool, bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() || bytes.len() > MAX_CLIENT_ID {
            return None;
        }
        let mut k = ClientKey::id(bytes);
        if !is_client_id {
            k.kind = Self::HW;
        }
        Some(k)
    }
}
