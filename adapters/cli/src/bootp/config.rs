//! The `[bootp]` table of the configuration file (see [`crate::config`]),
//! checked into a core server, and its errors with line numbers.
//!
//! ```toml
//! [bootp]
//! server = "10.0.0.1"            # our address: server identifier, default next-server
//! subnet = "10.0.0.0/24"
//! router = "10.0.0.1"            # optional
//! dns = ["10.0.0.1"]             # optional
//! domain = "lab"                 # optional
//! pool = { start = "10.0.0.100", end = "10.0.0.199" }   # optional dynamic pool
//! lease_time = 3600              # seconds
//! bootp_dynamic = false          # pool addresses for plain BOOTP clients too
//! file = "undionly.kpxe"         # default boot file
//! next_server = "10.0.0.2"       # default TFTP server (default: server)
//! listen = "0.0.0.0:67"          # --listen overrides
//! interface = "eth1"             # --interface overrides
//! lease_file = "bootp.leases"    # relative to the config file; --lease-file overrides
//! mode = "dhcp"                  # or "proxy": proxyDHCP, boot information only
//!
//! [[bootp.subnets]]             # a subnet behind a DHCP relay (its giaddr)
//! subnet = "10.2.0.0/24"         # ([[bootp.relayed]] is the older name)
//! router = "10.2.0.1"
//! pool = { start = "10.2.0.100", end = "10.2.0.199" }
//! lease_time = 600               # dns, domain as above
//!
//! [[bootp.subnets]]             # a subnet on another interface of this host
//! subnet = "10.3.0.0/24"
//! interface = "eth2"             # needs [bootp] interface too
//! server = "10.3.0.1"            # our address on it: its server identifier
//! pool = { start = "10.3.0.100", end = "10.3.0.199" }
//!
//! [[bootp.host]]
//! mac = "52:54:00:12:34:56"
//! ip = "10.0.0.10"
//! hostname = "board1"
//! file = "board1/u-boot.bin"
//! next_server = "10.0.0.2"
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::hosts::{self, Host};
use netboot_core::bootp::leases::LeaseSlot;
use netboot_core::bootp::server::{ConfigError, MAX_SUBNETS, Server, ServerConfig, Subnet};
use serde::Deserialize;
use toml::Spanned;

use crate::exit::CliError;

/// The most pool addresses a server takes (each needs a lease slot).
pub const MAX_POOL: u32 = 1 << 20;

/// The BOOTP table as written (also the `[bootp]` table of `netboot serve`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    server: Spanned<String>,
    subnet: Spanned<String>,
    router: Option<Spanned<String>>,
    #[serde(default)]
    dns: Vec<Spanned<String>>,
    domain: Option<Spanned<String>>,
    pool: Option<Spanned<RawPool>>,
    lease_time: Option<u32>,
    bootp_dynamic: Option<bool>,
    authoritative: Option<bool>,
    file: Option<Spanned<String>>,
    next_server: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    interface: Option<String>,
    lease_file: Option<PathBuf>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default, alias = "relayed")]
    subnets: Vec<Spanned<RawSubnet>>,
}

/// A `[[subnets]]` table: a subnet served through DHCP relays, or local
/// to an interface.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubnet {
    subnet: Spanned<String>,
    router: Option<Spanned<String>>,
    #[serde(default)]
    dns: Vec<Spanned<String>>,
    domain: Option<Spanned<String>>,
    pool: Option<Spanned<RawPool>>,
    lease_time: Option<u32>,
    interface: Option<Spanned<String>>,
    server: Option<Spanned<String>>,
}

/// The settings every subnet has, as written: `[bootp]`'s own and each
/// `[[bootp.subnets]]` table's.
struct NetFields<'a> {
    subnet: &'a Spanned<String>,
    router: &'a Option<Spanned<String>>,
    dns: &'a [Spanned<String>],
    domain: &'a Option<Spanned<String>>,
    pool: &'a Option<Spanned<RawPool>>,
    lease_time: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    start: String,
    end: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    mac: Spanned<String>,
    ip: Option<Spanned<String>>,
    hostname: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    next_server: Option<Spanned<String>>,
}

