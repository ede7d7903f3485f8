//! A blocking FTP client on std sockets, driving the core's
//! [`ClientSession`](netboot_core::ftp::client::ClientSession), through [`Control`].
//!
//! One control connection, one operation at a time, passive data
//! connections (EPSV, falling back to PASV), binary transfers. Every wait is
//! bounded by the client's timeout.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use netboot_core::ftp::client::{ListKind, Request, StoreMode};
use netboot_std::client::ftp::{Control, Step, connect_error, resolved, take_data};
pub use netboot_std::client::ftp::{FtpError, failure_error, start_error};

/// Called with (bytes so far, total if known) while data moves.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

/// A logged-in (or not yet) FTP session.
///
/// ```
/// use netboot_mio::ftp::{FtpClient, FtpServer};
/// use netboot_std::ftp::FtpConfig;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("hello.txt"), b"hello over FTP").unwrap();
/// let server = FtpServer::start(&FtpConfig {
///     root: root.path().into(),
///     listen: "127.0.0.1:0".parse().unwrap(),
///     anonymous: true,
///     ..FtpConfig::default()
/// }).unwrap();
///
/// let mut ftp = FtpClient::connect(server.addr()).unwrap();
/// ftp.login("anonymous", "guest@").unwrap();
/// let mut data = Vec::new();
/// ftp.get("hello.txt", 6, &mut data, &mut |_, _| {}).unwrap();
/// assert_eq!(data, b"over FTP");
/// assert_eq!(ftp.size("hello.txt").unwrap(), 14);
/// assert!(ftp.list(None).unwrap().contains("hello.txt"));
/// // Anonymous sessions are read-only; the server's reply says so.
/// let err = ftp.put("new.txt", &mut &b"x"[..], &mut |_, _| {}).unwrap_err();
/// assert!(err.to_string().starts_with("server replied 550"), "{err}");
/// ftp.quit().unwrap();
/// ```
pub struct FtpClient {
    stream: TcpStream,
    control: Control,
    data: Option<TcpStream>,
}

