//! Match rules: which boot profile a client follows, from what its request
//! says about it.
//!
//! A mixed fleet needs a different first file per firmware: a legacy BIOS
//! PXE ROM boots `undionly.kpxe`, a UEFI x64 one `ipxe.efi`, an ARM64 one
//! its own build, and a UEFI HTTP-boot client a URL. A client describes
//! itself in its DHCP request ([`Client`]): client architecture (option 93,
//! RFC 4578), vendor class (option 60), user class (option 77, RFC 3004),
//! iPXE's encapsulated options (175), its client identifier (61) and, for
//! relayed requests, the relay's address (`giaddr`).
//!
//! A [`Match`] is a conjunction of conditions on those facts; every
//! condition left out matches anything. When several rules match, the most
//! specific wins ([`Match::precedence`]): a rule naming the client (hardware
//! address or client identifier) beats one on architecture, which beats
//! vendor class, then user class or iPXE, then subnet; among equals, the
//! one with more conditions, then the one written first. That is the order
//! a person reading a configuration expects, whatever order the rules were
//! written in.
//!
//! ```
//! use netboot_core::plan::rules::{Arch, Client, Match};
//!
//! let uefi = Match { arch: Match::archs(&[Arch::EFI_X64]), ..Match::ANY };
//! let ipxe = Match { ipxe: Some(true), ..Match::ANY };
//! let rom = Client {
//!     arch: Some(7),
//!     vendor_class: Some(b"PXEClient:Arch:00007:UNDI:003000"),
//!     ..Client::hw(&[0x52, 0x54, 0, 0, 0, 1])
//! };
//! assert!(uefi.matches(&rom) && !ipxe.matches(&rom));
//! // iPXE announces itself with option 175 (or user class "iPXE").
//! let chained = Client { ipxe_options: true, ..rom };
//! assert!(uefi.matches(&chained) && ipxe.matches(&chained));
//! // An architecture condition ranks above an iPXE one.
//! assert!(uefi.precedence() < ipxe.precedence());
//! ```
//!
//! Nothing here allocates: conditions are held in bounded `heapless`
//! storage, so firmware can use the same rules as the std server.

use core::fmt;
use core::net::Ipv4Addr;

use super::stages::{HwAddr, MAX_HWADDR};

/// Most architectures one rule lists.
pub const MAX_ARCHS: usize = 8;
/// Longest vendor-class prefix, user class or client identifier a rule
/// compares (the option's own limit is 255).
pub const MAX_CLASS: usize = 64;

/// A client system architecture (DHCP option 93, RFC 4578 §2.1, values from
/// IANA's "Processor Architecture Types" registry, which RFC 4578's erratum
/// follows: 7 is x64 UEFI, 9 is EFI byte code).
///
/// ```
/// use netboot_core::plan::rules::Arch;
///
/// assert_eq!("efi-x64".parse::<Arch>(), Ok(Arch::EFI_X64));
/// assert_eq!("16".parse::<Arch>(), Ok(Arch::EFI_X64_HTTP));
/// assert_eq!(Arch(11).to_string(), "efi-arm64");
/// assert_eq!(Arch(0x42).to_string(), "66");
/// assert!(Arch::EFI_ARM64_HTTP.is_http() && !Arch::EFI_ARM64.is_http());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arch(pub u16);

