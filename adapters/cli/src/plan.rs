//! The `[plan]` table of `netboot serve`: the default stages, per-client
//! entries and match rules, checked into a core [`ProfileTable`].
//!
//! ```toml
//! [plan]
//! stages = ["boot/stage1.ipxe", "manifest.txt"]   # everyone else
//!
//! [[plan.client]]                  # one machine, by MAC (or client_id)
//! mac = "52:54:00:12:34:56"
//! stages = ["board1/u-boot.img", "board1/manifest.txt"]
//!
//! [[plan.boot]]                    # a class of machines
//! name = "uefi"                    # for logs
//! arch = "efi-x64"                 # option 93: a name, a number, or a list
//! chain = "ipxe/ipxe.efi"          # what a ROM that is not iPXE boots first
//! stages = ["ipxe/uefi.ipxe", "manifest.txt"]   # what iPXE boots
//!
//! [[plan.boot]]
//! arch = ["efi-x64-http", "efi-arm64-http"]
//! url = "http://10.0.0.1/ipxe.efi"  # UEFI HTTP boot
//! # extra DHCP options for these clients: code = value
//! options = { 252 = "http://10.0.0.1/wpad.dat", 42 = { ip = ["10.0.0.1"] }, 23 = { u8 = 64 } }
//! ```
//!
//! An option's value is text (a string, or `{ text = "..." }`), one or
//! more IPv4 addresses (`{ ip = "..." }` or `{ ip = [...] }`), a number
//! (`{ u8 = N }`, `{ u16 = N }`, `{ u32 = N }`), or bytes (`{ hex =
//! "01:02:0a" }`). A code the server sets too (3, 6, 66, 67, ...) takes
//! the rule's value; 0, 51, 52, 53, 54 and 255 are refused.
//!
//! A rule's other conditions are `vendor_class` (a prefix of option 60),
//! `user_class` (option 77), `ipxe` (true or false), `subnet` (the relay's
//! or the server's network, `ADDRESS/PREFIX`) and `client_id` (hex). When
//! several match, the most specific wins: client, architecture, vendor
//! class, user class or iPXE, subnet, in that order.

use std::net::Ipv4Addr;
use std::path::Path;

use netboot_core::bootp::HwAddr;
use netboot_core::plan::rules::{Arch, MAX_ARCHS, Match};
use netboot_core::plan::{Profile, ProfileTable, StageError};
use serde::Deserialize;
use toml::Spanned;

use crate::exit::CliError;

/// The `[plan]` table as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanTable {
    pub stages: Option<Spanned<Vec<String>>>,
    pub reset_after: Option<Spanned<ResetAfter>>,
    pub progress_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub client: Vec<Spanned<Entry>>,
    #[serde(default)]
    pub boot: Vec<Spanned<Entry>>,
}

/// `reset_after`: seconds, or a word (`never`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub enum ResetAfter {
    Secs(u64),
    Word(String),
}

/// One `[[plan.client]]` or `[[plan.boot]]` entry: conditions and the
/// profile they select.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    name: Option<String>,
    mac: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    arch: Option<Spanned<Archs>>,
    vendor_class: Option<Spanned<String>>,
    user_class: Option<Spanned<String>>,
    ipxe: Option<bool>,
    subnet: Option<Spanned<String>>,
    #[serde(default)]
    stages: Option<Spanned<Vec<String>>>,
    chain: Option<Spanned<String>>,
    next_server: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    #[serde(default)]
    options: std::collections::BTreeMap<String, Spanned<OptionValue>>,
}

/// One extra DHCP option's value: text, or a table naming its type.
#[derive(Deserialize)]
#[serde(untagged)]
enum OptionValue {
    Text(String),
    Typed(TypedValue),
}

/// `{ text = ... }`, `{ ip = ... }`, `{ u8 = ... }`, ...: exactly one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedValue {
    text: Option<String>,
    ip: Option<Addresses>,
    u8: Option<u8>,
    u16: Option<u16>,
    u32: Option<u32>,
    hex: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Addresses {
    One(String),
    Many(Vec<String>),
}

