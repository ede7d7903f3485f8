//! [`ProfileTable`]: an owned profile table (host entries, match rules, a
//! default) for adapters with an allocator, checked as it is built.
//!
//! Every stage must be a valid path inside the served root (`..` refused,
//! absolute names taken as relative to the root) and short enough for the
//! 128-byte `file` field of a BOOTP reply, so that a configuration mistake
//! is reported when the server starts rather than when a client asks.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::rules::{Client, Match};
use super::stages::{MAX_HWADDR, ProfileId, Profiles};
use crate::bootp::extra::{self, ExtraError, ExtraOptions};
use crate::bootp::hosts::MAX_FILE;
use crate::path::{self, DotDot, PathError};

/// Why a stage list or profile was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// The list is empty.
    #[error("a client needs at least one stage")]
    Empty,
    /// Stage `index` is not a valid path in the root.
    #[error("stage {index}: {error}")]
    BadPath {
        /// 0-based stage number.
        index: usize,
        /// What is wrong.
        error: PathError,
    },
    /// Stage `index` names the root directory.
    #[error("stage {index}: names the root directory")]
    Root {
        /// 0-based stage number.
        index: usize,
    },
    /// Stage `index` is longer than a BOOTP `file` field holds.
    #[error("stage {index}: longer than {MAX_FILE} bytes (the BOOTP file field)")]
    TooLong {
        /// 0-based stage number.
        index: usize,
    },
    /// The chainloaded iPXE build is not a valid file in the root.
    #[error("chain: not a file name inside the root, or longer than {MAX_FILE} bytes")]
    BadChain,
    /// The HTTP-boot URL is not `http://` or `https://`, or too long.
    #[error("url: expected http://... or https://..., at most {MAX_FILE} bytes")]
    BadUrl,
    /// The hardware address is empty or longer than 16 bytes.
    #[error("hardware address must be 1 to {MAX_HWADDR} bytes")]
    BadHwAddr,
    /// The client already has a stage list.
    #[error("client listed twice")]
    Duplicate,
    /// More profiles than a [`ProfileId`] numbers.
    #[error("too many profiles")]
    TooMany,
    /// An extra DHCP option is refused.
    #[error("options: {0}")]
    Option(#[from] ExtraError),
}

/// One profile: a named list of stages and what else its clients are told.
///
/// ```
/// use netboot_core::plan::Profile;
///
/// let p = Profile::new("uefi", &["ipxe/boot.ipxe"]).unwrap().chain("ipxe/ipxe.efi").unwrap();
/// assert_eq!(p.stages(), ["ipxe/boot.ipxe"]);
/// assert!(Profile::new("bad", &["../etc/passwd"]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    name: String,
    stages: Vec<String>,
    chain: Option<String>,
    next_server: Option<Ipv4Addr>,
    url: Option<String>,
    options: ExtraOptions,
}

impl Profile {
    /// A profile called `name` (for logs) with these stages, each checked.
    pub fn new(name: &str, stages: &[&str]) -> Result<Self, StageError> {
        Ok(Profile {
            name: name.to_string(),
            stages: check(stages)?,
            chain: None,
            next_server: None,
            url: None,
            options: ExtraOptions::new(),
        })
    }

    /// A profile with no stages that gives HTTP-boot clients `url` (and
    /// nothing to anyone else).
    pub fn http(name: &str, url: &str) -> Result<Self, StageError> {
        Profile {
            name: name.to_string(),
            stages: Vec::new(),
            chain: None,
            next_server: None,
            url: None,
            options: ExtraOptions::new(),
        }
        .url(url)
    }

    /// Boot ROMs that are not iPXE get `file` (an iPXE build) first.
    pub fn chain(mut self, file: &str) -> Result<Self, StageError> {
        let checked = check(&[file]).map_err(|_| StageError::BadChain)?;
        self.chain = checked.into_iter().next();
        Ok(self)
    }

    /// Clients boot from `server` rather than the server's default.
    pub fn next_server(mut self, server: Ipv4Addr) -> Self {
        self.next_server = Some(server);
        self
    }

    /// HTTP-boot clients get `url`.
    pub fn url(mut self, url: &str) -> Result<Self, StageError> {
        let scheme = url.starts_with("http://") || url.starts_with("https://");
        if !scheme || url.len() > MAX_FILE || url.bytes().any(|b| b <= b' ') {
            return Err(StageError::BadUrl);
        }
        self.url = Some(url.to_string());
        Ok(self)
    }

    /// Clients get DHCP option `code` with `value` (see
    /// [`crate::bootp::extra`]: reserved codes, a code twice and values
    /// that do not fit are refused).
    ///
    /// ```
    /// use netboot_core::plan::{Profile, StageError};
    /// use netboot_core::bootp::extra::ExtraError;
    ///
    /// let p = Profile::new("wpad", &["boot.ipxe"]).unwrap().option(252, b"http://10.0.0.1/wpad.dat").unwrap();
    /// assert_eq!(p.options()[0], 252);
    /// assert_eq!(p.option(53, &[1]).unwrap_err(), StageError::Option(ExtraError::Reserved(53)));
    /// ```
    pub fn option(mut self, code: u8, value: &[u8]) -> Result<Self, StageError> {
        extra::push(&mut self.options, code, value)?;
        Ok(self)
    }