/// What moves over the data connection during one operation.
enum Flow<'a> {
    None,
    Download(&'a mut dyn Write, u64),
    Upload(&'a mut dyn Read),
}

impl FtpClient {
    /// Connects with a 30-second timeout and reads the greeting.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<FtpClient, FtpError> {
        Self::connect_timeout(addr, Duration::from_secs(30))
    }

    /// Connects and reads the greeting, waiting at most `timeout` for
    /// anything.
    pub fn connect_timeout(
        addr: impl ToSocketAddrs,
        timeout: Duration,
    ) -> Result<FtpClient, FtpError> {
        let addrs = resolved(addr.to_socket_addrs())?;
        let mut last = None;
        let control = addrs.iter().find_map(|a| {
            let s = TcpStream::connect_timeout(a, timeout);
            s.map_err(|e| last = Some(e)).ok()
        });
        let control = control.ok_or_else(|| connect_error(&addrs, last))?;
        let peer = control.peer_addr().map_err(FtpError::Io)?;
        control
            .set_read_timeout(Some(timeout))
            .map_err(FtpError::Io)?;
        control
            .set_write_timeout(Some(timeout))
            .map_err(FtpError::Io)?;
        let _ = control.set_nodelay(true);
        let mut client = FtpClient {
            stream: control,
            control: Control::new(peer, timeout),
            data: None,
        };
        client.run(Flow::None, &mut |_, _| {})?;
        Ok(client)
    }

    /// Logs in (`anonymous` with any password for anonymous access).
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), FtpError> {
        self.op(Request::Login { user, password })
    }

    /// Downloads `path` from `offset` into `sink`; returns the bytes received.
    pub fn get(
        &mut self,
        path: &str,
        offset: u64,
        sink: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<u64, FtpError> {
        self.start(Request::Retrieve { path, offset })?;
        self.run(Flow::Download(sink, offset), progress)
    }

    /// Uploads `source` to `path`, replacing it.
    pub fn put(
        &mut self,
        path: &str,
        source: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<u64, FtpError> {
        self.store(path, StoreMode::Replace, source, progress)
    }

    /// Appends `source` to `path`.
    pub fn append(
        &mut self,
        path: &str,
        source: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<u64, FtpError> {
        self.store(path, StoreMode::Append, source, progress)
    }

    /// Uploads `source` to `path` in the given mode (`Resume(n)` continues
    /// an interrupted upload at byte `n`; `source` must start there).
    pub fn store(
        &mut self,
        path: &str,
        mode: StoreMode,
        source: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<u64, FtpError> {
        self.start(Request::Store { path, mode })?;
        self.run(Flow::Upload(source), progress)
    }

    /// The `LIST` output for `path` (the working directory when `None`).
    pub fn list(&mut self, path: Option<&str>) -> Result<String, FtpError> {
        self.listing(path, ListKind::Long)
    }

    /// A listing of the chosen kind, as text.
    pub fn listing(&mut self, path: Option<&str>, kind: ListKind) -> Result<String, FtpError> {
        let mut out = Vec::new();
        self.start(Request::List { path, kind })?;
        self.run(Flow::Download(&mut out, 0), &mut |_, _| {})?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The names in `path` (`NLST`).
    pub fn names(&mut self, path: Option<&str>) -> Result<Vec<String>, FtpError> {
        Ok(self
            .listing(path, ListKind::Names)?
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// The size of a file (`SIZE`).
    pub fn size(&mut self, path: &str) -> Result<u64, FtpError> {
        self.start(Request::Size(path))?;
        self.run(Flow::None, &mut |_, _| {})?;
        self.control.last_number().ok_or(FtpError::Protocol)
    }

    /// Deletes a file.
    pub fn delete(&mut self, path: &str) -> Result<(), FtpError> {
        self.op(Request::Delete(path))
    }

    /// Creates a directory.
    pub fn mkdir(&mut self, path: &str) -> Result<(), FtpError> {
        self.op(Request::MakeDir(path))
    }

    /// Removes an empty directory.
    pub fn rmdir(&mut self, path: &str) -> Result<(), FtpError> {
        self.op(Request::RemoveDir(path))
    }

    /// Renames a file or directory.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FtpError> {
        self.op(Request::Rename { from, to })
    }

    /// Changes the working directory.
    pub fn cwd(&mut self, path: &str) -> Result<(), FtpError> {
        self.op(Request::ChangeDir(path))
    }

    /// True when the server refused `EPSV` and `PASV` is used instead.
    pub fn uses_pasv(&self) -> bool {
        self.control.uses_pasv()
    }

    /// Ends the session politely.
    pub fn quit(mut self) -> Result<(), FtpError> {
        self.op(Request::Quit)
    }

    fn op(&mut self, request: Request<'_>) -> Result<(), FtpError> {
        self.start(request)?;
        self.run(Flow::None, &mut |_, _| {}).map(|_| ())
    }

    fn start(&mut self, request: Request<'_>) -> Result<(), FtpError> {
        self.control.start(request)
    }

    /// Takes the control's steps until the operation's `Done`.
    fn run(&mut self, mut flow: Flow<'_>, progress: Progress<'_>) -> Result<u64, FtpError> {
        let timeout = self.control.timeout();
        loop {
            match self.control.step() {
                Step::Write(bytes) => self.stream.write_all(bytes).map_err(FtpError::Io)?,
                Step::Connect(addr) => {
                    let s = TcpStream::connect_timeout(&addr, timeout).map(|s| {
                        let _ = s.set_read_timeout(Some(timeout));
                        let _ = s.set_write_timeout(Some(timeout));
                        self.data = Some(s);
                    });
                    self.control.connected(s);
                }
                Step::Transfer { size } => {
                    let moved = self.move_data(&mut flow, size, progress);
                    self.control.transferred(moved);
                }
                Step::Read(wait) => {
                    self.stream
                        .set_read_timeout(Some(wait))
                        .map_err(FtpError::Io)?;
                    let mut buf = [0u8; 4096];
                    let n = self.stream.read(&mut buf);
                    self.control.received(n.map(|n| &buf[..n]))?;
                }
                Step::Done(result) => {
                    self.data = None;
                    return result;
                }
            }
        }
    }

    fn move_data(
        &mut self,
        flow: &mut Flow<'_>,
        size: Option<u64>,
        progress: Progress<'_>,
    ) -> Result<u64, FtpError> {
        let mut data = take_data(&mut self.data)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        match flow {
            Flow::Download(sink, offset) => {
                let size = size.map(|s| s.saturating_sub(*offset));
                loop {
                    let n = match data.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(FtpError::DataConnection(e.to_string())),
                    };
                    sink.write_all(&buf[..n]).map_err(FtpError::Local)?;
                    total += n as u64;
                    progress(total, size);
                }
            }
            Flow::Upload(source) => {
                loop {
                    let n = match source.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(FtpError::Local(e)),
                    };
                    data.write_all(&buf[..n])
                        .map_err(|e| FtpError::DataConnection(e.to_string()))?;
                    total += n as u64;
                    progress(total, None);
                }
                data.shutdown(Shutdown::Write)
                    .map_err(|e| FtpError::DataConnection(e.to_string()))?;
                // Wait for the server to close its side: the upload is then
                // fully received.
                let _ = data.read(&mut buf);
            }
            Flow::None => {}
        }
        Ok(total)
    }
}