impl OptionValue {
    /// The value's bytes on the wire, or what is wrong with it.
    fn bytes(&self) -> Result<Vec<u8>, String> {
        let t = match self {
            OptionValue::Text(text) => return Ok(text.as_bytes().to_vec()),
            OptionValue::Typed(t) => t,
        };
        let given = [
            t.text.is_some(),
            t.ip.is_some(),
            t.u8.is_some(),
            t.u16.is_some(),
            t.u32.is_some(),
            t.hex.is_some(),
        ];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err("give one of text, ip, u8, u16, u32 or hex".into());
        }
        if let Some(ips) = &t.ip {
            let list = match ips {
                Addresses::One(ip) => std::slice::from_ref(ip),
                Addresses::Many(list) => list.as_slice(),
            };
            if list.is_empty() {
                return Err("ip lists no address".into());
            }
            let mut out = Vec::new();
            for ip in list {
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| format!("ip {ip:?} is not an IPv4 address"))?;
                out.extend_from_slice(&ip.octets());
            }
            return Ok(out);
        }
        if let Some(h) = &t.hex {
            return hex(h).ok_or_else(|| format!("hex {h:?}: expected hex bytes, as 01:02:0a"));
        }
        Ok(match (&t.text, t.u8, t.u16, t.u32) {
            (Some(text), ..) => text.as_bytes().to_vec(),
            (_, Some(n), ..) => vec![n],
            (_, _, Some(n), _) => n.to_be_bytes().to_vec(),
            (_, _, _, Some(n)) => n.to_be_bytes().to_vec(),
            _ => Vec::new(),
        })
    }
}