impl Arch {
    /// x86 BIOS (legacy PXE).
    pub const BIOS: Arch = Arch(0);
    /// Itanium EFI.
    pub const EFI_ITANIUM: Arch = Arch(2);
    /// 32-bit x86 UEFI.
    pub const EFI_IA32: Arch = Arch(6);
    /// x64 UEFI.
    pub const EFI_X64: Arch = Arch(7);
    /// EFI byte code (older iPXE builds sent this for x64 UEFI).
    pub const EFI_BC: Arch = Arch(9);
    /// 32-bit ARM UEFI.
    pub const EFI_ARM32: Arch = Arch(10);
    /// 64-bit ARM UEFI.
    pub const EFI_ARM64: Arch = Arch(11);
    /// 32-bit x86 UEFI, HTTP boot.
    pub const EFI_IA32_HTTP: Arch = Arch(15);
    /// x64 UEFI, HTTP boot.
    pub const EFI_X64_HTTP: Arch = Arch(16);
    /// 32-bit ARM UEFI, HTTP boot.
    pub const EFI_ARM32_HTTP: Arch = Arch(18);
    /// 64-bit ARM UEFI, HTTP boot.
    pub const EFI_ARM64_HTTP: Arch = Arch(19);
    /// x86 BIOS, HTTP boot.
    pub const BIOS_HTTP: Arch = Arch(20);
    /// 32-bit ARM U-Boot.
    pub const UBOOT_ARM32: Arch = Arch(21);
    /// 64-bit ARM U-Boot.
    pub const UBOOT_ARM64: Arch = Arch(22);
    /// 32-bit RISC-V UEFI.
    pub const EFI_RISCV32: Arch = Arch(25);
    /// 64-bit RISC-V UEFI.
    pub const EFI_RISCV64: Arch = Arch(27);
    /// 64-bit RISC-V UEFI, HTTP boot.
    pub const EFI_RISCV64_HTTP: Arch = Arch(28);

    /// Every architecture with a name, and the name.
    pub const NAMES: &'static [(Arch, &'static str)] = &[
        (Arch::BIOS, "bios"),
        (Arch::EFI_ITANIUM, "efi-itanium"),
        (Arch::EFI_IA32, "efi-ia32"),
        (Arch::EFI_X64, "efi-x64"),
        (Arch::EFI_BC, "efi-bc"),
        (Arch::EFI_ARM32, "efi-arm32"),
        (Arch::EFI_ARM64, "efi-arm64"),
        (Arch::EFI_IA32_HTTP, "efi-ia32-http"),
        (Arch::EFI_X64_HTTP, "efi-x64-http"),
        (Arch::EFI_ARM32_HTTP, "efi-arm32-http"),
        (Arch::EFI_ARM64_HTTP, "efi-arm64-http"),
        (Arch::BIOS_HTTP, "bios-http"),
        (Arch::UBOOT_ARM32, "uboot-arm32"),
        (Arch::UBOOT_ARM64, "uboot-arm64"),
        (Arch::EFI_RISCV32, "efi-riscv32"),
        (Arch::EFI_RISCV64, "efi-riscv64"),
        (Arch::EFI_RISCV64_HTTP, "efi-riscv64-http"),
    ];

    /// The architecture's name, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Arch::NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
    }

    /// True for the HTTP-boot architectures, whose boot file is a URL.
    pub fn is_http(self) -> bool {
        matches!(self.0, 15..=20 | 23 | 24 | 26 | 28 | 30)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// An architecture that is neither a known name nor a number up to 65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown client architecture (expected a name such as bios, efi-x64, efi-arm64, efi-x64-http, or a number)"
)]
pub struct UnknownArch;

impl core::str::FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some((a, _)) = Arch::NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(s)) {
            return Ok(*a);
        }
        s.parse().map(Arch).map_err(|_| UnknownArch)
    }
}

/// What a request says about the client, for choosing its profile.
///
/// Built by the server from each DHCP/BOOTP request
/// ([`BootRequest::client`](crate::bootp::policy::BootRequest::client));
/// [`Client::hw`] is a client known only by its hardware address (a
/// restored entry, a test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client<'a> {
    /// The hardware address (`chaddr` truncated to `hlen`).
    pub hw: &'a [u8],
    /// Option 61, if sent.
    pub client_id: Option<&'a [u8]>,
    /// Option 93 (the first architecture listed), if sent.
    pub arch: Option<u16>,
    /// Option 60, if sent.
    pub vendor_class: Option<&'a [u8]>,
    /// Option 77, if sent, as it was on the wire.
    pub user_class: Option<&'a [u8]>,
    /// True when the request carried option 175 (iPXE's encapsulated
    /// options).
    pub ipxe_options: bool,
    /// The address naming the client's network: `giaddr` for a relayed
    /// request, the server's own address on the link otherwise.
    pub network: Ipv4Addr,
}

