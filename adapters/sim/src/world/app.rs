//! What a program on a simulated host sees: the [`App`] trait it
//! implements, the [`Cx`] it is handed in every callback (its host's
//! sockets, streams, clock, disk and random generator), and the events
//! and identities of its streams.

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use netboot_core::rng::Rng;
use netboot_core::time::Instant;

use super::net::Net;
use super::stream::{STREAM_WINDOW, StreamState};
use crate::store::Disk;

/// A host's index in the simulation.
pub type HostId = usize;

/// A byte stream's identity.
pub type StreamId = u64;

/// What happened on a byte stream, as its end sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// A connection arrived on a listening port.
    Accepted {
        /// Our address.
        local: SocketAddr,
        /// The connecting end's address.
        peer: SocketAddr,
    },
    /// Our connection attempt succeeded.
    Connected,
    /// Our connection attempt failed (nobody listening, or no route).
    Refused,
    /// Bytes arrived, in order.
    Data(&'a [u8]),
    /// Bytes we wrote were acknowledged and there is room to write again.
    Writable,
    /// The peer will send nothing more.
    Eof,
    /// The connection was reset; nothing more will arrive or leave.
    Reset,
}

/// A program running on a simulated host.
///
/// Every callback gets a [`Cx`] for the host's sockets, clock, storage and
/// random generator. After each callback the simulator asks
/// [`App::deadline`] when to call [`App::timeout`] next.
pub trait App: Any {
    /// The host (re)booted.
    fn start(&mut self, cx: &mut Cx<'_>);
    /// A datagram arrived on a bound port. `bytes` may be changed in place.
    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        let _ = (cx, local, from, bytes);
    }
    /// Something happened on one of the host's streams.
    fn stream(&mut self, cx: &mut Cx<'_>, id: StreamId, event: StreamEvent<'_>) {
        let _ = (cx, id, event);
    }
    /// The deadline from [`App::deadline`] has passed.
    fn timeout(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }
    /// When [`App::timeout`] is due next, in the host's time.
    fn deadline(&mut self) -> Option<Instant> {
        None
    }
}

/// Builds a host's program at each boot.
pub type Boot = Box<dyn FnMut() -> Box<dyn App>>;

/// What a program may do on its host, during one callback.
pub struct Cx<'a> {
    pub(super) net: &'a mut Net,
    pub(super) host: HostId,
    /// The host's disk: a handle a program may use as [`Storage`](netboot_core::storage::Storage),
    /// borrow (`cx.store.borrow().get(path)`) or clone to keep.
    pub store: &'a mut Disk,
    /// The host's random generator (seeded from the run's seed).
    pub rng: &'a mut Rng,
}

