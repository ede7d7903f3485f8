//! [`Report`]: what a provisioning run did, folded from its events, for a
//! summary or a machine-readable report.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddr};

use super::event::{Event, FailedStep, FlowError};
use crate::time::Duration;

/// One boot stage fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageReport {
    /// The file.
    pub file: String,
    /// The server it came from.
    pub server: Ipv4Addr,
    /// Its size.
    pub bytes: u64,
}

/// One manifest file fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
    /// True when the manifest gave a digest and it matched.
    pub verified: bool,
}

/// A run's outcome.
///
/// ```
/// use netboot_core::provision::{Event, Report};
///
/// let mut r = Report::default();
/// r.record(&Event::Assigned { ip: [10, 0, 0, 5].into(), netmask: None,
///                             server: [10, 0, 0, 1].into(), file: "stage1".try_into().unwrap() });
/// r.record(&Event::StageDone { index: 0, file: "stage1".try_into().unwrap(), bytes: 4 });
/// r.record(&Event::Finished);
/// assert!(r.is_success());
/// assert_eq!(r.stages[0].file, "stage1");
/// assert_eq!(r.address, Some([10, 0, 0, 5].into()));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The address BOOTP gave.
    pub address: Option<Ipv4Addr>,
    /// The program a boot ROM chainloaded before the stages, if any.
    pub chain: Option<StageReport>,
    /// Stages fetched, in order (a stage fetched again appears again).
    pub stages: Vec<StageReport>,
    /// The manifest (the last stage).
    pub manifest: Option<String>,
    /// The FTP server.
    pub ftp_server: Option<SocketAddr>,
    /// Files fetched, in manifest order.
    pub files: Vec<FileReport>,
    /// Downloads retried (stages and files).
    pub retries: u32,
    /// True once the flow finished successfully.
    pub finished: bool,
    /// The failure, if the flow failed: which step and the message.
    pub error: Option<(FailedStep, String)>,
    /// How long the run took, when the driver says.
    pub elapsed: Option<Duration>,
    server: Option<Ipv4Addr>,
}

impl Report {
    /// Takes an event into account.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::Assigned { ip, server, .. } => {
                self.address = Some(*ip);
                self.server = Some(*server);
            }
            Event::StageDone { file, bytes, .. } => self.stages.push(StageReport {
                file: file.to_string(),
                server: self.server.unwrap_or(Ipv4Addr::UNSPECIFIED),
                bytes: *bytes,
            }),
            Event::Chainloaded { file, bytes } => {
                self.chain = Some(StageReport {
                    file: file.to_string(),
                    server: self.server.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    bytes: *bytes,
                })
            }
            Event::StageRetry { .. } | Event::FtpRetry { .. } => self.retries += 1,
            Event::ManifestRead { file, server, .. } => {
                self.manifest = Some(file.to_string());
                self.ftp_server = Some(*server);
            }
            Event::FileDone {
                path,
                bytes,
                sha256,
                verified,
                ..
            } => self.files.push(FileReport {
                path: path.to_string(),
                bytes: *bytes,
                sha256: *sha256,
                verified: *verified,
            }),
            Event::Finished => self.finished = true,
            _ => {}
        }
    }

    /// Records the error that ended the flow.
    pub fn fail(&mut self, error: &FlowError) {
        self.error = Some((error.step(), error.to_string()));
    }

    /// True when the flow finished and nothing failed.
    pub fn is_success(&self) -> bool {
        self.finished && self.error.is_none()
    }

    /// Total bytes fetched, stages and files.
    pub fn bytes(&self) -> u64 {
        self.stages.iter().map(|s| s.bytes).sum::<u64>()
            + self.files.iter().map(|f| f.bytes).sum::<u64>()
    }
}
