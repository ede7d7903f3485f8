//! What an FTP server serves and to whom, whichever runtime runs it: the
//! configuration, the accounts' password hashes and the checked site.
//!
//! * [`config`][]: [`FtpConfig`], the `[ftp]` table of the configuration file;
//! * [`auth`][]: argon2 password hashes and the verifier thread;
//! * [`site`][]: [`site::Site`], the checked roots and accounts, and the
//!   listeners.

pub mod auth;
pub mod config;
pub mod site;

pub use config::{FtpConfig, FtpUser};