    /// The stages, normalised.
    pub fn stages(&self) -> &[String] {
        &self.stages
    }

    /// The extra options, encoded.
    pub fn options(&self) -> &[u8] {
        &self.options
    }
}

/// Profiles per client, by rule and for everyone else, owned.
///
/// Lookups by hardware address are a map search; rules are kept in the
/// order they are tried ([`Match::precedence`], then the order they were
/// added), so the first match is the one that wins.
///
/// ```
/// use netboot_core::plan::rules::{Arch, Client, Match};
/// use netboot_core::plan::Profile;
/// use netboot_core::plan::{ProfileTable, Profiles, StageError};
///
/// let mut t = ProfileTable::new();
/// t.set_default(&["/boot/stage1.ipxe", "manifest.txt"]).unwrap();
/// t.add_client(&[2, 0, 0, 0, 0, 1], &["board1/u-boot.img", "board1/manifest"]).unwrap();
/// let efi = Match { arch: Match::archs(&[Arch::EFI_X64]), ..Match::ANY };
/// t.add_rule(efi, Profile::new("uefi", &["efi/boot.ipxe"]).unwrap()).unwrap();
/// let stage = |c: &Client, i| t.stage(t.select(c).unwrap(), i);
/// assert_eq!(stage(&Client::hw(&[2, 0, 0, 0, 0, 1]), 1), Some("board1/manifest"));
/// assert_eq!(stage(&Client::hw(&[9; 6]), 0), Some("boot/stage1.ipxe"));
/// assert_eq!(stage(&Client { arch: Some(7), ..Client::hw(&[9; 6]) }, 0), Some("efi/boot.ipxe"));
/// assert!(matches!(t.add_client(&[3; 6], &["../x"]), Err(StageError::BadPath { index: 0, .. })));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileTable {
    profiles: Vec<Profile>,
    clients: BTreeMap<Vec<u8>, ProfileId>,
    rules: Vec<(Match, ProfileId)>,
    default: Option<ProfileId>,
}

impl ProfileTable {
    /// An empty table: nobody is in the plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the stages of every client without its own list.
    pub fn set_default(&mut self, stages: &[&str]) -> Result<(), StageError> {
        self.set_default_profile(Profile::new("default", stages)?)
    }

    /// Sets the profile of every client nothing else matches.
    pub fn set_default_profile(&mut self, profile: Profile) -> Result<(), StageError> {
        self.default = Some(self.push(profile)?);
        Ok(())
    }

    /// Gives client `hw` its own stages.
    pub fn add_client(&mut self, hw: &[u8], stages: &[&str]) -> Result<(), StageError> {
        let rule = Match {
            hw: super::rules::hw(hw),
            ..Match::ANY
        };
        if rule.hw.is_none() {
            return Err(StageError::BadHwAddr);
        }
        self.add_rule(rule, Profile::new("", stages)?).map(|_| ())
    }

    /// Adds a profile chosen by `rule`. A rule on the hardware address alone
    /// is a host entry, looked up directly.
    pub fn add_rule(&mut self, rule: Match, profile: Profile) -> Result<ProfileId, StageError> {
        let host_only = Match {
            hw: rule.hw.clone(),
            ..Match::ANY
        };
        if let Some(hw) = rule.hw.clone().filter(|_| rule == host_only) {
            if self.clients.contains_key(hw.as_slice()) {
                return Err(StageError::Duplicate);
            }
            let id = self.push(profile)?;
            self.clients.insert(hw.to_vec(), id);
            return Ok(id);
        }
        let id = self.push(profile)?;
        let at = self
            .rules
            .partition_point(|(r, _)| r.precedence() <= rule.precedence());
        self.rules.insert(at, (rule, id));
        Ok(id)
    }

    /// The stage list client `hw` follows when nothing but its hardware
    /// address is known.
    pub fn stages(&self, hw: &[u8]) -> Option<&[String]> {
        let id = self.select(&Client::hw(hw))?;
        Some(&self.profiles[usize::from(id)].stages)
    }

    /// The profile `id`.
    pub fn profile(&self, id: ProfileId) -> Option<&Profile> {
        self.profiles.get(usize::from(id))
    }

    /// Every stage of every profile, and every chainloaded build (to check
    /// they exist).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.profiles
            .iter()
            .flat_map(|p| p.stages.iter().chain(p.chain.iter()))
            .map(String::as_str)
    }

    /// True when nobody is in the plan.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    fn push(&mut self, profile: Profile) -> Result<ProfileId, StageError> {
        let id = ProfileId::try_from(self.profiles.len())
            .ok()
            .filter(|&id| id < ProfileId::MAX)
            .ok_or(StageError::TooMany)?;
        self.profiles.push(profile);
        Ok(id)
    }
}

