//! The driving contract as code: the traits every machine of the crate
//! implements, so that one driver can run any of them.
//!
//! The contract itself (input, commands, output, and the order of
//! draining) is described once, in the [crate docs](crate#the-driving-contract).
//! These traits are its shape:
//!
//! * [`Machine`]: the output half every machine shares, and
//!   `handle_timeout`;
//! * [`DatagramMachine`]: a machine on one datagram socket (a TFTP
//!   [`Transfer`], the BOOTP
//!   [`Client`](crate::bootp::client::Client) and
//!   [`Server`](crate::bootp::server::Server));
//! * [`StreamMachine`]: a machine on one byte stream (the FTP
//!   [`ServerSession`](crate::ftp::server::ServerSession) and
//!   [`ClientSession`](crate::ftp::client::ClientSession));
//! * [`Endpoint`]: a machine on many sockets that it names itself with
//!   [`SocketId`]s and asks its driver to open and close (the TFTP
//!   [`Endpoint`](crate::tftp::Endpoint), the FTP server
//!   [`Endpoint`](crate::ftp::server::Endpoint) and the composed
//!   [`NetbootServer`](crate::server::NetbootServer)). The provisioning
//!   client [`Provision`](crate::provision::Provision) names its sockets
//!   with its own [`Channel`](crate::provision::Channel) and implements
//!   [`Machine`].
//!
//! Every machine keeps its inherent methods of the same names (so calling
//! them needs no trait in scope); the trait implementations forward to
//! them.

use core::net::SocketAddr;

use crate::socket::{Accept, OpenError, Output, SocketId, StreamEvent};
use crate::time::Instant;

/// The output half of the contract, and the timer input.
///
/// After every input or command, drain in this order: [`poll_transmit`]
/// until `None`, then [`poll_timeout`], then [`poll_event`] until `None`;
/// if an event was handled (it may have called a command), drain again.
///
/// [`poll_transmit`]: Machine::poll_transmit
/// [`poll_timeout`]: Machine::poll_timeout
/// [`poll_event`]: Machine::poll_event
pub trait Machine {
    /// What [`Machine::poll_transmit`] describes: a [`Transmit`](crate::Transmit)
    /// for a datagram machine, a byte count for a stream machine, an
    /// [`Output`] naming the socket for an endpoint.
    type Output;
    /// What [`Machine::poll_event`] reports.
    type Event<'a>
    where
        Self: 'a;

    /// Time has passed. Calling it early or twice does nothing.
    fn handle_timeout(&mut self, now: Instant);
    /// Writes the next output into `buf` and describes it; `None` when
    /// there is nothing to send.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Self::Output>;
    /// When [`Machine::handle_timeout`] is due next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next thing that happened, or that the machine needs.
    fn poll_event(&mut self) -> Option<Self::Event<'_>>;
}

/// A machine on one datagram socket.
pub trait DatagramMachine: Machine<Output = crate::Transmit> {
    /// A datagram arrived from `from`.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]);
}

/// A machine on one byte stream. `poll_transmit` returns how many bytes it
/// wrote into the buffer.
pub trait StreamMachine: Machine<Output = usize> {
    /// Bytes arrived; returns how many were consumed. The rest must be
    /// offered again after the next answer or input.
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> usize;
}

