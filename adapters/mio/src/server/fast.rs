//! The FTP fast paths the core hands to the loop
//! ([`Event::SendFile`](netboot_core::server::Event::SendFile),
//! [`Event::Splice`](netboot_core::server::Event::Splice)): a `TYPE I`
//! download through `sendfile(2)`, a `TYPE I` upload through `splice(2)`
//! from the socket into a pipe and from the pipe into the file (rustix, no
//! `unsafe`). The core chose them and decides everything after: the
//! commit, the reply, the record. Linux only; elsewhere the core is never
//! offered them.

use netboot_core::ftp::server::FastPathError;
use netboot_core::socket::SocketId;
use netboot_core::storage::StoreError;
use netboot_core::time::Instant;
use netboot_std::fs::FsWriter;

use super::Server;

/// Bytes one `sendfile` or `splice` call moves at most.
const CHUNK: usize = 1 << 20;

/// A fast path running on a data connection.
pub(super) enum Fast {
    /// A download: the file from `offset`; `sent` bytes so far.
    SendFile { offset: u64, sent: u64 },
    /// An upload: socket → pipe → file; `pending` bytes sit in the pipe.
    #[cfg(target_os = "linux")]
    Splice {
        pipe: (std::os::fd::OwnedFd, std::os::fd::OwnedFd),
        pending: usize,
        moved: u64,
    },
    /// It could not start.
    Failed(FastPathError),
}

impl Fast {
    /// A download from `offset`.
    pub(super) fn send_file(offset: u64) -> Fast {
        Fast::SendFile { offset, sent: 0 }
    }

    /// An upload, with its pipe.
    pub(super) fn splice() -> Fast {
        match splice_pipe() {
            #[cfg(target_os = "linux")]
            Ok(pipe) => Fast::Splice {
                pipe,
                pending: 0,
                moved: 0,
            },
            Err(e) => Fast::Failed(e),
        }
    }
}

impl Server {
    /// Moves bytes on the fast path of `socket` until the socket would
    /// block or the path ends, and tells the core how far it got.
    pub(super) fn run_fast(&mut self, now: Instant, socket: SocketId) {
        let Some(stream) = self.io.stream(socket) else {
            // Closed meanwhile; the core is told if it still cares.
            return self
                .server
                .fast_path_done(now, socket, Err(FastPathError::Lost));
        };
        let gone = Err(FastPathError::Storage(StoreError::Io));
        let result = match stream.fast.as_mut() {
            None => return,
            Some(Fast::SendFile { offset, sent }) => match self.server.reader(socket) {
                Some(file) => send_file(&stream.tcp, file, offset, sent).map(|done| (done, *sent)),
                None => gone,
            },
            #[cfg(target_os = "linux")]
            Some(Fast::Splice {
                pipe,
                pending,
                moved,
            }) => match self.server.writer(socket).and_then(FsWriter::file) {
                Some(file) => {
                    splice_in(&stream.tcp, pipe, file, pending, moved).map(|d| (d, *moved))
                }
                None => gone,
            },
            Some(Fast::Failed(e)) => Err(*e),
        };
        match result {
            Ok((false, moved)) => self.server.fast_path_progress(now, socket, moved),
            Ok((true, moved)) => {
                stream.fast = None;
                self.server.fast_path_progress(now, socket, moved);
                self.server.fast_path_done(now, socket, Ok(()));
            }
            Err(e) => {
                stream.fast = None;
                self.server.fast_path_done(now, socket, Err(e));
            }
        }
    }
}

/// `Ok(true)`: finished; `Ok(false)`: would block.
#[cfg(target_os = "linux")]
fn send_file(
    data: &mio::net::TcpStream,
    file: &std::fs::File,
    offset: &mut u64,
    bytes: &mut u64,
) -> Result<bool, FastPathError> {
    loop {
        match rustix::fs::sendfile(data, file, Some(offset), CHUNK) {
            Ok(0) => return Ok(true),
            Ok(n) => *bytes += n as u64,
            Err(rustix::io::Errno::AGAIN) => return Ok(false),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::PIPE | rustix::io::Errno::CONNRESET) => {
                return Err(FastPathError::Lost);
            }
            Err(_) => return Err(FastPathError::Storage(StoreError::Io)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn send_file(
    _: &mio::net::TcpStream,
    _: &std::fs::File,
    _: &mut u64,
    _: &mut u64,
) -> Result<bool, FastPathError> {
    Err(FastPathError::Storage(StoreError::Unsupported))
}

/// A pipe for a spliced upload.
#[cfg(target_os = "linux")]
fn splice_pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd), FastPathError> {
    use rustix::pipe::{PipeFlags, fcntl_setpipe_size, pipe_with};
    let pipe = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)
        .map_err(|e| FastPathError::Storage(netboot_std::fs::store_error(&e.into())))?;
    // A larger pipe means fewer system calls; the kernel may refuse.
    let _ = fcntl_setpipe_size(&pipe.1, CHUNK);
    Ok(pipe)
}

#[cfg(not(target_os = "linux"))]
fn splice_pipe() -> Result<std::convert::Infallible, FastPathError> {
    Err(FastPathError::Storage(StoreError::Unsupported))
}

/// Moves upload data socket → pipe → file. `Ok(true)`: the sender closed
/// the connection and everything is written; `Ok(false)`: would block.
#[cfg(target_os = "linux")]
fn splice_in(
    data: &mio::net::TcpStream,
    (pipe_r, pipe_w): &(std::os::fd::OwnedFd, std::os::fd::OwnedFd),
    file: &std::fs::File,
    pending: &mut usize,
    bytes: &mut u64,
) -> Result<bool, FastPathError> {
    use rustix::io::Errno;
    use rustix::pipe::{SpliceFlags, splice};
    loop {
        while *pending > 0 {
            match splice(pipe_r, None, file, None, *pending, SpliceFlags::MOVE) {
                Ok(0) => return Err(FastPathError::Storage(StoreError::Io)),
                Ok(n) => *pending -= n,
                Err(Errno::INTR) => {}
                Err(e) => {
                    return Err(FastPathError::Storage(netboot_std::fs::store_error(
                        &e.into(),
                    )));
                }
            }
        }
        match splice(
            data,
            None,
            pipe_w,
            None,
            CHUNK,
            SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
        ) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                *pending += n;
                *bytes += n as u64;
            }
            Err(Errno::AGAIN) => return Ok(false),
            Err(Errno::INTR) => {}
            Err(_) => return Err(FastPathError::Lost),
        }
    }
}