impl Cx<'_> {
    /// The host's clock.
    pub fn now(&self) -> Instant {
        self.net.local_now(self.host)
    }

    /// Which host this is.
    pub fn host(&self) -> HostId {
        self.host
    }

    /// The host's address (0.0.0.0 before it has one).
    pub fn ip(&self) -> Ipv4Addr {
        self.net.nodes[self.host].ip
    }

    /// Gives the host an address (a client configured by BOOTP). Two hosts
    /// claiming one address is recorded as a conflict ([`Sim::conflicts`](super::Sim::conflicts)).
    pub fn set_ip(&mut self, ip: Ipv4Addr) {
        let h = self.host;
        let old = self.net.nodes[h].ip;
        if old == ip {
            return;
        }
        if self.net.by_ip.get(&old) == Some(&h) {
            self.net.by_ip.remove(&old);
        }
        if !ip.is_unspecified() {
            if let Some(&other) = self.net.by_ip.get(&ip)
                && other != h
            {
                self.net.conflicts.push((ip, other, h));
            }
            self.net.by_ip.insert(ip, h);
        }
        self.net.nodes[h].ip = ip;
        self.net.record(20, &[&ip.octets()], || {
            format!("host {h} takes address {ip}")
        });
    }

    /// Binds a UDP port; `false` if it is taken.
    pub fn bind(&mut self, port: u16) -> bool {
        self.net.nodes[self.host].ports.insert(port)
    }

    /// Binds a fresh ephemeral UDP port.
    pub fn bind_ephemeral(&mut self) -> u16 {
        let p = self.net.ephemeral(self.host);
        self.net.nodes[self.host].ports.insert(p);
        p
    }

    /// Closes a UDP port.
    pub fn unbind(&mut self, port: u16) {
        self.net.nodes[self.host].ports.remove(&port);
    }

    /// Sends a datagram from one of the host's ports.
    pub fn send(&mut self, from_port: u16, to: SocketAddrV4, bytes: &[u8]) {
        let from = SocketAddrV4::new(self.ip(), from_port);
        self.net.send_datagram(self.host, from, to, bytes);
    }

    /// Counts a retransmission the exact-repeat detector cannot see (a
    /// resent request whose bytes changed, such as BOOTP's `secs`).
    pub fn retransmitted(&mut self) {
        self.net.stats.retransmitted += 1;
    }

    /// Accepts stream connections on `port`.
    pub fn listen(&mut self, port: u16) -> bool {
        self.net.nodes[self.host].listeners.insert(port)
    }

    /// Accepts a fresh ephemeral port for stream connections.
    pub fn listen_ephemeral(&mut self) -> u16 {
        let p = self.net.ephemeral(self.host);
        self.net.nodes[self.host].listeners.insert(p);
        p
    }

    /// Stops accepting connections on `port`.
    pub fn unlisten(&mut self, port: u16) {
        self.net.nodes[self.host].listeners.remove(&port);
    }

    /// Opens a stream to `to`; [`StreamEvent::Connected`] or
    /// [`StreamEvent::Refused`] follows.
    pub fn connect(&mut self, to: SocketAddrV4) -> StreamId {
        self.net.connect(self.host, to)
    }

    /// Writes bytes on a stream (buffered without limit; pace yourself with
    /// [`Cx::room`] and [`StreamEvent::Writable`]).
    pub fn write(&mut self, id: StreamId, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(end) = self.net.end_of(id, self.host) {
            let s = &self.net.streams[&id];
            if s.ends[end].write_closed {
                return;
            }
            let n = bytes.len() as u64;
            self.net
                .record(13, &[&id.to_le_bytes(), &n.to_le_bytes()], || {
                    format!("stream #{id}: write {n} bytes")
                });
            self.net.stream_send(id, end, bytes, false);
        }
    }

    /// Bytes that may be written before the window is full.
    pub fn room(&self, id: StreamId) -> usize {
        match self.net.end_of(id, self.host) {
            Some(end) => STREAM_WINDOW.saturating_sub(self.net.streams[&id].ends[end].in_flight),
            None => 0,
        }
    }

    /// Sends FIN after the bytes written: the peer sees [`StreamEvent::Eof`].
    pub fn shutdown(&mut self, id: StreamId) {
        if let Some(end) = self.net.end_of(id, self.host) {
            let s = self.net.streams.get_mut(&id).expect("stream exists");
            if s.ends[end].write_closed {
                return;
            }
            s.ends[end].write_closed = true;
            self.net.stream_send(id, end, &[], true);
        }
    }

    /// Closes the stream: FIN after the bytes written, and anything that
    /// still arrives resets the connection.
    pub fn close(&mut self, id: StreamId) {
        self.shutdown(id);
        if let Some(end) = self.net.end_of(id, self.host)
            && let Some(s) = self.net.streams.get_mut(&id)
        {
            s.ends[end].closed = true;
            if s.state == StreamState::Connecting {
                self.net.reset_stream(id, Some(end));
            }
        }
    }

    /// Resets the stream (an abortive close): the peer sees
    /// [`StreamEvent::Reset`].
    pub fn reset(&mut self, id: StreamId) {
        if let Some(end) = self.net.end_of(id, self.host) {
            self.net.record(14, &[&id.to_le_bytes()], || {
                format!("stream #{id}: reset by program")
            });
            self.net.reset_stream(id, Some(end));
            self.net.release_port(id);
        }
    }

    /// The stream's remote address.
    pub fn peer(&self, id: StreamId) -> Option<SocketAddrV4> {
        let end = self.net.end_of(id, self.host)?;
        Some(self.net.streams[&id].ends[1 - end].local)
    }

    /// The stream's local address.
    pub fn local(&self, id: StreamId) -> Option<SocketAddrV4> {
        let end = self.net.end_of(id, self.host)?;
        Some(self.net.streams[&id].ends[end].local)
    }

    /// Adds a line to the trace (it goes into the hash too).
    pub fn note(&mut self, text: &str) {
        let h = self.host;
        self.net
            .record(30, &[text.as_bytes()], || format!("host {h}: {text}"));
    }
}
