//! FTP (RFC 959) control-session machines and data-channel helpers.
//!
//! * [`server`]: [`server::ServerSession`], one control connection of a
//!   server, with the generic [`server::pump`] that answers its storage
//!   events from any [`Storage`](crate::storage::Storage);
//! * [`client`]: [`client::ClientSession`], the client side;
//! * [`listing`]: `LIST`/`NLST`/`MLSD`/`MLST` lines and chunked listings;
//! * [`ascii`]: `TYPE A` line-end conversion on the data channel;
//! * [`date`]: civil UTC times for `MDTM` and listings.
//!
//! Command and reply *syntax* lives in [`crate::wire::ftp`]; these modules
//! hold the protocol behaviour. Data connections are TCP streams the driver
//! owns; the machines ask for them through events and are told when they are
//! up, when data moved and when a transfer ended.

pub mod ascii;
pub mod client;
pub mod date;
pub mod listing;
pub mod server;