impl<'a> Client<'a> {
    /// A client known only by its hardware address.
    pub const fn hw(hw: &'a [u8]) -> Self {
        Client {
            hw,
            client_id: None,
            arch: None,
            vendor_class: None,
            user_class: None,
            ipxe_options: false,
            network: Ipv4Addr::UNSPECIFIED,
        }
    }

    /// True when the client is iPXE: it sent option 175, or a user class
    /// `iPXE`.
    pub fn is_ipxe(&self) -> bool {
        self.ipxe_options || self.has_user_class(b"iPXE")
    }

    /// True when option 77 carries `class`, either as RFC 3004 instances
    /// (each prefixed by its length) or as the bare string many firmware
    /// send instead (iPXE among them).
    pub fn has_user_class(&self, class: &[u8]) -> bool {
        let Some(raw) = self.user_class else {
            return false;
        };
        if raw == class {
            return true;
        }
        let mut rest = raw;
        while let Some((&len, tail)) = rest.split_first() {
            let len = usize::from(len);
            if len == 0 || len > tail.len() {
                return false;
            }
            let (instance, next) = tail.split_at(len);
            if instance == class {
                return true;
            }
            rest = next;
        }
        false
    }
}

/// Conditions on a [`Client`]; `None` (or an empty list) matches anything.
///
/// Built by the configuration; [`Match::ANY`] is the rule without
/// conditions (a default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The client's hardware address.
    pub hw: Option<HwAddr>,
    /// The client's identifier (option 61), byte for byte.
    pub client_id: Option<heapless::Vec<u8, MAX_CLASS>>,
    /// Any of these architectures (option 93). A client that sent no
    /// option 93 matches only a list containing [`Arch::BIOS`], the
    /// architecture of every PXE ROM from before RFC 4578.
    pub arch: heapless::Vec<Arch, MAX_ARCHS>,
    /// Option 60 starts with this (`PXEClient`, `HTTPClient`, `U-Boot`).
    pub vendor_class: Option<heapless::Vec<u8, MAX_CLASS>>,
    /// Option 77 carries this class.
    pub user_class: Option<heapless::Vec<u8, MAX_CLASS>>,
    /// The client is (`true`) or is not (`false`) iPXE.
    pub ipxe: Option<bool>,
    /// The client's network ([`Client::network`]) is in this subnet
    /// (address, prefix length).
    pub subnet: Option<(Ipv4Addr, u8)>,
}

/// A condition value longer than a rule holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("longer than {MAX_CLASS} bytes")]
pub struct ClassTooLong;

impl Match {
    /// No conditions: matches every client.
    pub const ANY: Match = Match {
        hw: None,
        client_id: None,
        arch: heapless::Vec::new(),
        vendor_class: None,
        user_class: None,
        ipxe: None,
        subnet: None,
    };

    /// An architecture list (at most [`MAX_ARCHS`]; the rest are dropped,
    /// so a configuration should check the length first).
    pub fn archs(archs: &[Arch]) -> heapless::Vec<Arch, MAX_ARCHS> {
        archs.iter().copied().take(MAX_ARCHS).collect()
    }

    /// A class or identifier value, bounded.
    pub fn class(value: &[u8]) -> Result<heapless::Vec<u8, MAX_CLASS>, ClassTooLong> {
        heapless::Vec::from_slice(value).map_err(|_| ClassTooLong)
    }