/// A checked configuration, ready to run.
pub struct Settings {
    /// The core server.
    pub server: Server<Vec<Host>, Vec<LeaseSlot>>,
    /// Where to listen (flags override).
    pub listen: SocketAddr,
    /// Interface to bind (flags override).
    pub interface: Option<String>,
    /// Where leases are kept.
    pub lease_file: Option<PathBuf>,
}

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text[..end].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn err(&self, span: &Range<usize>, problem: impl std::fmt::Display) -> CliError {
        CliError::config(format!(
            "{}:{}: {problem}",
            self.path.display(),
            self.line(span)
        ))
    }

    fn ip(&self, value: &Spanned<String>, what: &str) -> Result<Ipv4Addr, CliError> {
        value.get_ref().parse().map_err(|_| {
            self.err(
                &value.span(),
                format!("{what} {:?} is not an IPv4 address", value.get_ref()),
            )
        })
    }
}

fn subnet(text: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let (addr, bits) = text.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    if !(1..=30).contains(&bits) {
        return None;
    }
    let mask = u32::MAX << (32 - bits);
    Some((Ipv4Addr::from(u32::from(addr) & mask), Ipv4Addr::from(mask)))
}

/// A `pool = { start, end }` table, checked for size.
fn pool(src: &Source<'_>, p: &Spanned<RawPool>) -> Result<(Ipv4Addr, Ipv4Addr), CliError> {
    let bad = |what: &str, v: &str| {
        src.err(
            &p.span(),
            format!("pool {what} {v:?} is not an IPv4 address"),
        )
    };
    let start: Ipv4Addr = p
        .get_ref()
        .start
        .parse()
        .map_err(|_| bad("start", &p.get_ref().start))?;
    let end: Ipv4Addr = p
        .get_ref()
        .end
        .parse()
        .map_err(|_| bad("end", &p.get_ref().end))?;
    let size = u32::from(end)
        .saturating_sub(u32::from(start))
        .saturating_add(1);
    if size > MAX_POOL {
        return Err(src.err(
            &p.span(),
            format!("pool of {size} addresses is larger than {MAX_POOL}"),
        ));
    }
    Ok((start, end))
}

/// Checks one subnet's settings: its address and prefix, and a router,
/// DNS servers, domain and pool inside it.
fn net(src: &Source<'_>, f: NetFields<'_>) -> Result<Subnet, CliError> {
    let text = f.subnet.get_ref();
    let (network, netmask) = subnet(text).ok_or_else(|| {
        src.err(
            &f.subnet.span(),
            format!("subnet {text:?} is not ADDRESS/PREFIX (prefix 1 to 30)"),
        )
    })?;
    let mut sub = Subnet::new(network, netmask);
    if let Some(r) = f.router {
        let ip = src.ip(r, "router")?;
        if !sub.contains(ip) {
            return Err(src.err(
                &r.span(),
                format!("router {ip} is outside the subnet {text}"),
            ));
        }
        sub.net.router = Some(ip);
    }
    for d in f.dns {
        let ip = src.ip(d, "dns")?;
        sub.net
            .dns
            .push(ip)
            .map_err(|_| src.err(&d.span(), "at most 4 DNS servers"))?;
    }
    if let Some(d) = f.domain {
        sub.net.domain =
            hosts::bounded(d.get_ref(), "domain", 63).map_err(|e| src.err(&d.span(), e))?;
    }
    if let Some(p) = f.pool {
        let (start, end) = pool(src, p)?;
        for ip in [start, end] {
            if !sub.contains(ip) || ip == sub.broadcast() || ip == network {
                return Err(src.err(
                    &p.span(),
                    format!(
                        "pool address {ip} is outside the subnet {text} (or is its network or broadcast address)"
                    ),
                ));
            }
        }
        sub.net.pool = Some((start, end));
    }
    if let Some(t) = f.lease_time {
        sub.net.lease_time = t;
    }
    Ok(sub)
}

