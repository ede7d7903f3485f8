//! Reliable byte streams, TCP without its details: connecting (SYN,
//! SYN-ACK, refusal), segments cut at random sizes that arrive in order
//! after the link's latency and any retransmission delays,
//! acknowledgements and the window, FIN and RST, segments held back while
//! the path is broken (they count against the window, so a writer is held
//! back too) and the give-up that resets the stream, and handing each
//! event to its end's program.

use std::net::{SocketAddr, SocketAddrV4};

use netboot_core::time::{Duration, Instant};

use super::net::Net;
use super::queue::Item;
use super::{HostId, Sim, StreamEvent, StreamId};
use crate::faults::{chance, up_to};

/// Window of a stream: bytes written and not yet acknowledged above which
/// the writer is told to wait for [`StreamEvent::Writable`].
pub const STREAM_WINDOW: usize = 64 * 1024;

/// Unacknowledged bytes at or below which a blocked writer hears
/// [`StreamEvent::Writable`]: half the window, as a socket polls writable
/// only once a good part of its buffer is free again (not after every
/// acknowledgement, which for a stream cut into tiny segments would wake
/// the writer for a few bytes at a time).
pub const STREAM_LOW_WATER: usize = STREAM_WINDOW / 2;

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StreamState {
    Connecting,
    Open,
    Dead,
}

/// One end of a stream.
#[derive(Debug)]
pub(super) struct End {
    pub(super) host: HostId,
    pub(super) boot: u32,
    pub(super) local: SocketAddrV4,
    /// When the last segment towards this end arrives (keeps order).
    pub(super) last_arrival: Instant,
    /// Bytes this end wrote that are not acknowledged yet.
    pub(super) in_flight: usize,
    pub(super) blocked: bool,
    /// This end sent FIN.
    pub(super) write_closed: bool,
    /// This end's program closed it: incoming data resets the stream.
    pub(super) closed: bool,
}

/// A connection: its state and both ends.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) state: StreamState,
    pub(super) ends: [End; 2],
    /// Segments held back while the path is broken: (to_end, bytes, fin).
    pub(super) stalled: Vec<(usize, Vec<u8>, bool)>,
    pub(super) stall_generation: u64,
}

impl Net {
    pub(super) fn stream_delay(&mut self, a: HostId, b: HostId) -> Duration {
        let link = self.link(a, b);
        let mut d = link.latency + up_to(&mut self.rng, link.jitter);
        // A segment the link would lose is retransmitted: it only costs time.
        let mut rto = link.stream_rto;
        for _ in 0..8 {
            if !self.lost(a, b, link.loss) {
                break;
            }
            d += rto;
            rto = rto.saturating_mul(2);
        }
        d
    }

    pub(super) fn connect(&mut self, host: HostId, to: SocketAddrV4) -> StreamId {
        let id = self.next_stream;
        self.next_stream += 1;
        let port = self.ephemeral(host);
        let local = SocketAddrV4::new(self.nodes[host].ip, port);
        self.nodes[host].listeners.insert(port);
        let end = |host, boot, local| End {
            host,
            boot,
            local,
            last_arrival: Instant::ZERO,
            in_flight: 0,
            blocked: false,
            write_closed: false,
            closed: false,
        };
        let boot = self.nodes[host].boot;
        let dest = self.by_ip.get(to.ip()).copied();
        self.streams.insert(
            id,
            Stream {
                state: StreamState::Connecting,
                ends: [
                    end(host, boot, local),
                    end(dest.unwrap_or(usize::MAX), 0, to),
                ],
                stalled: Vec::new(),
                stall_generation: 0,
            },
        );
        self.stats.connections += 1;
        self.record(
            10,
            &[&id.to_le_bytes(), &to.to_string().into_bytes()],
            || format!("connect #{id} {local} -> {to}"),
        );
        match dest {
            Some(d) if self.path_up(host, d) => {
                let delay = self.stream_delay(host, d);
                self.push(self.now + delay, Item::Syn(id));
            }
            Some(_) => {
                // No route now: the attempt times out.
                let give_up = self.link(host, host).stream_give_up;
                self.push(self.now + give_up, Item::Refuse(id));
            }
            None => {
                let give_up = self.weather.stream_give_up;
                self.push(self.now + give_up, Item::Refuse(id));
            }
        }
        id
    }