    /// True when `client` meets every condition.
    pub fn matches(&self, client: &Client<'_>) -> bool {
        if self
            .hw
            .as_ref()
            .is_some_and(|hw| hw.as_slice() != client.hw)
        {
            return false;
        }
        if let Some(id) = &self.client_id
            && client.client_id != Some(id.as_slice())
        {
            return false;
        }
        if !self.arch.is_empty() {
            let arch = Arch(client.arch.unwrap_or(0));
            if !self.arch.contains(&arch) {
                return false;
            }
        }
        if let Some(prefix) = &self.vendor_class
            && !client.vendor_class.is_some_and(|v| v.starts_with(prefix))
        {
            return false;
        }
        if let Some(class) = &self.user_class
            && !client.has_user_class(class)
        {
            return false;
        }
        if self.ipxe.is_some_and(|want| want != client.is_ipxe()) {
            return false;
        }
        if let Some((net, len)) = self.subnet
            && !in_subnet(client.network, net, len)
        {
            return false;
        }
        true
    }

    /// How specific the rule is: lower wins. The first component ranks the
    /// most specific condition (0 the client itself, 1 architecture, 2
    /// vendor class, 3 user class or iPXE, 4 subnet, 5 none); the second
    /// prefers more conditions.
    pub fn precedence(&self) -> (u8, u8) {
        let kinds = [
            self.hw.is_some() || self.client_id.is_some(),
            !self.arch.is_empty(),
            self.vendor_class.is_some(),
            self.user_class.is_some() || self.ipxe.is_some(),
            self.subnet.is_some(),
        ];
        let rank = kinds.iter().position(|&k| k).unwrap_or(kinds.len());
        let conditions = [
            self.hw.is_some(),
            self.client_id.is_some(),
            !self.arch.is_empty(),
            self.vendor_class.is_some(),
            self.user_class.is_some(),
            self.ipxe.is_some(),
            self.subnet.is_some(),
        ]
        .iter()
        .filter(|&&c| c)
        .count() as u8;
        (rank as u8, u8::MAX - conditions)
    }

    /// True when the rule names one client (hardware address or client
    /// identifier).
    pub fn is_host(&self) -> bool {
        self.hw.is_some() || self.client_id.is_some()
    }
}

impl Default for Match {
    fn default() -> Self {
        Match::ANY
    }
}