fn check(stages: &[&str]) -> Result<Vec<String>, StageError> {
    if stages.is_empty() {
        return Err(StageError::Empty);
    }
    stages
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let p = path::resolve("", s, DotDot::Reject)
                .map_err(|error| StageError::BadPath { index, error })?;
            if p.is_empty() {
                return Err(StageError::Root { index });
            }
            if p.len() > MAX_FILE {
                return Err(StageError::TooLong { index });
            }
            Ok(p.as_str().to_string())
        })
        .collect()
}

impl Profiles for ProfileTable {
    fn select(&self, client: &Client<'_>) -> Option<ProfileId> {
        if let Some(&id) = self.clients.get(client.hw) {
            return Some(id);
        }
        self.rules
            .iter()
            .find(|(rule, _)| rule.matches(client))
            .map(|&(_, id)| id)
            .or(self.default)
    }

    fn stage_count(&self, profile: ProfileId) -> usize {
        self.profile(profile).map_or(0, |p| p.stages.len())
    }

    fn stage(&self, profile: ProfileId, index: usize) -> Option<&str> {
        self.profile(profile)?.stages.get(index).map(String::as_str)
    }

    fn chain(&self, profile: ProfileId) -> Option<&str> {
        self.profile(profile)?.chain.as_deref()
    }

    fn next_server(&self, profile: ProfileId) -> Option<Ipv4Addr> {
        self.profile(profile)?.next_server
    }

    fn url(&self, profile: ProfileId) -> Option<&str> {
        self.profile(profile)?.url.as_deref()
    }

    fn name(&self, profile: ProfileId) -> &str {
        self.profile(profile).map_or("", |p| p.name.as_str())
    }

    fn options(&self, profile: ProfileId) -> &[u8] {
        self.profile(profile).map_or(&[], |p| p.options.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lists_are_refused_with_the_stage_named() {
        let mut t = ProfileTable::new();
        assert!(t.is_empty());
        assert_eq!(t.set_default(&[]), Err(StageError::Empty));
        assert_eq!(
            t.set_default(&["a", "/"]),
            Err(StageError::Root { index: 1 })
        );
        let long = "x".repeat(MAX_FILE + 1);
        assert_eq!(
            t.set_default(&[&long]),
            Err(StageError::TooLong { index: 0 })
        );
        assert_eq!(t.add_client(&[], &["a"]), Err(StageError::BadHwAddr));
        assert_eq!(t.add_client(&[1; 17], &["a"]), Err(StageError::BadHwAddr));
        t.add_client(&[1; 6], &["a"]).unwrap();
        assert_eq!(t.add_client(&[1; 6], &["b"]), Err(StageError::Duplicate));
        assert_eq!(t.select(&Client::hw(&[2; 6])), None);
        let id = t.select(&Client::hw(&[1; 6])).unwrap();
        assert_eq!(t.stage(id, 0), Some("a"));
        assert_eq!(t.stage(id, 1), None);
        assert_eq!(
            Profile::new("x", &["a"]).unwrap().chain("../ipxe.efi"),
            Err(StageError::BadChain)
        );
        assert_eq!(
            Profile::new("x", &["a"]).unwrap().url("tftp://x/y"),
            Err(StageError::BadUrl)
        );
    }

    #[test]
    fn rules_are_tried_most_specific_first_whatever_the_order_added() {
        use crate::plan::rules::Arch;
        let mut t = ProfileTable::new();
        let p = |n: &str| Profile::new(n, &[n]).unwrap();
        t.add_rule(
            Match {
                ipxe: Some(true),
                ..Match::ANY
            },
            p("ipxe"),
        )
        .unwrap();
        t.add_rule(
            Match {
                arch: Match::archs(&[Arch::EFI_X64]),
                ..Match::ANY
            },
            p("efi"),
        )
        .unwrap();
        t.add_rule(
            Match {
                arch: Match::archs(&[Arch::EFI_X64]),
                ipxe: Some(true),
                ..Match::ANY
            },
            p("efi-ipxe"),
        )
        .unwrap();
        t.set_default_profile(p("other")).unwrap();
        let name = |c: &Client| t.name(t.select(c).unwrap()).to_string();
        let efi = Client {
            arch: Some(7),
            ..Client::hw(&[1; 6])
        };
        assert_eq!(name(&efi), "efi");
        assert_eq!(
            name(&Client {
                ipxe_options: true,
                ..efi
            }),
            "efi-ipxe"
        );
        assert_eq!(
            name(&Client {
                ipxe_options: true,
                ..Client::hw(&[1; 6])
            }),
            "ipxe"
        );
        assert_eq!(name(&Client::hw(&[1; 6])), "other");
    }
}