    /// Sends `bytes` (or a FIN) from end `from_end`, segmenting them.
    pub(super) fn stream_send(&mut self, id: StreamId, from_end: usize, bytes: &[u8], fin: bool) {
        let Some(s) = self.streams.get(&id) else {
            return;
        };
        if s.state != StreamState::Open {
            return;
        }
        let (a, b) = (s.ends[from_end].host, s.ends[1 - from_end].host);
        let to_end = 1 - from_end;
        if !self.path_up(a, b) {
            let s = self.streams.get_mut(&id).expect("stream exists");
            if s.stalled.is_empty() {
                s.stall_generation += 1;
                let generation = s.stall_generation;
                let give_up = self.link(a, b).stream_give_up;
                self.push(
                    self.now + give_up,
                    Item::GiveUp {
                        stream: id,
                        generation,
                    },
                );
            }
            let s = self.streams.get_mut(&id).expect("stream exists");
            if !bytes.is_empty() {
                s.stalled.push((to_end, bytes.to_vec(), false));
                // Held bytes fill the window as unacknowledged ones do: a
                // writer cannot push without limit into a broken path.
                let e = &mut s.ends[from_end];
                e.in_flight += bytes.len();
                if e.in_flight >= STREAM_WINDOW {
                    e.blocked = true;
                }
            }
            if fin {
                s.stalled.push((to_end, Vec::new(), true));
            }
            return;
        }
        let link = self.link(a, b);
        let mut rest = bytes;
        while !rest.is_empty() {
            let max = link.max_segment.max(1);
            let min = link.min_segment.clamp(1, max);
            let size = (self.rng.range_inclusive(min as u64, max as u64) as usize).min(rest.len());
            let (seg, tail) = rest.split_at(size);
            rest = tail;
            if chance(&mut self.rng, link.stream_reset) {
                self.record(12, &[&id.to_le_bytes()], || {
                    format!("stream #{id}: reset injected")
                });
                self.reset_stream(id, None);
                return;
            }
            let delay = self.stream_delay(a, b);
            let s = self.streams.get_mut(&id).expect("stream exists");
            let at = (self.now + delay).max(s.ends[to_end].last_arrival);
            s.ends[to_end].last_arrival = at;
            s.ends[from_end].in_flight += seg.len();
            if s.ends[from_end].in_flight >= STREAM_WINDOW {
                s.ends[from_end].blocked = true;
            }
            self.push(
                at,
                Item::Segment {
                    stream: id,
                    to_end,
                    bytes: seg.to_vec(),
                },
            );
        }
        if fin {
            let delay = self.stream_delay(a, b);
            let s = self.streams.get_mut(&id).expect("stream exists");
            let at = (self.now + delay).max(s.ends[to_end].last_arrival);
            s.ends[to_end].last_arrival = at;
            self.push(at, Item::Fin { stream: id, to_end });
        }
    }

    /// Resets a stream: both ends (except `quiet_end`, whose program asked
    /// for it) hear of it, and nothing in flight arrives any more.
    pub(super) fn reset_stream(&mut self, id: StreamId, quiet_end: Option<usize>) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.state == StreamState::Dead {
            return;
        }
        s.state = StreamState::Dead;
        s.stalled.clear();
        self.stats.resets += 1;
        let hosts = [s.ends[0].host, s.ends[1].host];
        for (end, &host) in hosts.iter().enumerate() {
            if Some(end) == quiet_end || host == usize::MAX {
                continue;
            }
            let delay = if Some(1 - end) == quiet_end {
                self.weather.latency
            } else {
                Duration::ZERO
            };
            self.push(
                self.now + delay,
                Item::Rst {
                    stream: id,
                    to_end: end,
                },
            );
        }
    }

    pub(super) fn end_of(&self, id: StreamId, host: HostId) -> Option<usize> {
        let s = self.streams.get(&id)?;
        (0..2).find(|&e| s.ends[e].host == host && s.ends[e].boot == self.nodes[host].boot)
    }

    pub(super) fn release_port(&mut self, id: StreamId) {
        // The connecting end's ephemeral port is free again once the
        // stream is gone from its side.
        if let Some(s) = self.streams.get(&id) {
            let e = &s.ends[0];
            if e.host != usize::MAX && e.boot == self.nodes[e.host].boot {
                let port = e.local.port();
                self.nodes[e.host].listeners.remove(&port);
            }
        }
    }
}

