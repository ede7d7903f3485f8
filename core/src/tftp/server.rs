//! The request acceptor of a TFTP server: what happens to a datagram that
//! arrives on the well-known port (RFC 1350 section 4, RFC 2347).
//!
//! [`Server::handle_request`] parses an RRQ or WRQ, resolves its file name
//! with [`DotDot::Reject`] (a leading `/` means the served root; `..`, NUL
//! and control characters are refused with ERROR 2), refuses WRQs on a
//! read-only server (ERROR 2) and reads the options (an invalid value of a
//! known option gives ERROR 8). [`Server::start_read`] and
//! [`Server::start_write`] then negotiate and build the [`Transfer`] the
//! driver puts on a fresh socket. The acceptor keeps no state and touches no
//! storage; [`file::accept`](super::file::accept) combines it with a
//! [`Storage`](crate::storage::Storage).
//!
//! Answers to what is not a request: an ERROR is never answered, a datagram
//! shorter than an opcode is dropped, and any other packet (DATA, ACK, OACK
//! or an unknown opcode) gets ERROR 4. A `mail` or unknown mode gets ERROR 4,
//! a malformed option list ERROR 8.
//!
//! Departure: a retransmitted request (same peer address while its transfer
//! runs) must be recognised by the driver, which knows its transfers, and
//! dropped; otherwise the peer would get two transfers.

use core::net::SocketAddr;

use super::options::{self, Direction, Limits};
use super::transfer::{Transfer, TransferConfig};
use super::{ApiError, Ignored};
use crate::Transmit;
use crate::path::{self, DotDot, PathBuf, PathError};
use crate::storage::WriteMode;
use crate::time::Instant;
use crate::wire::tftp::{ErrorCode, Mode, Packet, ParseError};

/// Policy of a TFTP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Option caps and the upload limit.
    pub limits: Limits,
    /// Accept WRQs at all.
    pub writable: bool,
    /// Let a WRQ replace an existing file (otherwise ERROR 6).
    pub overwrite: bool,
    /// Timers and retries of the transfers.
    pub transfer: TransferConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            writable: false,
            overwrite: false,
            transfer: TransferConfig {
                dally: crate::time::Duration::from_millis(500),
                ..TransferConfig::default()
            },
        }
    }
}

/// A request the acceptor found acceptable so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Who asked (the new transfer's peer).
    pub peer: SocketAddr,
    /// RRQ or WRQ.
    pub direction: Direction,
    /// The normalised path inside the served root.
    pub path: PathBuf,
    /// Transfer mode.
    pub mode: Mode,
    /// The known options requested.
    pub options: options::Request,
}

/// Why a datagram on the server port does not start a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Answer with this ERROR.
    Error {
        /// The code.
        code: ErrorCode,
        /// The message.
        message: &'static str,
    },
    /// Drop it silently.
    Drop(Ignored),
}

impl Refusal {
    const fn error(code: ErrorCode, message: &'static str) -> Refusal {
        Refusal::Error { code, message }
    }

    /// Writes the ERROR answer (if any) into `buf`, addressed to `to`.
    pub fn emit(&self, to: SocketAddr, buf: &mut [u8]) -> Option<Transmit> {
        match *self {
            Refusal::Error { code, message } => {
                let len = Packet::Error { code, message }.emit(buf).ok()?;
                Some(Transmit::to(to, len))
            }
            Refusal::Drop(_) => None,
        }
    }
}

/// The stateless acceptor of RRQs and WRQs.
///
/// ```
/// use netboot_core::tftp::{Direction, Refusal, Server, ServerConfig};
/// use netboot_core::wire::tftp::ErrorCode;
///
/// let server = Server::new(ServerConfig::default());
/// let peer = "192.0.2.9:2000".parse().unwrap();
/// let req = server.handle_request(peer, b"\x00\x01/boot//x.bin\x00octet\x00").unwrap();
/// assert_eq!((req.direction, req.path.as_str()), (Direction::Read, "boot/x.bin"));
///
/// let refused = server.handle_request(peer, b"\x00\x01../etc/passwd\x00octet\x00");
/// assert!(matches!(refused, Err(Refusal::Error { code: ErrorCode::AccessViolation, .. })));
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    config: ServerConfig,
}

impl Server {
    /// An acceptor with this policy.
    pub const fn new(config: ServerConfig) -> Self {
        Server { config }
    }

    /// The policy.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// How uploads open their file: create-only unless `overwrite`.
    pub fn write_mode(&self) -> WriteMode {
        if self.config.overwrite {
            WriteMode::Replace
        } else {
            WriteMode::CreateNew
        }
    }

