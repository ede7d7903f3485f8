//! What this runtime offers the core server ([`Host`]): async-io sockets
//! named by the server's [`SocketId`]s, non-blocking writes, and the std
//! layer's worker for password checks and saves.

use std::collections::HashMap;
use std::io;
use std::net::UdpSocket;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use async_io::Async;
use netboot_core::server::{FastPath, Host, Sent, Worker};
use netboot_core::socket::{OpenError, Output, SocketId, UdpRole};
use netboot_core::time::Instant;
use netboot_std::fs::FsStore;
use netboot_std::ftp::site::Site;
use netboot_std::host::{Services, connect, open_error, send_datagram, write_stream};

use super::ready::{Key, Ready, Slot};

/// A socket of the table.
pub(super) enum Io {
    Udp(Async<UdpSocket>),
    Listener(Async<TcpListener>),
    Stream(Async<TcpStream>),
}

/// A socket, its waker, and what it waits for.
pub(super) struct Entry {
    pub(super) io: Io,
    generation: u64,
    waker: Waker,
    slot: Arc<Slot>,
    /// A connection asked for is not up yet.
    pub(super) connecting: bool,
    /// The peer may still send (false after the end of its stream).
    pub(super) reading: bool,
    /// A write was partial: the server waits for [`StreamEvent::Writable`](netboot_core::socket::StreamEvent::Writable).
    pub(super) blocked: bool,
}

