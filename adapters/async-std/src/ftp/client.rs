//! The async FTP client, driving the core's [`ClientSession`] the way
//! the blocking client of `netboot-mio` does: one control connection, one
//! operation at a time, passive data connections (EPSV, falling back to
//! PASV), binary transfers, every wait bounded by the client's timeout.

use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::{Shutdown, TcpStream, ToSocketAddrs};
use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncWrite};
use netboot_core::ftp::client::{ListKind, Request, StoreMode};
use netboot_std::client::ftp::{Control, FtpError, Step, connect_error, resolved, take_data};

/// What moves over the data connection during one operation.
enum Flow<'a> {
    None,
    Download(&'a mut (dyn AsyncWrite + Unpin + Send)),
    Upload(&'a mut (dyn AsyncRead + Unpin + Send)),
}

/// An async FTP session.
///
/// ```
/// use netboot_async_std::ftp::{FtpClient, FtpConfig, FtpServer};
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("hello.txt"), b"hello over FTP").unwrap();
/// async_std::task::block_on(async {
///     let server = FtpServer::start(&FtpConfig {
///         root: root.path().into(),
///         listen: "127.0.0.1:0".parse().unwrap(),
///         anonymous: true,
///         ..FtpConfig::default()
///     }).unwrap();
///     let mut ftp = FtpClient::connect(server.addr()).await.unwrap();
///     ftp.login("anonymous", "guest@").await.unwrap();
///     assert_eq!(ftp.size("hello.txt").await.unwrap(), 14);
///     assert!(ftp.list(None).await.unwrap().contains("hello.txt"));
///     // Anonymous sessions are read-only; the server's reply says so.
///     let err = ftp.put("new.txt", &mut &b"x"[..]).await.unwrap_err();
///     assert!(err.to_string().starts_with("server replied 550"), "{err}");
///     ftp.quit().await.unwrap();
///     server.shutdown().await.unwrap();
/// });
/// ```
pub struct FtpClient {
    stream: TcpStream,
    control: Control,
    data: Option<TcpStream>,
}

/// Runs `f`, giving up after `timeout`.
async fn bounded<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    future::or(f, async {
        async_io::Timer::after(timeout).await;
        Err(std::io::ErrorKind::TimedOut.into())
    })
    .await
}