    /// Checks a datagram that arrived on the server port from `from`.
    pub fn handle_request(&self, from: SocketAddr, bytes: &[u8]) -> Result<Request, Refusal> {
        let packet = Packet::parse(bytes).map_err(|e| match e {
            ParseError::Truncated if bytes.len() < 2 => Refusal::Drop(Ignored::Malformed(e)),
            ParseError::MailMode => Refusal::error(
                ErrorCode::IllegalOperation,
                "mode \"mail\" is not supported",
            ),
            ParseError::UnknownMode => {
                Refusal::error(ErrorCode::IllegalOperation, "unknown transfer mode")
            }
            ParseError::OptionWithoutValue | ParseError::EmptyOptionName => {
                Refusal::error(ErrorCode::OptionRefused, "malformed option list")
            }
            ParseError::UnknownOpcode(_) => {
                Refusal::error(ErrorCode::IllegalOperation, "illegal TFTP operation")
            }
            _ => Refusal::error(ErrorCode::IllegalOperation, "malformed request"),
        })?;
        let (direction, filename, mode, opts) = match packet {
            Packet::Rrq {
                filename,
                mode,
                options,
            } => (Direction::Read, filename, mode, options),
            Packet::Wrq {
                filename,
                mode,
                options,
            } => (Direction::Write, filename, mode, options),
            Packet::Error { .. } => return Err(Refusal::Drop(Ignored::Stale)),
            _ => {
                return Err(Refusal::error(
                    ErrorCode::IllegalOperation,
                    "illegal TFTP operation",
                ));
            }
        };
        let path = path::resolve("", filename, DotDot::Reject).map_err(|e| match e {
            PathError::ParentComponent => {
                Refusal::error(ErrorCode::AccessViolation, "'..' is not allowed")
            }
            PathError::ControlCharacter => {
                Refusal::error(ErrorCode::AccessViolation, "illegal character in file name")
            }
            _ => Refusal::error(ErrorCode::AccessViolation, "file name too long"),
        })?;
        if direction == Direction::Write && !self.config.writable {
            return Err(Refusal::error(
                ErrorCode::AccessViolation,
                "server is read-only",
            ));
        }
        let options = options::Request::parse(opts).map_err(|e| {
            Refusal::error(
                ErrorCode::OptionRefused,
                match e {
                    options::OptionError::InvalidValue("blksize") => "invalid blksize",
                    options::OptionError::InvalidValue("windowsize") => "invalid windowsize",
                    options::OptionError::InvalidValue("timeout") => "invalid timeout",
                    options::OptionError::InvalidValue("tsize") => "invalid tsize",
                    _ => "invalid option",
                },
            )
        })?;
        Ok(Request {
            peer: from,
            direction,
            path,
            mode,
            options,
        })
    }

    /// Builds the transfer that sends a file of `file_len` bytes for an
    /// accepted RRQ.
    pub fn start_read(
        &self,
        now: Instant,
        req: &Request,
        file_len: u64,
    ) -> Result<Transfer, Refusal> {
        let (neg, oack) = options::negotiate(
            &req.options,
            &self.config.limits,
            Direction::Read,
            req.mode,
            Some(file_len),
        )
        .map_err(|_| Refusal::error(ErrorCode::DiskFull, "too large"))?;
        Transfer::server_read(
            now,
            &self.config.transfer,
            req.peer,
            &req.path,
            req.mode,
            neg,
            oack,
        )
        .map_err(name_too_long)
    }

    /// Builds the transfer that receives an accepted WRQ; refuses an
    /// announced `tsize` over the upload limit with ERROR 3. Call it before
    /// opening the file, so that a refused upload creates nothing.
    pub fn start_write(&self, now: Instant, req: &Request) -> Result<Transfer, Refusal> {
        let limits = &self.config.limits;
        let (neg, oack) =
            options::negotiate(&req.options, limits, Direction::Write, req.mode, None).map_err(
                |_| {
                    Refusal::error(
                        ErrorCode::DiskFull,
                        "announced size exceeds the upload limit",
                    )
                },
            )?;
        Transfer::server_write(
            now,
            &self.config.transfer,
            req.peer,
            &req.path,
            req.mode,
            neg,
            oack,
            limits.max_upload,
        )
        .map_err(name_too_long)
    }
}

fn name_too_long(_: ApiError) -> Refusal {
    Refusal::error(ErrorCode::AccessViolation, "file name too long")
}
