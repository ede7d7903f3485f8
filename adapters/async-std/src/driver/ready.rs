//! Which sockets woke: every socket has one waker, made once when it opens,
//! that the reactor wakes when the socket becomes readable or writable; it
//! queues the socket's name and wakes the server's task. The task then
//! serves exactly the sockets that woke, and re-arming a socket is a
//! system call, not an allocation (a future per wait would cost a task
//! node and an abort handle each time).
//!
//! The stopper wakes the same task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

use futures_util::task::AtomicWaker;
use netboot_core::socket::SocketId;

/// A socket as the queue names it: its id and the generation of the table
/// entry, so that a wake-up for a socket since closed (and its id reused)
/// is recognised as stale.
pub(super) type Key = (SocketId, u64);

/// The queue of sockets that woke, the server's task, and the stop flag.
#[derive(Debug, Default)]
pub(super) struct Ready {
    woken: Mutex<Vec<Key>>,
    task: AtomicWaker,
    stopped: AtomicBool,
}

impl Ready {
    /// The task to wake from now on.
    pub(super) fn register(&self, task: &Waker) {
        self.task.register(task);
    }

    /// True when some socket woke.
    pub(super) fn any(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Swaps the sockets that woke into `into` (empty; both vectors keep
    /// their capacity, so the steady state allocates nothing).
    pub(super) fn take(&self, into: &mut Vec<Key>) {
        std::mem::swap(into, &mut *self.lock());
    }

    /// True once stopped.
    pub(super) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The waker of a socket just opened.
    pub(super) fn waker(self: &Arc<Self>, key: Key) -> (Waker, Arc<Slot>) {
        let slot = Arc::new(Slot {
            key,
            queued: AtomicBool::new(false),
            ready: self.clone(),
        });
        (Waker::from(slot.clone()), slot)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Key>> {
        self.woken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One socket's waker.
#[derive(Debug)]
pub(super) struct Slot {
    key: Key,
    /// Set while the key is in the queue, so it is there at most once.
    queued: AtomicBool,
    ready: Arc<Ready>,
}

impl Slot {
    /// The socket's name.
    pub(super) fn id(&self) -> SocketId {
        self.key.0
    }

    /// The socket is being served: a wake-up from now on queues it again.
    pub(super) fn serving(&self) {
        self.queued.store(false, Ordering::Release);
    }
}

impl Wake for Slot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.lock().push(self.key);
        }
        self.ready.task.wake();
    }
}

/// Stops a running server from any thread or task; clones stop the same
/// server. The server then cancels its TFTP transfers (ERROR 0), tells its
/// FTP sessions `421`, discards partial uploads, saves its state and
/// resolves (after at most a two-second grace for its peers).
///
/// ```
/// use netboot_async_std::netboot::NetbootService;
/// use netboot_std::setup::ServerSetup;
///
/// let root = tempfile::tempdir().unwrap();
/// let service = NetbootService::build(
///     ServerSetup::new(root.path()).no_ftp().tftp_listen("127.0.0.1:0".parse().unwrap()),
/// )
/// .unwrap();
/// let stopper = service.stopper();
/// assert!(!stopper.is_stopped());
/// stopper.stop();
/// assert!(stopper.is_stopped());
/// smol::block_on(service.run()).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Stopper {
    pub(super) ready: Arc<Ready>,
}

impl Stopper {
    /// Asks the server to stop.
    pub fn stop(&self) {
        self.ready.stopped.store(true, Ordering::Release);
        self.ready.task.wake();
    }

    /// True once [`Stopper::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.ready.stopped()
    }
}
