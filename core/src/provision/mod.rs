//! The provisioning client flow as one sans-IO machine, [`Provision`]:
//!
//! 1. ask BOOTP (broadcast, or unicast to one server) for an address and a
//!    boot file;
//! 2. fetch that file over TFTP from the server the reply names, into the
//!    store under its own path (a boot ROM that chainloads,
//!    [`Config::chain`], runs the first file it fetches instead: the
//!    program starts again at 1 with its own identity, and its files are
//!    the stages);
//! 3. ask again, and fetch again, until BOOTP stays silent for
//!    [`Config::silence`] after a stage (the server's plan stops answering
//!    a client that has every stage: see [`crate::plan`]);
//! 4. read the last stage as the manifest ([`crate::plan::manifest`]);
//! 5. log in over FTP to the manifest's `ftp-server:`, or the boot server,
//!    and fetch every file it names, checking each SHA-256 the manifest
//!    gives.
//!
//! The machine owns the BOOTP client, TFTP transfer and FTP session machines
//! of this crate and drives them itself; its driver only moves bytes and
//! opens what it is asked to open. The mio adapter, the async adapter and
//! the simulator's fleet of clients all run this one flow.
//!
//! # Driving it
//!
//! The contract is the crate's (see the crate docs), with a [`Channel`] on
//! the I/O:
//!
//! * input: [`Provision::handle_datagram`] for the BOOTP socket and the
//!   TFTP socket, [`Provision::handle_datagram`] with
//!   [`Channel::FtpControl`] for bytes read from the FTP control
//!   connection, [`Provision::handle_data`] for bytes read from the data
//!   connection, [`Provision::handle_timeout`];
//! * output, drained after every input in this order:
//!   [`Provision::poll_transmit`] (each [`Outgoing`] says which socket),
//!   [`Provision::poll_timeout`], [`Provision::poll_event`];
//! * the driver answers the [`Event`]s that ask for something:
//!   [`Event::OpenTftp`] with [`Provision::tftp_opened`],
//!   [`Event::ConnectFtp`] with [`Provision::ftp_connected`] (or
//!   [`Provision::ftp_connect_failed`]), [`Event::OpenData`] with
//!   [`Provision::data_connected`], [`Event::ReadData`] by feeding the data
//!   connection to [`Provision::handle_data`] and then
//!   [`Provision::data_end`]; [`Event::CloseFtp`] and [`Event::BootDone`]
//!   let it close what is no longer needed. A closed control connection is
//!   reported with [`Provision::ftp_closed`].
//!
//! The flow ends with [`Event::Finished`] or [`Event::Failed`]
//! ([`Provision::error`] says why, and [`FlowError::step`] which part of
//! the flow failed).
//!
//! # Decisions
//!
//! * **Silence ends the boot phase only after a stage arrived.** Silence
//!   before any answer is [`FlowError::NoBootpAnswer`]; silence after a
//!   failed download means that failure stands. A server that is down for
//!   longer than [`Config::silence`] right after a stage is
//!   indistinguishable from one that has finished; the manifest check then
//!   catches a stage that is not a manifest.
//! * **A failed download goes back to BOOTP** before it is tried again (at
//!   most [`Config::stage_attempts`] times): after a server restart the
//!   server, not the client, knows which stage is current. Only failures a
//!   restart or a lossy link explain are retried (time-outs, ERROR 0,
//!   ERROR 5 from the transfer's own server port, which a restarted server
//!   sends when a new transfer took that port, protocol violations); "file
//!   not found" and the like are final.
//! * **Downloads are written aside** and published only whole: a stage
//!   when its last block is stored, a manifest file when it arrived whole
//!   and its digest matched. Nothing fetched twice, or cut short, is ever
//!   left half written.
//! * **An answer naming the stage just fetched** most likely means the
//!   server has not yet processed our final ACK. While the download that
//!   fetched it still lingers (answering the server's repeats of the last
//!   block, see [`TransferConfig::dally`](crate::tftp::TransferConfig)),
//!   the client only asks again every 100 ms: fetching the stage anew
//!   would end the transfer whose repeated ACK moves the server on. Then
//!   it asks once more after 100 ms, then fetches the stage again (the
//!   server may have missed the download entirely), and gives up with
//!   [`FlowError::NotAdvancing`] when the answer does not change.
//! * **SHA-256 is computed here, in the core**, with the no_std `sha2`
//!   crate, as the bytes pass through on their way to storage: one pass
//!   over data already in cache, no second read of the file (which on
//!   flash would be slow), and every adapter verifies the same way. A
//!   file whose digest differs is discarded and the flow fails with
//!   [`FlowError::Digest`].
//!
//! # Memory
//!
//! No allocation. The machine holds one BOOTP client, one TFTP transfer
//! and one FTP session (about 8 KiB together), a few paths and a short
//! event queue: about 16 KiB in all, plus the manifest buffer the caller
//! lends (its size is the largest manifest accepted).

mod config;
mod event;
mod fetch;
mod machine;
#[cfg(feature = "alloc")]
mod report;
#[cfg(test)]
mod tests;

pub use config::{Config, ConfigError, Identity, MAX_PASSWORD, MAX_USER};
pub use event::{
    Channel, Event, FailedStep, FlowError, FtpFailure, MAX_MESSAGE, Message, Outgoing, Progress,
};
pub use machine::{ApiError, Provision};
#[cfg(feature = "alloc")]
pub use report::{FileReport, Report, StageReport};
