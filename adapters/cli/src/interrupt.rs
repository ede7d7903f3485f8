//! SIGINT and SIGTERM during a client command: the handlers only set flags
//! ([`signal_hook::flag`]); the transfer loops look at them, abandon the
//! transfer, remove what they wrote aside and return
//! [`CliError::interrupted`] (exit 130, or 143 for SIGTERM).

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::exit::CliError;

struct Flags {
    cancel: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Result<Flags, String>> = OnceLock::new();

fn flags() -> Result<&'static Flags, CliError> {
    FLAGS
        .get_or_init(|| {
            let cancel = Arc::new(AtomicBool::new(false));
            let signal = Arc::new(AtomicUsize::new(0));
            for sig in [SIGINT, SIGTERM] {
                signal_hook::flag::register_usize(sig, signal.clone(), sig as usize)
                    .and_then(|_| signal_hook::flag::register(sig, cancel.clone()))
                    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
            }
            Ok(Flags { cancel, signal })
        })
        .as_ref()
        .map_err(|e| CliError::other(e.clone()))
}

/// Installs the handlers (once) and returns the flag they set.
pub fn install() -> Result<Arc<AtomicBool>, CliError> {
    Ok(flags()?.cancel.clone())
}

/// The signal that interrupted the command, if one did.
pub fn signal() -> Option<i32> {
    let f = FLAGS.get()?.as_ref().ok()?;
    match f.signal.load(Ordering::Relaxed) {
        0 => None,
        n => i32::try_from(n).ok(),
    }
}

/// Fails with [`CliError::interrupted`] once a signal came.
pub fn check() -> Result<(), CliError> {
    match signal() {
        Some(sig) => Err(CliError::interrupted(sig)),
        None => Ok(()),
    }
}

/// Standard input read on a thread of its own, so that a read blocked on
/// a terminal or a silent pipe does not keep a signal from being seen: a
/// read fails with "interrupted" once one comes.
pub struct Stdin {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    at: usize,
    done: bool,
}

impl Stdin {
    /// Starts the reading thread.
    pub fn spawn() -> Self {
        let (tx, rx) = sync_channel(4);
        std::thread::spawn(move || {
            let mut input = std::io::stdin().lock();
            loop {
                let mut buf = vec![0u8; 64 * 1024];
                match input.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.send(Ok(Vec::new()));
                        return;
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Stdin {
            chunks: rx,
            pending: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() && !self.done {
            if signal().is_some() {
                return Err(std::io::Error::other("interrupted"));
            }
            match self.chunks.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Ok(Ok(chunk)) => (self.pending, self.at) = (chunk, 0),
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.done = true,
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A writer that fails once a signal came, so a download stops at its
/// next block (and the FTP client aborts the transfer).
pub struct Checked<W>(pub W);

impl<W: std::io::Write> std::io::Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if signal().is_some() {
            return Err(std::io::Error::other("interrupted"));
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A reader that fails once a signal came (an upload from a file).
pub struct CheckedRead<R>(pub R);

impl<R: Read> Read for CheckedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if signal().is_some() {
            return Err(std::io::Error::other("interrupted"));
        }
        self.0.read(buf)
    }
}