/// `arch`: one value or a list; each a name or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Archs {
    One(ArchValue),
    Many(Vec<ArchValue>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ArchValue {
    Number(u16),
    Name(String),
}

/// Where a configuration error is: the file and its text, for `FILE:LINE`.
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    fn err(&self, span: std::ops::Range<usize>, what: impl std::fmt::Display) -> CliError {
        let line = self.text[..span.start.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1;
        CliError::config(format!("{}:{line}: {what}", self.path.display()))
    }
}

/// The plan's profiles: `default` (from `--stage` flags or the table's
/// `stages`), then the entries.
pub fn profiles(
    src: &Source<'_>,
    plan: &PlanTable,
    default: Option<&[String]>,
) -> Result<ProfileTable, CliError> {
    let mut table = ProfileTable::new();
    if let Some(stages) = default {
        let refs: Vec<&str> = stages.iter().map(String::as_str).collect();
        table.set_default(&refs).map_err(|e| match &plan.stages {
            Some(s) if s.get_ref().as_slice() == stages => {
                src.err(s.span(), format!("plan stages: {e}"))
            }
            _ => CliError::config(format!("--stage: {e}")),
        })?;
    }
    for (kind, entries) in [("client", &plan.client), ("boot", &plan.boot)] {
        for (i, entry) in entries.iter().enumerate() {
            let span = entry.span();
            let entry = entry.get_ref();
            let what = entry
                .name
                .clone()
                .unwrap_or_else(|| format!("plan.{kind} entry {}", i + 1));
            let rule = conditions(src, &what, entry)?;
            if kind == "client" && !rule.is_host() {
                return Err(src.err(span, format!("{what}: a [[plan.client]] needs mac or client_id (use [[plan.boot]] for rules)")));
            }
            let profile = profile(src, &what, span.clone(), entry)?;
            table
                .add_rule(rule, profile)
                .map_err(|e| src.err(span, format!("{what}: {e}")))?;
        }
    }
    Ok(table)
}

fn conditions(src: &Source<'_>, what: &str, e: &Entry) -> Result<Match, CliError> {
    let mut rule = Match::ANY;
    if let Some(mac) = &e.mac {
        let hw: HwAddr = mac.get_ref().parse().map_err(|err| {
            src.err(
                mac.span(),
                format!("{what}: mac {:?}: {err}", mac.get_ref()),
            )
        })?;
        rule.hw = netboot_core::plan::rules::hw(hw.as_bytes());
    }
    if let Some(id) = &e.client_id {
        let bytes = hex(id.get_ref()).ok_or_else(|| {
            src.err(
                id.span(),
                format!(
                    "{what}: client_id {:?}: expected hex bytes, as 01:52:54:00:12:34:56",
                    id.get_ref()
                ),
            )
        })?;
        rule.client_id = Some(
            Match::class(&bytes)
                .map_err(|err| src.err(id.span(), format!("{what}: client_id {err}")))?,
        );
    }
    if let Some(archs) = &e.arch {
        let values: Vec<&ArchValue> = match archs.get_ref() {
            Archs::One(a) => vec![a],
            Archs::Many(list) => list.iter().collect(),
        };
        if values.is_empty() || values.len() > MAX_ARCHS {
            return Err(src.err(
                archs.span(),
                format!("{what}: arch lists 1 to {MAX_ARCHS} architectures"),
            ));
        }
        for v in values {
            let arch = match v {
                ArchValue::Number(n) => Arch(*n),
                ArchValue::Name(name) => name.parse().map_err(|err| {
                    src.err(archs.span(), format!("{what}: arch {name:?}: {err}"))
                })?,
            };
            let _ = rule.arch.push(arch);
        }
    }
    let class = |v: &Option<Spanned<String>>, field: &str| -> Result<_, CliError> {
        v.as_ref()
            .map(|v| {
                if v.get_ref().is_empty() {
                    return Err(src.err(v.span(), format!("{what}: {field} is empty")));
                }
                Match::class(v.get_ref().as_bytes())
                    .map_err(|err| src.err(v.span(), format!("{what}: {field} {err}")))
            })
            .transpose()
    };
    rule.vendor_class = class(&e.vendor_class, "vendor_class")?;
    rule.user_class = class(&e.user_class, "user_class")?;
    rule.ipxe = e.ipxe;
    if let Some(net) = &e.subnet {
        let parsed = net.get_ref().split_once('/').and_then(|(a, b)| {
            let a: Ipv4Addr = a.parse().ok()?;
            let b: u8 = b.parse().ok().filter(|&b| b <= 32)?;
            Some((a, b))
        });
        rule.subnet = Some(parsed.ok_or_else(|| {
            src.err(
                net.span(),
                format!("{what}: subnet {:?} is not ADDRESS/PREFIX", net.get_ref()),
            )
        })?);
    }
    Ok(rule)
}

fn profile(
    src: &Source<'_>,
    what: &str,
    span: std::ops::Range<usize>,
    e: &Entry,
) -> Result<Profile, CliError> {
    let at = |s: Option<std::ops::Range<usize>>, err: StageError| {
        src.err(s.unwrap_or(span.clone()), format!("{what}: {err}"))
    };
    let name = e.name.as_deref().unwrap_or("");
    let mut profile = match (&e.stages, &e.url) {
        (Some(stages), _) => {
            let refs: Vec<&str> = stages.get_ref().iter().map(String::as_str).collect();
            Profile::new(name, &refs).map_err(|err| at(Some(stages.span()), err))?
        }
        (None, Some(url)) => {
            Profile::http(name, url.get_ref()).map_err(|err| at(Some(url.span()), err))?
        }
        (None, None) => {
            return Err(src.err(
                span,
                format!("{what}: needs stages (or url, for HTTP boot)"),
            ));
        }
    };
    if let (Some(_), Some(url)) = (&e.stages, &e.url) {
        profile = profile
            .url(url.get_ref())
            .map_err(|err| at(Some(url.span()), err))?;
    }
    if let Some(chain) = &e.chain {
        profile = profile
            .chain(chain.get_ref())
            .map_err(|err| at(Some(chain.span()), err))?;
    }
    if let Some(ns) = &e.next_server {
        let ip: Ipv4Addr = ns.get_ref().parse().map_err(|_| {
            src.err(
                ns.span(),
                format!(
                    "{what}: next_server {:?} is not an IPv4 address",
                    ns.get_ref()
                ),
            )
        })?;
        profile = profile.next_server(ip);
    }
    let mut options = Vec::new();
    for (code, value) in &e.options {
        let bad = |why: String| src.err(value.span(), format!("{what}: option {code}: {why}"));
        let number: u8 = code
            .parse()
            .map_err(|_| bad("not an option code (1 to 254)".into()))?;
        options.push((number, value.get_ref().bytes().map_err(bad)?, value.span()));
    }
    // In code order, whatever order they were written in.
    options.sort_by_key(|(code, ..)| *code);
    for (code, bytes, span) in options {
        profile = profile
            .option(code, &bytes)
            .map_err(|err| at(Some(span), err))?;
    }
    Ok(profile)
}

/// `01:52:54:00:12:34:56`, `01-52-...` or `015254001234`: bytes.
fn hex(text: &str) -> Option<Vec<u8>> {
    let digits: String = text.chars().filter(|c| !matches!(c, ':' | '-')).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netboot_core::plan::Profiles;
    use netboot_core::plan::rules::Client;

    fn load(text: &str) -> Result<ProfileTable, String> {
        #[derive(Deserialize)]
        struct File {
            plan: PlanTable,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let src = Source {
            path: Path::new("lab.toml"),
            text,
        };
        let default = file.plan.stages.as_ref().map(|s| s.get_ref().clone());
        profiles(&src, &file.plan, default.as_deref()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_mixed_fleet_reads_as_written() {
        let t = load(
            r#"
[plan]
stages = ["default/one"]

[[plan.client]]
mac = "52:54:00:00:00:01"
stages = ["host/one"]

[[plan.boot]]
name = "bios"
arch = "bios"
chain = "bios/undionly.kpxe"
stages = ["bios/boot.ipxe"]

[[plan.boot]]
name = "uefi"
arch = ["efi-x64", 9]
chain = "efi/ipxe.efi"
stages = ["efi/boot.ipxe"]
next_server = "10.0.0.7"

[[plan.boot]]
name = "http"
arch = "efi-x64-http"
url = "http://10.0.0.1/efi/ipxe.efi"

[[plan.boot]]
name = "uboot"
vendor_class = "U-Boot"
subnet = "10.2.0.0/16"
stages = ["uboot/image"]
"#,
        )
        .unwrap();
        let name = |c: &Client| t.select(c).map(|p| t.name(p).to_string());
        let mac = [0x52, 0x54, 0, 0, 0, 2];
        assert_eq!(
            name(&Client::hw(&[0x52, 0x54, 0, 0, 0, 1])).as_deref(),
            Some("")
        );
        assert_eq!(
            name(&Client {
                arch: Some(9),
                ..Client::hw(&mac)
            })
            .as_deref(),
            Some("uefi")
        );
        assert_eq!(
            name(&Client {
                arch: Some(16),
                ..Client::hw(&mac)
            })
            .as_deref(),
            Some("http")
        );
        let uboot = Client {
            arch: Some(0x16),
            vendor_class: Some(b"U-Boot.armv8"),
            network: Ipv4Addr::new(10, 2, 3, 1),
            ..Client::hw(&mac)
        };
        assert_eq!(name(&uboot).as_deref(), Some("uboot"));
        let elsewhere = Client {
            network: Ipv4Addr::new(10, 3, 0, 1),
            ..uboot
        };
        assert_eq!(name(&elsewhere).as_deref(), Some("default"));
        let uefi = t
            .select(&Client {
                arch: Some(7),
                ..Client::hw(&mac)
            })
            .unwrap();
        assert_eq!(t.chain(uefi), Some("efi/ipxe.efi"));
        assert_eq!(t.next_server(uefi), Some(Ipv4Addr::new(10, 0, 0, 7)));
    }

    #[test]
    fn mistakes_name_the_line() {
        // Each text follows a `[plan]` line: line 1.
        let cases = [
            (
                "[[plan.boot]]\narch = \"efi-x65\"\nstages = [\"a\"]\n",
                "lab.toml:3: plan.boot entry 1: arch \"efi-x65\": unknown client architecture",
            ),
            (
                "[[plan.boot]]\nname = \"x\"\narch = \"bios\"\n",
                "lab.toml:2: x: needs stages",
            ),
            (
                "[[plan.boot]]\nchain = \"../ipxe.efi\"\nstages = [\"a\"]\n",
                "lab.toml:3: plan.boot entry 1: chain: not a file name",
            ),
            (
                "[[plan.boot]]\nsubnet = \"10.0.0.0\"\nstages = [\"a\"]\n",
                "lab.toml:3: plan.boot entry 1: subnet \"10.0.0.0\" is not ADDRESS/PREFIX",
            ),
            (
                "[[plan.boot]]\nurl = \"ftp://x/y\"\n",
                "lab.toml:3: plan.boot entry 1: url: expected http://",
            ),
            (
                "[[plan.client]]\narch = \"bios\"\nstages = [\"a\"]\n",
                "lab.toml:2: plan.client entry 1: a [[plan.client]] needs mac or client_id",
            ),
            (
                "[[plan.client]]\nmac = \"52:54:00:00:00:01\"\nstages = [\"a\"]\n\
                 [[plan.client]]\nmac = \"52:54:00:00:00:01\"\nstages = [\"b\"]\n",
                "lab.toml:5: plan.client entry 2: client listed twice",
            ),
            (
                "[[plan.boot]]\nclient_id = \"zz\"\nstages = [\"a\"]\n",
                "lab.toml:3: plan.boot entry 1: client_id \"zz\": expected hex bytes",
            ),
        ];
        for (text, want) in cases {
            let got = load(&format!("[plan]\n{text}")).err().unwrap_or_default();
            assert!(got.contains(want), "{text:?}: got {got:?}, want {want:?}");
        }
        let unknown =
            load("[plan]\n[[plan.boot]]\narch = \"bios\"\nstages = [\"a\"]\nfile = \"x\"\n");
        assert!(unknown.unwrap_err().contains("unknown field `file`"));
    }

    #[test]
    fn options_are_typed_checked_and_in_code_order() {
        let t = load(
            r#"
[plan]
[[plan.boot]]
name = "uefi"
arch = "efi-x64"
stages = ["efi/boot.ipxe"]
options = { 252 = "http://x/w", 42 = { ip = ["10.0.0.1", "10.0.0.2"] }, 3 = { ip = "10.0.0.9" }, 23 = { u8 = 64 }, 57 = { u16 = 1400 }, 2 = { u32 = 7 }, 43 = { hex = "01:04:0a" }, 12 = { text = "x" } }
"#,
        )
        .unwrap();
        let id = t
            .select(&Client {
                arch: Some(7),
                ..Client::hw(&[2; 6])
            })
            .unwrap();
        let want: Vec<u8> = [
            &[2, 4, 0, 0, 0, 7][..],
            &[3, 4, 10, 0, 0, 9],
            &[12, 1, b'x'],
            &[23, 1, 64],
            &[42, 8, 10, 0, 0, 1, 10, 0, 0, 2],
            &[43, 3, 1, 4, 10],
            &[57, 2, 0x05, 0x78],
            &[252, 10],
            b"http://x/w",
        ]
        .concat();
        assert_eq!(t.options(id), want.as_slice());
        let cases = [
            (
                "{ 53 = { u8 = 1 } }",
                "lab.toml:5: x: options: option 53 is the server's own",
            ),
            (
                "{ 0 = \"a\" }",
                "lab.toml:5: x: options: option 0 is the server's own",
            ),
            (
                "{ 256 = \"a\" }",
                "lab.toml:5: x: option 256: not an option code",
            ),
            (
                "{ wpad = \"a\" }",
                "lab.toml:5: x: option wpad: not an option code",
            ),
            (
                "{ 3 = { ip = \"10.0.0\" } }",
                "lab.toml:5: x: option 3: ip \"10.0.0\" is not an IPv4 address",
            ),
            (
                "{ 3 = { ip = [] } }",
                "lab.toml:5: x: option 3: ip lists no address",
            ),
            (
                "{ 3 = { u8 = 1, u16 = 2 } }",
                "lab.toml:5: x: option 3: give one of text, ip, u8, u16, u32 or hex",
            ),
            (
                "{ 43 = { hex = \"0g\" } }",
                "lab.toml:5: x: option 43: hex \"0g\": expected hex bytes",
            ),
        ];
        for (options, want) in cases {
            let text = format!(
                "[plan]\n[[plan.boot]]\nname = \"x\"\nstages = [\"a\"]\noptions = {options}\n"
            );
            let got = load(&text).err().unwrap_or_default();
            assert!(got.contains(want), "{options}: got {got:?}, want {want:?}");
        }
        let long = "x".repeat(256);
        let got = load(&format!(
            "[plan]\n[[plan.boot]]\nname = \"x\"\nstages = [\"a\"]\n[plan.boot.options]\n77 = \"{long}\"\n"
        ))
        .unwrap_err();
        assert!(
            got.starts_with("lab.toml:6: x: options: option 77: value longer than 255 bytes"),
            "{got}"
        );
    }

    #[test]
    fn client_ids_are_hex() {
        assert_eq!(
            hex("01:52:54:00:12:34:56"),
            Some(vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(hex("0152"), Some(vec![1, 0x52]));
        assert_eq!(hex("015"), None);
        assert_eq!(hex(""), None);
        assert_eq!(hex("é1"), None);
    }
}
