//! The async TFTP client.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use async_std::net::UdpSocket;
use futures_lite::future;
use netboot_core::wire::tftp::MAX_PACKET_LEN;
use netboot_std::client::tftp::{ClientError, Prepared, Settings, Stats};
use netboot_std::clock::Clock;

use crate::time::sleep_until;

/// An async TFTP client (the seed's `ExternalTftp`, tftpy's `TftpClient`),
/// configured by the [`Settings`] the blocking client of `netboot-mio`
/// holds too.
///
/// ```
/// use netboot_async_std::tftp::{Client, TftpServer};
/// use netboot_core::wire::tftp::Mode;
///
/// let root = tempfile::tempdir().unwrap();
/// let work = tempfile::tempdir().unwrap();
/// std::fs::write(work.path().join("notes.txt"), b"line one\nline two\n").unwrap();
/// async_std::task::block_on(async {
///     let server = TftpServer::new(root.path())
///         .bind("127.0.0.1:0".parse().unwrap())
///         .writable(true)
///         .spawn()
///         .unwrap();
///     let mut client = Client::new(server.local_addr()).blksize(1468).windowsize(16).mode(Mode::Netascii);
///     client.put(work.path().join("notes.txt"), "notes.txt").await.unwrap();
///     let stats = client.get("notes.txt", work.path().join("back.txt")).await.unwrap();
///     assert_eq!(stats.bytes, 18);
///     server.shutdown().await.unwrap();
/// });
/// assert_eq!(std::fs::read(work.path().join("back.txt")).unwrap(), b"line one\nline two\n");
/// ```
pub struct Client {
    settings: Settings,
}

impl Client {
    /// A client of the server at `server` (its request port), with RFC 1350
    /// defaults and `tsize` on.
    pub fn new(server: SocketAddr) -> Self {
        Client::with_settings(Settings::new(server))
    }

    /// A client of the TFTP server at `host` on the well-known port 69 (the
    /// seed's `ExternalTftp(ip_address, port=69)`).
    ///
    /// ```
    /// let c = netboot_async_std::tftp::Client::for_host("192.0.2.7".parse().unwrap());
    /// assert_eq!(c.server().to_string(), "192.0.2.7:69");
    /// ```
    pub fn for_host(host: IpAddr) -> Self {
        Client::with_settings(Settings::for_host(host))
    }

    /// A client with these settings.
    pub fn with_settings(settings: Settings) -> Self {
        Client { settings }
    }

    fn map(mut self, f: impl FnOnce(Settings) -> Settings) -> Self {
        self.settings = f(self.settings);
        self
    }

    /// The server's request address.
    pub fn server(&self) -> SocketAddr {
        self.settings.server()
    }

    netboot_std::tftp_client_setters!();

    /// Downloads `remote` into `local` (a file, or a directory). The file
    /// appears only when complete; on failure an existing file is left as
    /// it was. Resolves after lingering a few round trips for a lost final
    /// ACK.
    pub async fn get(
        &mut self,
        remote: &str,
        local: impl AsRef<Path>,
    ) -> Result<Stats, ClientError> {
        let p = self.settings.prepare_get(remote, local.as_ref())?;
        self.run(p).await
    }

    /// Uploads `local` as `remote`.
    pub async fn put(
        &mut self,
        local: impl AsRef<Path>,
        remote: &str,
    ) -> Result<Stats, ClientError> {
        let p = self.settings.prepare_put(local.as_ref(), remote)?;
        self.run(p).await
    }

    /// tftpy's `download(remote, local)`: the same as [`Client::get`].
    ///
    /// ```
    /// use netboot_async_std::tftp::{Client, TftpServer};
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// std::fs::write(root.path().join("remote-filename"), b"payload").unwrap();
    /// let local = root.path().join("local-filename");
    /// async_std::task::block_on(async {
    ///     let server = TftpServer::new(root.path()).listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    ///     Client::new(server.local_addr()).download("remote-filename", &local).await.unwrap();
    ///     server.shutdown().await.unwrap();
    /// });
    /// assert_eq!(std::fs::read(&local).unwrap(), b"payload");
    /// ```
    pub async fn download(
        &mut self,
        remote: &str,
        local: impl AsRef<Path>,
    ) -> Result<Stats, ClientError> {
        self.get(remote, local).await
    }

    /// tftpy's `upload`, in `put`'s order: sends `local` to be stored as
    /// `remote`.
    ///
    /// ```
    /// use netboot_async_std::tftp::{Client, TftpServer};
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// let work = tempfile::tempdir().unwrap();
    /// std::fs::write(work.path().join("log.txt"), b"uploaded").unwrap();
    /// async_std::task::block_on(async {
    ///     let server = TftpServer::new(root.path())
    ///         .writable(true)
    ///         .listen("127.0.0.1".parse().unwrap(), 0)
    ///         .unwrap();
    ///     Client::new(server.local_addr()).upload(work.path().join("log.txt"), "log.txt").await.unwrap();
    ///     server.shutdown().await.unwrap();
    /// });
    /// assert_eq!(std::fs::read(root.path().join("log.txt")).unwrap(), b"uploaded");
    /// ```
    pub async fn upload(
        &mut self,
        local: impl AsRef<Path>,
        remote: &str,
    ) -> Result<Stats, ClientError> {
        self.put(local, remote).await
    }

    async fn run(&mut self, mut p: Prepared) -> Result<Stats, ClientError> {
        let clock = Clock::new();
        let socket = UdpSocket::from(self.settings.socket()?);
        let mut tx = vec![0u8; MAX_PACKET_LEN];
        let mut rx = vec![0u8; MAX_PACKET_LEN + 1];
        let mut send = |bytes: &[u8], to| send_now(&socket, bytes, to);
        // The transfer was created at Instant::ZERO, the clock's epoch.
        let mut now = clock.now();
        let _ = p
            .client
            .drive(&mut p.store, now, &mut [], &mut tx, &mut send);
        // Runs to the end, then lingers (dallies) until the machine closes.
        while let Some(deadline) = p.client.transfer().poll_timeout() {
            let got = future::or(async { Some(socket.recv_from(&mut rx).await) }, async {
                sleep_until(&clock, Some(deadline)).await;
                None
            })
            .await;
            now = clock.now();
            match got {
                Some(Ok((n, from))) => {
                    let n = n.min(MAX_PACKET_LEN);
                    p.datagram(now, from, &mut rx[..n], &mut tx, &mut send);
                }
                Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Some(Err(e)) if p.client.outcome().is_none() => {
                    p.client.discard(&mut p.store);
                    return Err(e.into());
                }
                Some(Err(_)) => break,
                None => p.timeout(now, &mut tx, &mut send),
            }
            p.tick(&mut self.settings);
        }
        p.result(&mut self.settings, now)
    }
}

/// Sends one datagram at once from a non-blocking socket. A send that would
/// block is a loss, which the transfer's retransmission recovers from.
fn send_now(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket2::SockRef::from(socket).send_to(bytes, &to.into()) {
        tracing::debug!("tftp: send to {to} failed: {e}");
    }
}