impl Sim {
    /// Sends what streams held back while their path was broken.
    pub(super) fn unstall(&mut self) {
        let mut ids: Vec<StreamId> = self
            .net
            .streams
            .iter()
            .filter(|(_, s)| !s.stalled.is_empty())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let s = &self.net.streams[&id];
            let (a, b) = (s.ends[0].host, s.ends[1].host);
            if !self.net.path_up(a, b) {
                continue;
            }
            let s = self.net.streams.get_mut(&id).expect("stream exists");
            let held = std::mem::take(&mut s.stalled);
            // Sent now: counted in flight again as they leave.
            for (to_end, bytes, _) in &held {
                let e = &mut s.ends[1 - to_end];
                e.in_flight = e.in_flight.saturating_sub(bytes.len());
            }
            for (to_end, bytes, fin) in held {
                self.net.stream_send(id, 1 - to_end, &bytes, fin);
            }
        }
    }

    pub(super) fn syn(&mut self, id: StreamId) -> Option<HostId> {
        let s = self.net.streams.get(&id)?;
        if s.state != StreamState::Connecting {
            return None;
        }
        let (client, server) = (s.ends[0].host, s.ends[1].host);
        let to = s.ends[1].local;
        let from = s.ends[0].local;
        let node = &self.net.nodes[server];
        let listening = node.powered && node.link_up && node.listeners.contains(&to.port());
        let back = self.net.weather.latency;
        if !listening {
            self.net.push(self.net.now + back, Item::Refuse(id));
            return Some(server);
        }
        let boot = node.boot;
        let s = self.net.streams.get_mut(&id)?;
        s.ends[1].boot = boot;
        // Open from the acceptor's side at once: it may write straight
        // away, and its bytes arrive after the connecting end hears of it.
        s.state = StreamState::Open;
        self.net.push(self.net.now + back, Item::SynAck(id));
        let _ = client;
        self.stream_event(
            id,
            1,
            StreamEvent::Accepted {
                local: SocketAddr::V4(to),
                peer: SocketAddr::V4(from),
            },
        )
    }

    /// The acceptor's answer reaches the connecting end.
    pub(super) fn syn_ack(&mut self, id: StreamId) -> Option<HostId> {
        let s = self.net.streams.get_mut(&id)?;
        if s.state != StreamState::Open {
            return None;
        }
        let host = s.ends[0].host;
        self.stream_event(id, 0, StreamEvent::Connected)
            .or(Some(host))
    }

    /// A connection attempt failed: nobody listening, or no route.
    pub(super) fn refuse(&mut self, id: StreamId) -> Option<HostId> {
        let s = self.net.streams.get_mut(&id)?;
        if s.state != StreamState::Connecting {
            return None;
        }
        s.state = StreamState::Dead;
        self.net.release_port(id);
        self.stream_event(id, 0, StreamEvent::Refused)
    }

    /// A segment arrives at end `to_end`.
    pub(super) fn segment(
        &mut self,
        stream: StreamId,
        to_end: usize,
        bytes: Vec<u8>,
    ) -> Option<HostId> {
        let s = self.net.streams.get_mut(&stream)?;
        if s.state != StreamState::Open {
            return None;
        }
        if s.ends[to_end].closed {
            self.net.reset_stream(stream, Some(to_end));
            return None;
        }
        let n = bytes.len();
        self.net.stats.stream_bytes += n as u64;
        // The acknowledgement travels back.
        let back = self.net.weather.latency;
        self.net.push(
            self.net.now + back,
            Item::Ack {
                stream,
                to_end: 1 - to_end,
                bytes: n,
            },
        );
        self.net.record(15, &[&stream.to_le_bytes(), &bytes], || {
            format!("stream #{stream}: {n} bytes arrive at end {to_end}")
        });
        self.stream_event(stream, to_end, StreamEvent::Data(&bytes))
    }

    /// End `to_end` hears that `bytes` it wrote arrived.
    pub(super) fn ack(&mut self, stream: StreamId, to_end: usize, bytes: usize) -> Option<HostId> {
        let s = self.net.streams.get_mut(&stream)?;
        let e = &mut s.ends[to_end];
        e.in_flight = e.in_flight.saturating_sub(bytes);
        if s.state == StreamState::Open && e.blocked && e.in_flight <= STREAM_LOW_WATER {
            e.blocked = false;
            return self.stream_event(stream, to_end, StreamEvent::Writable);
        }
        None
    }

    /// The peer's FIN arrives at end `to_end`.
    pub(super) fn fin(&mut self, stream: StreamId, to_end: usize) -> Option<HostId> {
        let s = self.net.streams.get_mut(&stream)?;
        if s.state != StreamState::Open {
            return None;
        }
        let both = s.ends[0].write_closed && s.ends[1].write_closed;
        self.net.record(16, &[&stream.to_le_bytes()], || {
            format!("stream #{stream}: EOF at end {to_end}")
        });
        let r = self.stream_event(stream, to_end, StreamEvent::Eof);
        if both {
            self.net.release_port(stream);
            if let Some(s) = self.net.streams.get_mut(&stream) {
                s.state = StreamState::Dead;
            }
        }
        r
    }

    /// A reset reaches end `to_end`.
    pub(super) fn rst(&mut self, stream: StreamId, to_end: usize) -> Option<HostId> {
        self.net.record(17, &[&stream.to_le_bytes()], || {
            format!("stream #{stream}: reset at end {to_end}")
        });
        let r = self.stream_event(stream, to_end, StreamEvent::Reset);
        if to_end == 0 {
            self.net.release_port(stream);
        }
        r
    }

    /// A stream's path has been broken since its segments stalled.
    pub(super) fn give_up(&mut self, stream: StreamId, generation: u64) -> Option<HostId> {
        let s = self.net.streams.get(&stream)?;
        if s.stall_generation != generation || s.stalled.is_empty() {
            return None;
        }
        self.net.record(18, &[&stream.to_le_bytes()], || {
            format!("stream #{stream}: path broken too long")
        });
        self.net.reset_stream(stream, None);
        None
    }

    pub(super) fn stream_event(
        &mut self,
        id: StreamId,
        end: usize,
        event: StreamEvent<'_>,
    ) -> Option<HostId> {
        let s = self.net.streams.get(&id)?;
        let e = &s.ends[end];
        let host = e.host;
        if host == usize::MAX {
            return None;
        }
        let node = &self.net.nodes[host];
        if !node.powered || e.boot != node.boot {
            return None;
        }
        self.call_app(host, |app, cx| app.stream(cx, id, event));
        self.reschedule(host, false);
        Some(host)
    }
}