/// Parses and checks a bare BOOTP table `text` (read from `path`).
#[cfg(test)]
pub fn parse(path: &Path, text: &str) -> Result<Settings, CliError> {
    let raw: Raw = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    check(path, text, raw, false)
}

/// A TOML syntax or schema error as `FILE:LINE: message` (exit code 3).
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> CliError {
    let src = Source { path, text };
    let line = e.span().map_or(1, |s| src.line(&s));
    CliError::config(format!("{}:{line}: {}", path.display(), e.message().trim()))
}

/// Checks a BOOTP table deserialized from `text` (read from `path`; spans
/// point into it). `bootp_dynamic` is the default of that setting.
pub fn check(path: &Path, text: &str, raw: Raw, bootp_dynamic: bool) -> Result<Settings, CliError> {
    let src = Source { path, text };
    let server_ip = src.ip(&raw.server, "server")?;
    let own = net(
        &src,
        NetFields {
            subnet: &raw.subnet,
            router: &raw.router,
            dns: &raw.dns,
            domain: &raw.domain,
            pool: &raw.pool,
            lease_time: raw.lease_time,
        },
    )?;
    let mut config = ServerConfig::new(server_ip, own.net.netmask);
    if !config.on_subnet(own.network) || own.network == server_ip {
        return Err(src.err(
            &raw.server.span(),
            format!(
                "server {server_ip} is not a host address in subnet {}",
                raw.subnet.get_ref()
            ),
        ));
    }
    config.net = own.net;
    config.bootp_dynamic = raw.bootp_dynamic.unwrap_or(bootp_dynamic);
    if let Some(a) = raw.authoritative {
        config.authoritative = a;
    }
    if let Some(f) = &raw.file {
        config.file = hosts::bounded(f.get_ref(), "file", hosts::MAX_FILE)
            .map_err(|e| src.err(&f.span(), e))?;
    }
    if let Some(n) = &raw.next_server {
        config.next_server = Some(src.ip(n, "next_server")?);
    }
    if let Some(mode) = &raw.mode {
        config.proxy = match mode.get_ref().as_str() {
            "dhcp" => false,
            "proxy" => true,
            other => {
                return Err(src.err(
                    &mode.span(),
                    format!("mode {other:?}: expected \"dhcp\" or \"proxy\""),
                ));
            }
        };
    }
    if config.proxy
        && let Some(p) = &raw.pool
    {
        return Err(src.err(
            &p.span(),
            "a proxyDHCP server (mode = \"proxy\") hands out no addresses: remove the pool",
        ));
    }
    for r in &raw.subnets {
        let r = r.get_ref();
        let mut sub = net(
            &src,
            NetFields {
                subnet: &r.subnet,
                router: &r.router,
                dns: &r.dns,
                domain: &r.domain,
                pool: &r.pool,
                lease_time: r.lease_time,
            },
        )?;
        if let Some(ip) = &r.server {
            let addr = src.ip(ip, "server")?;
            if !sub.contains(addr) || addr == sub.network || addr == sub.broadcast() {
                return Err(src.err(
                    &ip.span(),
                    format!(
                        "server {addr} is not a host address in subnet {}",
                        r.subnet.get_ref()
                    ),
                ));
            }
            sub.server = Some(addr);
        }
        if let Some(name) = &r.interface {
            sub.interface = Some(name.get_ref().as_str().try_into().map_err(|_| {
                src.err(
                    &name.span(),
                    format!(
                        "interface name {:?} is longer than 15 bytes",
                        name.get_ref()
                    ),
                )
            })?);
            if sub.server.is_none() {
                return Err(src.err(
                    &name.span(),
                    format!(
                        "subnet {} on interface {}: needs server = (this host's address on it)",
                        r.subnet.get_ref(),
                        name.get_ref()
                    ),
                ));
            }
        }
        config.relayed.push(sub).map_err(|_| {
            src.err(
                &r.subnet.span(),
                format!("at most {} subnets besides [bootp]'s", MAX_SUBNETS - 1),
            )
        })?;
    }
    let mut host_table = Vec::with_capacity(raw.host.len());
    for h in &raw.host {
        let hw: HwAddr = h
            .mac
            .get_ref()
            .parse()
            .map_err(|e| src.err(&h.mac.span(), format!("mac {:?}: {e}", h.mac.get_ref())))?;
        let mut host = Host::new(hw);
        if let Some(ip) = &h.ip {
            host.ip = Some(src.ip(ip, "ip")?);
        }
        if let Some(name) = &h.hostname {
            host.set_hostname(name.get_ref())
                .map_err(|e| src.err(&name.span(), e))?;
        }
        if let Some(file) = &h.file {
            host.set_file(file.get_ref())
                .map_err(|e| src.err(&file.span(), e))?;
        }
        if let Some(n) = &h.next_server {
            host.next_server = Some(src.ip(n, "next_server")?);
        }
        host_table.push(host);
    }
    let slots = config
        .pools()
        .flatten()
        .map(|(s, e)| (u32::from(e).saturating_sub(u32::from(s)) + 1) as usize)
        .sum();
    let raw_subnet = |net: Ipv4Addr| {
        raw.subnets
            .iter()
            .find(|r| subnet(r.get_ref().subnet.get_ref()).is_some_and(|(n, _)| n == net))
    };
    let server = Server::new(config, host_table, vec![LeaseSlot::EMPTY; slots]).map_err(|e| match e {
        ConfigError::HostOutsideSubnet { index, ip } => {
            let span = raw.host[index].ip.as_ref().map_or(raw.host[index].mac.span(), Spanned::span);
            src.err(&span, format!("host address {ip} is outside the subnet {}", raw.subnet.get_ref()))
        }
        ConfigError::DuplicateHw { first, second, hw } => src.err(
            &raw.host[second].mac.span(),
            format!("duplicate MAC {hw} (also at line {})", src.line(&raw.host[first].mac.span())),
        ),
        ConfigError::DuplicateIp { first, second, ip } => {
            let span = raw.host[second].ip.as_ref().map_or(raw.host[second].mac.span(), Spanned::span);
            if first == usize::MAX {
                src.err(&span, format!("host address {ip} is the server's own address"))
            } else {
                let at = raw.host[first].ip.as_ref().map_or(0, |s| src.line(&s.span()));
                src.err(&span, format!("duplicate IP {ip} (also at line {at})"))
            }
        }
        ConfigError::PoolOutsideSubnet(ip) => src.err(
            &raw.pool.as_ref().map_or(0..0, Spanned::span),
            format!("pool address {ip} is outside the subnet {} (or is its network or broadcast address)", raw.subnet.get_ref()),
        ),
        ConfigError::PoolReversed { first, last } => src.err(
            &raw.pool.as_ref().map_or(0..0, Spanned::span),
            format!("pool ends at {last} before it starts at {first}"),
        ),
        ConfigError::SubnetOverlaps(net) => src.err(
            &raw_subnet(net).map_or(0..0, Spanned::span),
            format!("subnet {net} overlaps the server's subnet or another one"),
        ),
        ConfigError::InterfaceTwice(net) => {
            let at = raw_subnet(net).and_then(|r| r.get_ref().interface.as_ref());
            let span = at.map_or(0..0, Spanned::span);
            src.err(&span, format!("subnet {net}: another subnet is on the same interface"))
        }
        other => CliError::config(format!("{}: {other}", path.display())),
    })?;
    let listen = match &raw.listen {
        Some(l) => l.get_ref().parse().map_err(|_| {
            src.err(
                &l.span(),
                format!("listen {:?} is not ADDRESS:PORT", l.get_ref()),
            )
        })?,
        None => SocketAddr::from((
            Ipv4Addr::UNSPECIFIED,
            netboot_core::wire::bootp::SERVER_PORT,
        )),
    };
    let lease_file = raw.lease_file.map(|p| {
        if p.is_relative() {
            path.parent().unwrap_or(Path::new(".")).join(p)
        } else {
            p
        }
    });
    Ok(Settings {
        server,
        listen,
        interface: raw.interface,
        lease_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(Path::new("lab.toml"), text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => {
                assert_eq!(e.code(), 3);
                e.to_string()
            }
        }
    }

    const BASE: &str = "server = \"10.0.0.1\"\nsubnet = \"10.0.0.0/24\"\n";

    #[test]
    fn a_full_configuration_loads() {
        let text = format!(
            "{BASE}router = \"10.0.0.1\"\ndns = [\"10.0.0.1\"]\ndomain = \"lab\"\npool = {{ start = \"10.0.0.100\", end = \"10.0.0.199\" }}\nlease_time = 600\nfile = \"undionly.kpxe\"\nlisten = \"0.0.0.0:6767\"\ninterface = \"eth9\"\nlease_file = \"leases\"\n\n[[host]]\nmac = \"52:54:00:12:34:56\"\nip = \"10.0.0.10\"\nhostname = \"board1\"\nfile = \"board1.bin\"\nnext_server = \"10.0.0.2\"\n"
        );
        let s = parse(Path::new("/etc/netboot/lab.toml"), &text).unwrap();
        assert_eq!(s.listen, "0.0.0.0:6767".parse().unwrap());
        assert_eq!(s.interface.as_deref(), Some("eth9"));
        assert_eq!(s.lease_file, Some(PathBuf::from("/etc/netboot/leases")));
        let c = s.server.config();
        assert_eq!(c.net.lease_time, 600);
        assert_eq!(
            c.net.pool,
            Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199)))
        );
        assert_eq!(s.server.hosts()[0].file.as_str(), "board1.bin");
        assert_eq!(s.server.lease_table().len(), 100);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(
            err("server = \"10.0.0.1\"\nsubnet = 7\n"),
            "lab.toml:2: invalid type: integer `7`, expected a string"
        );
        assert_eq!(
            err(&format!(
                "{BASE}[[host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.0.1.5\"\n"
            )),
            "lab.toml:5: host address 10.0.1.5 is outside the subnet 10.0.0.0/24"
        );
        assert_eq!(
            err(&format!(
                "{BASE}[[host]]\nmac = \"52:54:00:00:00:01\"\n[[host]]\nmac = \"52:54:00:00:00:01\"\n"
            )),
            "lab.toml:6: duplicate MAC 52:54:00:00:00:01 (also at line 4)"
        );
        assert_eq!(
            err(&format!(
                "{BASE}[[host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.0.0.9\"\n[[host]]\nmac = \"52:54:00:00:00:02\"\nip = \"10.0.0.9\"\n"
            )),
            "lab.toml:8: duplicate IP 10.0.0.9 (also at line 5)"
        );
        assert_eq!(
            err(&format!("{BASE}[[host]]\nmac = \"52:54:zz\"\n")),
            "lab.toml:4: mac \"52:54:zz\": not a hardware address (expected hex bytes like 52:54:00:12:34:56)"
        );
        assert_eq!(
            err(&format!(
                "{BASE}pool = {{ start = \"10.0.0.100\", end = \"10.0.1.5\" }}\n"
            )),
            "lab.toml:3: pool address 10.0.1.5 is outside the subnet 10.0.0.0/24 (or is its network or broadcast address)"
        );
        assert_eq!(
            err("server = \"10.0.0.1\"\nsubnet = \"10.0.0.0/33\"\n"),
            "lab.toml:2: subnet \"10.0.0.0/33\" is not ADDRESS/PREFIX (prefix 1 to 30)"
        );
        assert_eq!(
            err(&format!("{BASE}router = \"10.1.0.1\"\n")),
            "lab.toml:3: router 10.1.0.1 is outside the subnet 10.0.0.0/24"
        );
        assert!(
            err(&format!("{BASE}colour = \"blue\"\n"))
                .starts_with("lab.toml:3: unknown field `colour`")
        );
        assert_eq!(
            err("subnet = \"10.0.0.0/24\"\n"),
            "lab.toml:1: missing field `server`"
        );
        assert_eq!(
            err(&format!(
                "{BASE}[[host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.0.0.1\"\n"
            )),
            "lab.toml:5: host address 10.0.0.1 is the server's own address"
        );
        assert_eq!(
            err(&format!("{BASE}mode = \"relay\"\n")),
            "lab.toml:3: mode \"relay\": expected \"dhcp\" or \"proxy\""
        );
        assert_eq!(
            err(&format!(
                "{BASE}mode = \"proxy\"\npool = {{ start = \"10.0.0.100\", end = \"10.0.0.110\" }}\n"
            )),
            "lab.toml:4: a proxyDHCP server (mode = \"proxy\") hands out no addresses: remove the pool"
        );
        let proxy = parse(Path::new("lab.toml"), &format!("{BASE}mode = \"proxy\"\n")).unwrap();
        assert!(proxy.server.config().proxy);
    }

    #[test]
    fn subnets_behind_relays_or_on_interfaces() {
        let text = format!(
            "{BASE}interface = \"veth1\"\n\
             [[subnets]]\nsubnet = \"10.2.0.0/24\"\nrouter = \"10.2.0.1\"\n\
             [[subnets]]\nsubnet = \"10.3.0.0/24\"\ninterface = \"veth2\"\nserver = \"10.3.0.1\"\n\
             pool = {{ start = \"10.3.0.100\", end = \"10.3.0.109\" }}\n"
        );
        let s = parse(Path::new("lab.toml"), &text).unwrap();
        let c = s.server.config();
        assert_eq!(c.relayed.len(), 2);
        assert_eq!(c.relayed[0].interface, None);
        assert_eq!(c.relayed[1].interface.as_deref(), Some("veth2"));
        assert_eq!(c.server_of(2), Ipv4Addr::new(10, 3, 0, 1));
        assert_eq!(c.local_subnets().map(|(n, _)| n).collect::<Vec<_>>(), [2]);
        // The older name still reads.
        let old = format!("{BASE}[[relayed]]\nsubnet = \"10.2.0.0/24\"\n");
        assert_eq!(
            parse(Path::new("lab.toml"), &old)
                .unwrap()
                .server
                .config()
                .relayed
                .len(),
            1
        );
        let sub = |body: &str| {
            err(&format!(
                "{BASE}[[subnets]]\nsubnet = \"10.3.0.0/24\"\n{body}"
            ))
        };
        assert_eq!(
            sub("interface = \"veth2\"\n"),
            "lab.toml:5: subnet 10.3.0.0/24 on interface veth2: needs server = (this host's address on it)"
        );
        assert_eq!(
            sub("interface = \"veth2\"\nserver = \"10.4.0.1\"\n"),
            "lab.toml:6: server 10.4.0.1 is not a host address in subnet 10.3.0.0/24"
        );
        assert_eq!(
            sub("interface = \"a-very-long-interface\"\nserver = \"10.3.0.1\"\n"),
            "lab.toml:5: interface name \"a-very-long-interface\" is longer than 15 bytes"
        );
        assert_eq!(
            sub("pool = { start = \"10.3.0.0\", end = \"10.3.0.9\" }\n"),
            "lab.toml:5: pool address 10.3.0.0 is outside the subnet 10.3.0.0/24 (or is its network or broadcast address)"
        );
        assert_eq!(
            sub("router = \"10.0.0.1\"\n"),
            "lab.toml:5: router 10.0.0.1 is outside the subnet 10.3.0.0/24"
        );
        assert_eq!(
            err(&format!(
                "{BASE}[[subnets]]\nsubnet = \"10.3.0.0/24\"\ninterface = \"veth2\"\nserver = \"10.3.0.1\"\n\
                 [[subnets]]\nsubnet = \"10.4.0.0/24\"\ninterface = \"veth2\"\nserver = \"10.4.0.1\"\n"
            )),
            "lab.toml:9: subnet 10.4.0.0: another subnet is on the same interface"
        );
        assert_eq!(
            err(&format!("{BASE}[[subnets]]\nsubnet = \"10.0.0.0/16\"\n")),
            "lab.toml:3: subnet 10.0.0.0 overlaps the server's subnet or another one"
        );
    }
}
