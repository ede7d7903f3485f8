//! The clients' runtime-neutral halves: what the mio (blocking) and async
//! clients share apart from how they wait on a socket.
//!
//! * [`tftp`]: the client's [`Settings`](tftp::Settings), the transfer they
//!   prepare with its local file, and its result ([`tftp::Stats`],
//!   [`tftp::ClientError`]);
//! * [`bootp`]: the [`RequestOptions`](bootp::RequestOptions), the socket
//!   and core client they prepare, and the [`Assigned`](bootp::Assigned)
//!   outcome;
//! * [`ftp`]: [`FtpError`](ftp::FtpError), and how the core session's
//!   failures map onto it.

pub mod bootp;
pub mod ftp;
pub mod tftp;