/// True when `ip` is inside `net`/`len`.
pub fn in_subnet(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = match len {
        0 => 0,
        1..=32 => u32::MAX << (32 - u32::from(len)),
        _ => return false,
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Checks a hardware address for a [`Match`].
pub fn hw(bytes: &[u8]) -> Option<HwAddr> {
    if bytes.is_empty() || bytes.len() > MAX_HWADDR {
        return None;
    }
    HwAddr::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn client() -> Client<'static> {
        Client {
            network: Ipv4Addr::new(10, 1, 2, 1),
            ..Client::hw(&MAC)
        }
    }

    #[test]
    fn user_class_matches_rfc3004_instances_and_bare_strings() {
        let bare = Client {
            user_class: Some(b"iPXE"),
            ..client()
        };
        assert!(bare.is_ipxe());
        let rfc = Client {
            user_class: Some(b"\x03foo\x04iPXE"),
            ..client()
        };
        assert!(rfc.is_ipxe() && rfc.has_user_class(b"foo"));
        assert!(!rfc.has_user_class(b"fo"));
        // A length running past the end is not a list; nothing matches.
        let broken = Client {
            user_class: Some(b"\x09iPXE"),
            ..client()
        };
        assert!(!broken.is_ipxe());
        assert!(!client().is_ipxe());
    }

    #[test]
    fn no_option_93_counts_as_bios() {
        let bios = Match {
            arch: Match::archs(&[Arch::BIOS]),
            ..Match::ANY
        };
        let efi = Match {
            arch: Match::archs(&[Arch::EFI_X64]),
            ..Match::ANY
        };
        assert!(bios.matches(&client()) && !efi.matches(&client()));
        let uefi = Client {
            arch: Some(7),
            ..client()
        };
        assert!(!bios.matches(&uefi) && efi.matches(&uefi));
    }

    #[test]
    fn every_condition_must_hold() {
        let rule = Match {
            vendor_class: Some(Match::class(b"PXEClient").unwrap()),
            subnet: Some((Ipv4Addr::new(10, 1, 0, 0), 16)),
            ipxe: Some(false),
            ..Match::ANY
        };
        let rom = Client {
            vendor_class: Some(b"PXEClient:Arch:00000:UNDI:002001"),
            ..client()
        };
        assert!(rule.matches(&rom));
        assert!(!rule.matches(&Client {
            network: Ipv4Addr::new(10, 2, 0, 1),
            ..rom
        }));
        assert!(!rule.matches(&Client {
            ipxe_options: true,
            ..rom
        }));
        assert!(!rule.matches(&Client {
            vendor_class: Some(b"HTTPClient"),
            ..rom
        }));
        assert!(!rule.matches(&client()));
        let host = Match {
            hw: hw(&MAC),
            ..Match::ANY
        };
        assert!(host.matches(&rom));
        assert!(!host.matches(&Client::hw(&[2, 0, 0, 0, 0, 2])));
        let id = Match {
            client_id: Some(Match::class(b"\x01\x02\x00\x00\x00\x00\x01").unwrap()),
            ..Match::ANY
        };
        assert!(!id.matches(&rom));
        assert!(id.matches(&Client {
            client_id: Some(b"\x01\x02\x00\x00\x00\x00\x01"),
            ..rom
        }));
    }

    #[test]
    fn precedence_follows_the_documented_order() {
        let host = Match {
            hw: hw(&MAC),
            ..Match::ANY
        };
        let arch = Match {
            arch: Match::archs(&[Arch::BIOS]),
            ..Match::ANY
        };
        let arch_and_subnet = Match {
            subnet: Some((Ipv4Addr::new(10, 0, 0, 0), 8)),
            ..arch.clone()
        };
        let vendor = Match {
            vendor_class: Some(Match::class(b"PXEClient").unwrap()),
            ..Match::ANY
        };
        let ipxe = Match {
            ipxe: Some(true),
            ..Match::ANY
        };
        let subnet = Match {
            subnet: Some((Ipv4Addr::new(10, 0, 0, 0), 8)),
            ..Match::ANY
        };
        let mut order = [
            &Match::ANY,
            &subnet,
            &ipxe,
            &vendor,
            &arch,
            &arch_and_subnet,
            &host,
        ];
        order.sort_by_key(|m| m.precedence());
        assert_eq!(
            order,
            [
                &host,
                &arch_and_subnet,
                &arch,
                &vendor,
                &ipxe,
                &subnet,
                &Match::ANY
            ]
        );
    }

    #[test]
    fn subnets() {
        let net = Ipv4Addr::new(10, 1, 0, 0);
        assert!(in_subnet(Ipv4Addr::new(10, 1, 255, 1), net, 16));
        assert!(!in_subnet(Ipv4Addr::new(10, 2, 0, 1), net, 16));
        assert!(in_subnet(Ipv4Addr::new(1, 2, 3, 4), net, 0));
        assert!(in_subnet(net, net, 32));
        assert!(!in_subnet(net, net, 33));
    }

    #[test]
    fn arch_names_round_trip() {
        for (arch, name) in Arch::NAMES {
            assert_eq!(name.parse::<Arch>(), Ok(*arch));
            assert_eq!(arch.to_string(), *name);
        }
        assert_eq!("EFI-X64".parse::<Arch>(), Ok(Arch::EFI_X64));
        assert_eq!("65536".parse::<Arch>(), Err(UnknownArch));
        assert_eq!("efi-x65".parse::<Arch>(), Err(UnknownArch));
    }
}
