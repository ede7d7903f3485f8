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
//! ```
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
