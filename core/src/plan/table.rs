//! [`ProfileTable`]: an owned stage table for adapters with an allocator,
//! checked as it is built.
//!
//! Every stage must be a valid path inside the served root (`..` refused,
//! absolute names taken as relative to the root) and short enough for the
//! 128-byte `file` field of a BOOTP reply, so that a configuration mistake
//! is reported when the server starts rather than when a client asks.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::stages::{MAX_HWADDR, Profiles};
use crate::bootp::hosts::MAX_FILE;
use crate::path::{self, DotDot, PathError};

/// Why a stage list was refused.
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
    /// The hardware address is empty or longer than 16 bytes.
    #[error("hardware address must be 1 to {MAX_HWADDR} bytes")]
    BadHwAddr,
    /// The client already has a stage list.
    #[error("client listed twice")]
    Duplicate,
}

/// Stage lists per client and for everyone else, owned.
///
/// ```
/// use netboot_core::plan::{ProfileTable, Profiles, StageError};
///
/// let mut t = ProfileTable::new();
/// t.set_default(&["/boot/stage1.ipxe", "manifest.txt"]).unwrap();
/// t.add_client(&[2, 0, 0, 0, 0, 1], &["board1/u-boot.img", "board1/manifest"]).unwrap();
/// assert_eq!(t.stage(&[2, 0, 0, 0, 0, 1], 1), Some("board1/manifest"));
/// assert_eq!(t.stage(&[9; 6], 0), Some("boot/stage1.ipxe"));
/// assert_eq!(t.stage_count(&[9; 6]), Some(2));
/// assert!(matches!(t.add_client(&[3; 6], &["../x"]), Err(StageError::BadPath { index: 0, .. })));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileTable {
    clients: BTreeMap<Vec<u8>, Vec<String>>,
    default: Option<Vec<String>>,
}

impl ProfileTable {
    /// An empty table: nobody is in the plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the stages of every client without its own list.
    pub fn set_default(&mut self, stages: &[&str]) -> Result<(), StageError> {
        self.default = Some(check(stages)?);
        Ok(())
    }

    /// Gives client `hw` its own stages.
    pub fn add_client(&mut self, hw: &[u8], stages: &[&str]) -> Result<(), StageError> {
        if hw.is_empty() || hw.len() > MAX_HWADDR {
            return Err(StageError::BadHwAddr);
        }
        if self.clients.contains_key(hw) {
            return Err(StageError::Duplicate);
        }
        let stages = check(stages)?;
        self.clients.insert(hw.to_vec(), stages);
        Ok(())
    }

    /// The stage list of client `hw` (its own, else the default).
    pub fn stages(&self, hw: &[u8]) -> Option<&[String]> {
        self.clients
            .get(hw)
            .or(self.default.as_ref())
            .map(Vec::as_slice)
    }

    /// True when nobody is in the plan.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.default.is_none()
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
    fn stage_count(&self, hwaddr: &[u8]) -> Option<usize> {
        self.stages(hwaddr).map(<[String]>::len)
    }

    fn stage(&self, hwaddr: &[u8], index: usize) -> Option<&str> {
        self.stages(hwaddr)?.get(index).map(String::as_str)
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
        assert_eq!(t.stage_count(&[2; 6]), None);
        assert_eq!(t.stage(&[1; 6], 0), Some("a"));
        assert_eq!(t.stage(&[1; 6], 1), None);
    }
}
