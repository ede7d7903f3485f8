//! A scripted UDP host: sends given datagrams at given times and keeps
//! what it receives. Tests use it to play a peer the machines do not model
//! (a client sending a hand-made DHCPDECLINE, a stray sender, a hostile
//! peer).

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use netboot_core::time::Instant;

use crate::world::{App, Cx};

/// One datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    /// When (host time).
    pub at: Instant,
    /// From which local port (bound on boot).
    pub from_port: u16,
    /// Where to.
    pub to: SocketAddrV4,
    /// What.
    pub bytes: Vec<u8>,
}

/// A datagram received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// When (host time).
    pub at: Instant,
    /// The port it arrived on.
    pub port: u16,
    /// Who sent it.
    pub from: SocketAddrV4,
    /// What.
    pub bytes: Vec<u8>,
}

/// Sends its script and records what arrives.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    script: VecDeque<Send>,
    ports: Vec<u16>,
    /// Everything received, in order.
    pub received: Vec<Received>,
}

impl Scripted {
    /// A host that binds `ports` and sends `script` (sorted by time).
    pub fn new(ports: &[u16], mut script: Vec<Send>) -> Self {
        script.sort_by_key(|s| s.at);
        Scripted {
            script: script.into(),
            ports: ports.to_vec(),
            received: Vec::new(),
        }
    }

    fn send_due(&mut self, cx: &mut Cx<'_>) {
        while self.script.front().is_some_and(|s| s.at <= cx.now()) {
            let s = self.script.pop_front().expect("checked");
            cx.send(s.from_port, s.to, &s.bytes);
        }
    }
}

impl App for Scripted {
    fn start(&mut self, cx: &mut Cx<'_>) {
        for &p in &self.ports {
            cx.bind(p);
        }
        self.send_due(cx);
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        self.received.push(Received {
            at: cx.now(),
            port: local.port(),
            from,
            bytes: bytes.to_vec(),
        });
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        self.send_due(cx);
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.script.front().map(|s| s.at)
    }
}