impl FtpClient {
    /// Connects with a 30-second timeout and reads the greeting.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<FtpClient, FtpError> {
        Self::connect_timeout(addr, Duration::from_secs(30)).await
    }

    /// Connects and reads the greeting, waiting at most `timeout` for
    /// anything.
    pub async fn connect_timeout(
        addr: impl ToSocketAddrs,
        timeout: Duration,
    ) -> Result<FtpClient, FtpError> {
        let addrs = resolved(addr.to_socket_addrs().await)?;
        let (mut control, mut last) = (None, None);
        for a in &addrs {
            match bounded(timeout, TcpStream::connect(a)).await {
                Ok(s) => control = Some(s),
                Err(e) => last = Some(e),
            }
            if control.is_some() {
                break;
            }
        }
        let control = control.ok_or_else(|| connect_error(&addrs, last))?;
        let peer = control.peer_addr().map_err(FtpError::Io)?;
        let _ = control.set_nodelay(true);
        let mut client = FtpClient {
            stream: control,
            control: Control::new(peer, timeout),
            data: None,
        };
        client.run(Flow::None).await?;
        Ok(client)
    }

    /// Logs in (`anonymous` with any password for anonymous access).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), FtpError> {
        self.op(Request::Login { user, password }).await
    }

    /// Downloads `path` from `offset` into `sink`; returns the bytes received.
    pub async fn get(
        &mut self,
        path: &str,
        offset: u64,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<u64, FtpError> {
        self.start(Request::Retrieve { path, offset })?;
        self.run(Flow::Download(sink)).await
    }

    /// Uploads `source` to `path`, replacing it.
    pub async fn put(
        &mut self,
        path: &str,
        source: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<u64, FtpError> {
        self.store(path, StoreMode::Replace, source).await
    }

    /// Uploads `source` to `path` in the given mode (append, or resume at
    /// an offset `source` starts from).
    pub async fn store(
        &mut self,
        path: &str,
        mode: StoreMode,
        source: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<u64, FtpError> {
        self.start(Request::Store { path, mode })?;
        self.run(Flow::Upload(source)).await
    }

    /// The `LIST` output for `path` (the working directory when `None`).
    pub async fn list(&mut self, path: Option<&str>) -> Result<String, FtpError> {
        self.listing(path, ListKind::Long).await
    }

    /// A listing of the chosen kind, as text.
    pub async fn listing(
        &mut self,
        path: Option<&str>,
        kind: ListKind,
    ) -> Result<String, FtpError> {
        let mut out = Vec::new();
        self.start(Request::List { path, kind })?;
        self.run(Flow::Download(&mut out)).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The size of a file (`SIZE`).
    pub async fn size(&mut self, path: &str) -> Result<u64, FtpError> {
        self.start(Request::Size(path))?;
        self.run(Flow::None).await?;
        self.control.last_number().ok_or(FtpError::Protocol)
    }

    /// Deletes a file.
    pub async fn delete(&mut self, path: &str) -> Result<(), FtpError> {
        self.op(Request::Delete(path)).await
    }

    /// Creates a directory.
    pub async fn mkdir(&mut self, path: &str) -> Result<(), FtpError> {
        self.op(Request::MakeDir(path)).await
    }

    /// Renames a file or directory.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), FtpError> {
        self.op(Request::Rename { from, to }).await
    }

    /// Changes the working directory.
    pub async fn cwd(&mut self, path: &str) -> Result<(), FtpError> {
        self.op(Request::ChangeDir(path)).await
    }

    /// Ends the session politely.
    pub async fn quit(mut self) -> Result<(), FtpError> {
        self.op(Request::Quit).await
    }

    async fn op(&mut self, request: Request<'_>) -> Result<(), FtpError> {
        self.start(request)?;
        self.run(Flow::None).await.map(|_| ())
    }

    fn start(&mut self, request: Request<'_>) -> Result<(), FtpError> {
        self.control.start(request)
    }

    /// Takes the control's steps until the operation's `Done`.
    async fn run(&mut self, mut flow: Flow<'_>) -> Result<u64, FtpError> {
        let timeout = self.control.timeout();
        loop {
            match self.control.step() {
                Step::Write(bytes) => bounded(timeout, self.stream.write_all(bytes))
                    .await
                    .map_err(FtpError::Io)?,
                Step::Connect(addr) => {
                    let s = bounded(timeout, TcpStream::connect(addr)).await;
                    self.control.connected(s.map(|s| self.data = Some(s)));
                }
                Step::Transfer { .. } => {
                    let moved = self.move_data(&mut flow).await;
                    self.control.transferred(moved);
                }
                Step::Read(wait) => {
                    let mut buf = [0u8; 4096];
                    let n = bounded(wait, self.stream.read(&mut buf)).await;
                    self.control.received(n.map(|n| &buf[..n]))?;
                }
                Step::Done(result) => {
                    self.data = None;
                    return result;
                }
            }
        }
    }

    async fn move_data(&mut self, flow: &mut Flow<'_>) -> Result<u64, FtpError> {
        let mut data = take_data(&mut self.data)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let lost = |e: std::io::Error| FtpError::DataConnection(e.to_string());
        match flow {
            Flow::Download(sink) => loop {
                let n = bounded(self.control.timeout(), data.read(&mut buf))
                    .await
                    .map_err(lost)?;
                if n == 0 {
                    break;
                }
                sink.write_all(&buf[..n]).await.map_err(FtpError::Local)?;
                total += n as u64;
            },
            Flow::Upload(source) => {
                loop {
                    let n = source.read(&mut buf).await.map_err(FtpError::Local)?;
                    if n == 0 {
                        break;
                    }
                    bounded(self.control.timeout(), data.write_all(&buf[..n]))
                        .await
                        .map_err(lost)?;
                    total += n as u64;
                }
                data.shutdown(Shutdown::Write).map_err(lost)?;
                // Wait for the server to close its side: the upload is then
                // fully received.
                let _ = bounded(self.control.timeout(), data.read(&mut buf)).await;
            }
            Flow::None => {}
        }
        Ok(total)
    }
}