impl Entry {
    /// After a read that would block: true when the socket became
    /// readable meanwhile (read again), false once the wait is registered
    /// with the reactor (the socket's waker will queue it).
    pub(super) fn readable_again(&self) -> bool {
        let mut cx = Context::from_waker(&self.waker);
        let ready = match &self.io {
            Io::Udp(s) => s.poll_readable(&mut cx),
            Io::Listener(s) => s.poll_readable(&mut cx),
            Io::Stream(s) => s.poll_readable(&mut cx),
        };
        match ready {
            Poll::Pending => false,
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err(e)) => {
                tracing::warn!("{}: cannot wait on the socket: {e}", self.slot.id());
                false
            }
        }
    }

    /// Polls a stream for writability with the socket's own waker.
    pub(super) fn poll_writable(&self) -> Poll<io::Result<()>> {
        match &self.io {
            Io::Stream(s) => s.poll_writable(&mut Context::from_waker(&self.waker)),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Serves the socket again on the task's next turn.
    pub(super) fn requeue(&self) {
        self.waker.wake_by_ref();
    }

    /// The socket is being served (see [`Slot::serving`]).
    pub(super) fn serving(&self) {
        self.slot.serving();
    }
}

/// Every socket the server asked for, by its name.
pub(super) struct Sockets {
    table: HashMap<SocketId, Entry>,
    pub(super) ready: Arc<Ready>,
    generation: u64,
}

impl Sockets {
    fn new() -> Self {
        Sockets {
            table: HashMap::new(),
            ready: Arc::default(),
            generation: 0,
        }
    }

    /// The socket a wake-up names, if it is still the one that woke.
    pub(super) fn current(&mut self, (id, generation): Key) -> Option<&mut Entry> {
        self.table
            .get_mut(&id)
            .filter(|e| e.generation == generation)
    }

    /// Adds a socket and serves it on the next turn (which registers its
    /// interest with the reactor). Returns its key.
    pub(super) fn insert(&mut self, id: SocketId, io: Io, connecting: bool) -> Key {
        self.generation += 1;
        let key = (id, self.generation);
        let (waker, slot) = self.ready.waker(key);
        let entry = Entry {
            reading: matches!(io, Io::Stream(_)) && !connecting,
            io,
            generation: self.generation,
            waker,
            slot,
            connecting,
            blocked: false,
        };
        entry.requeue();
        self.table.insert(id, entry);
        key
    }

    /// Drops a socket (its pending waits go with it); a stream is shut
    /// down for writing first, so its peer reads the end after the last
    /// byte.
    pub(super) fn remove(&mut self, id: SocketId) {
        if let Some(Entry {
            io: Io::Stream(s), ..
        }) = self.table.remove(&id)
        {
            let _ = s.get_ref().shutdown(Shutdown::Write);
        }
    }
}

/// The [`Host`] of this runtime.
pub(super) struct AsyncHost {
    pub(super) sockets: Sockets,
    pub(super) services: Services,
    /// Where a limited broadcast that has no route goes instead.
    directed_broadcast: Option<Ipv4Addr>,
    /// The last socket that could not be opened, and why (what a build
    /// reports).
    pub(super) open_failed: Option<(SocketAddr, io::Error)>,
}

impl AsyncHost {
    pub(super) fn new(services: Services, directed_broadcast: Option<Ipv4Addr>) -> Self {
        AsyncHost {
            sockets: Sockets::new(),
            services,
            directed_broadcast,
            open_failed: None,
        }
    }

    fn opened<T>(
        &mut self,
        socket: SocketId,
        local: SocketAddr,
        made: io::Result<T>,
        io: fn(Async<T>) -> Io,
        addr: fn(&T) -> io::Result<SocketAddr>,
    ) -> Result<SocketAddr, OpenError>
    where
        T: std::os::fd::AsFd,
    {
        let opened = made.and_then(|s| {
            let bound = addr(&s)?;
            Ok((Async::new(s)?, bound))
        });
        match opened {
            Ok((s, bound)) => {
                self.sockets.insert(socket, io(s), false);
                Ok(bound)
            }
            Err(e) => {
                let error = open_error(&e);
                self.open_failed = Some((local, e));
                Err(error)
            }
        }
    }
}

impl Host<FsStore, Site> for AsyncHost {
    fn open_udp(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        role: &UdpRole,
    ) -> Result<SocketAddr, OpenError> {
        let made = netboot_std::host::open_udp(local, role);
        self.opened(socket, local, made, Io::Udp, UdpSocket::local_addr)
    }

    fn listen(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        backlog: u32,
    ) -> Result<SocketAddr, OpenError> {
        let made = netboot_std::host::listen(local, backlog);
        self.opened(socket, local, made, Io::Listener, TcpListener::local_addr)
    }

    fn connect(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Result<(), OpenError> {
        match connect(local, remote).and_then(Async::new) {
            Ok(s) => {
                self.sockets.insert(socket, Io::Stream(s), true);
                Ok(())
            }
            Err(e) => {
                tracing::debug!("connect to {remote} failed: {e}");
                Err(open_error(&e))
            }
        }
    }

    fn close(&mut self, socket: SocketId) {
        self.sockets.remove(socket);
    }

    fn send(&mut self, output: &Output, bytes: &[u8]) -> Sent {
        let directed = self.directed_broadcast;
        let Some(entry) = self.sockets.table.get_mut(&output.socket) else {
            return Sent::Failed;
        };
        match &entry.io {
            Io::Udp(s) => {
                for (at, len) in output.segments() {
                    send_datagram(s.get_ref(), &bytes[at..at + len], output, directed);
                }
                Sent::All
            }
            Io::Stream(s) => {
                let sent = write_stream(&mut s.get_ref(), bytes, &mut entry.blocked);
                match sent {
                    Sent::Partial(_) => entry.requeue(),
                    Sent::Failed => self.sockets.remove(output.socket),
                    Sent::All => {}
                }
                sent
            }
            Io::Listener(_) => Sent::Failed,
        }
    }

    fn worker(&mut self) -> &mut dyn Worker<FsStore, Site> {
        &mut self.services
    }

    fn fast_path(&mut self, _: Instant, fast: FastPath) {
        // Never asked for: the driver builds its servers with no fast path.
        tracing::error!("{fast:?}: this runtime offers no fast path");
    }
}
