//! What the loop does when a socket is ready: read until the kernel has
//! nothing more (bounded per turn, so that one flood cannot starve the
//! rest), hand every datagram, connection and chunk to the core, and drain
//! it after each one.

use std::io::{self, Read, Write};

use mio::Token;
use netboot_core::socket::{Accept, StreamEvent};

use super::Server;
use super::fast::Fast;
use super::io::Socket;

/// Datagrams one socket may deliver per turn.
const DATAGRAMS_PER_TURN: usize = 4096;
/// Connections one listener may deliver per turn.
const ACCEPTS_PER_TURN: usize = 1024;
/// Reads one stream may deliver per turn.
const READS_PER_TURN: usize = 64;

impl Server {
    /// A source registered as `token` is ready.
    pub(super) fn on_ready(&mut self, token: Token, readable: bool, writable: bool) {
        match self.io.get(token) {
            Some((_, Socket::Udp(_))) if readable => self.on_datagrams(token),
            Some((_, Socket::Listener(_))) => self.on_accept(token),
            Some((_, Socket::Stream(_))) => self.on_stream(token, readable, writable),
            _ => {}
        }
    }

    fn on_datagrams(&mut self, token: Token) {
        for _ in 0..DATAGRAMS_PER_TURN {
            let Some((id, Socket::Udp(socket))) = self.io.get(token) else {
                return;
            };
            let (n, from) = match socket.recv_from(&mut self.rx) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error for an earlier send, say: it is consumed,
                // and whatever is queued behind it is still to be read.
                Err(e) => {
                    tracing::debug!("{id}: receive failed: {e}");
                    continue;
                }
            };
            let now = self.io.clock.now();
            self.server.handle_datagram(now, id, from, &self.rx[..n]);
            // Lockstep peers wait for the answer to each datagram.
            self.settle(now);
        }
        self.io.again.push(token);
    }

    fn on_accept(&mut self, token: Token) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some((listener, Socket::Listener(l))) = self.io.get(token) else {
                return;
            };
            let (mut tcp, peer) = match l.accept() {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, say: this round is dropped; the
                    // next connection brings the listener back.
                    tracing::warn!("{listener}: accept failed: {e}");
                    return;
                }
            };
            let Ok(local) = tcp.local_addr() else {
                continue;
            };
            let now = self.io.clock.now();
            match self.server.handle_accept(now, listener, peer, local) {
                Accept::Stream(id) => {
                    if let Err(e) = self.io.accepted(id, tcp) {
                        tracing::warn!("{id}: cannot register: {e}");
                        self.server.handle_stream(now, id, StreamEvent::Reset);
                    }
                }
                Accept::Refuse { reply } => {
                    let _ = tcp.write(reply);
                }
            }
            self.settle(now);
        }
        self.io.again.push(token);
    }

    fn on_stream(&mut self, token: Token, readable: bool, writable: bool) {
        let now = self.io.clock.now();
        let Some((id, Socket::Stream(stream))) = self.io.get(token) else {
            return;
        };
        if stream.connecting {
            let event = match stream.tcp.take_error() {
                Ok(None) => match stream.tcp.peer_addr() {
                    Ok(_) => StreamEvent::Connected,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(_) => StreamEvent::Reset,
                },
                _ => StreamEvent::Reset,
            };
            if event == StreamEvent::Reset {
                self.io.remove(id);
            } else {
                stream.connecting = false;
            }
            self.server.handle_stream(now, id, event);
            self.settle(now);
            return self.on_stream(token, readable, writable);
        }
        let splicing = matches!(stream.fast, Some(Fast::Splice { .. }));
        let sending = matches!(stream.fast, Some(Fast::SendFile { .. }));
        if readable && splicing || writable && sending {
            self.io.fast_ready.push(id);
            self.settle(now);
        }
        if readable && !splicing {
            self.on_readable(token);
        }
        if writable
            && let Some((id, Socket::Stream(stream))) = self.io.get(token)
            && std::mem::take(&mut stream.blocked)
        {
            let now = self.io.clock.now();
            self.server.handle_stream(now, id, StreamEvent::Writable);
            self.settle(now);
        }
    }

    fn on_readable(&mut self, token: Token) {
        for _ in 0..READS_PER_TURN {
            let now = self.io.clock.now();
            let Some((id, Socket::Stream(stream))) = self.io.get(token) else {
                return;
            };
            if stream.read_closed || matches!(stream.fast, Some(Fast::Splice { .. })) {
                return;
            }
            let read = stream.tcp.read(&mut self.rx);
            match read {
                Ok(0) => {
                    stream.read_closed = true;
                    self.server.handle_stream(now, id, StreamEvent::Eof);
                }
                Ok(n) => {
                    let bytes = StreamEvent::Data(&self.rx[..n]);
                    self.server.handle_stream(now, id, bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.io.remove(id);
                    self.server.handle_stream(now, id, StreamEvent::Reset);
                }
            }
            self.settle(now);
        }
        self.io.again.push(token);
    }
}