/// A machine on many sockets, which it names with [`SocketId`]s and asks
/// its driver to open and close through its events.
///
/// Every stream the endpoint owns takes every byte handed to
/// [`StreamEvent::Data`]: the endpoint keeps what it cannot use yet within
/// a bound, and closes a connection that goes past it. A transmit the
/// stream took only part of is handed back with [`StreamEvent::Unsent`];
/// the endpoint offers those bytes again once [`StreamEvent::Writable`]
/// says there is room.
pub trait Endpoint: Machine<Output = Output> {
    /// A datagram arrived on `socket` from `from`.
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, bytes: &[u8]);
    /// A socket the endpoint asked for is open (bound to the address
    /// given), or could not be opened.
    fn handle_opened(
        &mut self,
        now: Instant,
        socket: SocketId,
        result: Result<SocketAddr, OpenError>,
    );
    /// A connection arrived on the listening socket `listener`, from `peer`
    /// to our address `local`.
    fn handle_accept(
        &mut self,
        now: Instant,
        listener: SocketId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Accept;
    /// Something happened on the stream `socket`.
    fn handle_stream(&mut self, now: Instant, socket: SocketId, event: StreamEvent<'_>);
}

use crate::bootp::client::{Client as BootpClient, Event as BootpClientEvent};
use crate::bootp::hosts::Host;
use crate::bootp::leases::LeaseSlot;
use crate::bootp::policy::BootPolicy;
use crate::bootp::server::{Event as BootpServerEvent, Server as BootpServer};
use crate::tftp::{Event as TftpEvent, Transfer};

impl Machine for Transfer {
    type Output = crate::Transmit;
    type Event<'a> = TftpEvent;
    fn handle_timeout(&mut self, now: Instant) {
        Transfer::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<crate::Transmit> {
        Transfer::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Transfer::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<TftpEvent> {
        Transfer::poll_event(self)
    }
}

impl DatagramMachine for Transfer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        Transfer::handle_datagram(self, now, from, bytes)
    }
}

impl Machine for BootpClient {
    type Output = crate::Transmit;
    type Event<'a> = BootpClientEvent<'a>;
    fn handle_timeout(&mut self, now: Instant) {
        BootpClient::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<crate::Transmit> {
        BootpClient::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        BootpClient::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<BootpClientEvent<'_>> {
        BootpClient::poll_event(self)
    }
}

impl DatagramMachine for BootpClient {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        BootpClient::handle_datagram(self, now, from, bytes)
    }
}

impl<H, L, P> Machine for BootpServer<H, L, P>
where
    H: AsRef<[Host]> + AsMut<[Host]>,
    L: AsRef<[LeaseSlot]> + AsMut<[LeaseSlot]>,
    P: BootPolicy,
{
    type Output = crate::Transmit;
    type Event<'a>
        = BootpServerEvent
    where
        Self: 'a;
    fn handle_timeout(&mut self, now: Instant) {
        BootpServer::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<crate::Transmit> {
        BootpServer::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        BootpServer::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<BootpServerEvent> {
        BootpServer::poll_event(self)
    }
}

impl<H, L, P> DatagramMachine for BootpServer<H, L, P>
where
    H: AsRef<[Host]> + AsMut<[Host]>,
    L: AsRef<[LeaseSlot]> + AsMut<[LeaseSlot]>,
    P: BootPolicy,
{
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        BootpServer::handle_datagram(self, now, from, bytes)
    }
}

impl<S, B> Machine for crate::provision::Provision<S, B>
where
    S: crate::storage::Storage,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    type Output = crate::provision::Outgoing;
    type Event<'a>
        = crate::provision::Event
    where
        Self: 'a;
    fn handle_timeout(&mut self, now: Instant) {
        crate::provision::Provision::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Self::Output> {
        crate::provision::Provision::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        crate::provision::Provision::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<crate::provision::Event> {
        crate::provision::Provision::poll_event(self)
    }
}

impl Machine for crate::ftp::server::ServerSession {
    type Output = usize;
    type Event<'a> = crate::ftp::server::Event<'a>;
    fn handle_timeout(&mut self, now: Instant) {
        crate::ftp::server::ServerSession::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        crate::ftp::server::ServerSession::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        crate::ftp::server::ServerSession::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<crate::ftp::server::Event<'_>> {
        crate::ftp::server::ServerSession::poll_event(self)
    }
}

impl StreamMachine for crate::ftp::server::ServerSession {
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> usize {
        crate::ftp::server::ServerSession::handle_bytes(self, now, bytes)
    }
}

impl Machine for crate::ftp::client::ClientSession {
    type Output = usize;
    type Event<'a> = crate::ftp::client::Event<'a>;
    fn handle_timeout(&mut self, now: Instant) {
        crate::ftp::client::ClientSession::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        crate::ftp::client::ClientSession::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        crate::ftp::client::ClientSession::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<crate::ftp::client::Event<'_>> {
        crate::ftp::client::ClientSession::poll_event(self)
    }
}

impl StreamMachine for crate::ftp::client::ClientSession {
    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> usize {
        crate::ftp::client::ClientSession::handle_bytes(self, now, bytes)
    }
}
