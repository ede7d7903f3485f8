//! How a provisioning client behaves: where it asks, how long it waits, how
//! often it retries.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::bootp::HwAddr;
use crate::bootp::client::{MAX_OPTIONS, OptionsFull, push_option};
use crate::rng::Rng;
use crate::tftp::TransferConfig;
use crate::tftp::options::Request;
use crate::time::Duration;
use crate::wire::bootp::SERVER_PORT;

/// Longest FTP user name kept.
pub const MAX_USER: usize = 64;
/// Longest FTP password kept.
pub const MAX_PASSWORD: usize = 128;

/// How a client describes itself in every BOOTP request: its vendor class
/// (option 60) and further options, encoded (code, length, value).
///
/// ```
/// use netboot_core::provision::Identity;
/// use netboot_core::wire::bootp::options;
///
/// // A legacy BIOS PXE ROM, and the iPXE it chainloads.
/// let rom = Identity::vendor(b"PXEClient:Arch:00000:UNDI:002001").unwrap()
///     .with(options::CLIENT_ARCH, &[0, 0]).unwrap();
/// let ipxe = rom.clone()
///     .with(options::USER_CLASS, b"iPXE").unwrap()
///     .with(options::IPXE, &[19, 1, 1]).unwrap();
/// assert_eq!(ipxe.options.len(), rom.options.len() + 6 + 5);
/// assert!(Identity::vendor(&[b'x'; 65]).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// Option 60 (none when empty).
    pub vendor_class: heapless::Vec<u8, 64>,
    /// Further options, encoded; see
    /// [`ClientConfig::options`](crate::bootp::client::ClientConfig::options).
    pub options: heapless::Vec<u8, MAX_OPTIONS>,
}

impl Identity {
    /// A client that sends option 60 `vendor_class` (at most 64 bytes).
    pub fn vendor(vendor_class: &[u8]) -> Result<Self, OptionsFull> {
        Ok(Identity {
            vendor_class: heapless::Vec::from_slice(vendor_class).map_err(|_| OptionsFull)?,
            options: heapless::Vec::new(),
        })
    }

    /// Adds option `code` with `value` (at most [`MAX_OPTIONS`] bytes of
    /// options in all).
    pub fn with(mut self, code: u8, value: &[u8]) -> Result<Self, OptionsFull> {
        push_option(&mut self.options, code, value)?;
        Ok(self)
    }
}

/// Everything a [`Provision`](super::Provision) needs to know up front.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our hardware address: the BOOTP `chaddr`, and how the server's plan
    /// knows us.
    pub hw: HwAddr,
    /// Ask with DHCP (DISCOVER/REQUEST) instead of plain BOOTP.
    pub dhcp: bool,
    /// Where BOOTP requests go: 255.255.255.255:67 (broadcast), or one
    /// server.
    pub bootp_server: SocketAddrV4,
    /// What the client says about itself in its BOOTP requests (vendor
    /// class, architecture, user class...): the firmware's identity.
    pub identity: Identity,
    /// The client is a boot ROM that chainloads another program (an iPXE
    /// build): the first boot file it downloads is that program, not a
    /// stage. Once it has arrived whole it runs, which is modelled by the
    /// flow starting BOOTP again from scratch (a new exchange, silence
    /// meaning nobody answers) as the program, which describes itself with
    /// this identity (iPXE adds option 175 and user class `iPXE`); what it
    /// fetches from then on are the stages. The program is stored under
    /// its name but is no stage: it is reported with
    /// [`Event::Chainloaded`](super::Event::Chainloaded), not counted in
    /// [`Provision::stages`](super::Provision::stages), and never read as
    /// the manifest. It is run once per flow: a client told to boot it
    /// again later fetches it as a stage, which the plan then sees out of
    /// order. `None`: the client is that program already (iPXE from the
    /// start, or firmware that runs the flow itself).
    pub chain: Option<Identity>,
    /// The TFTP port of the server a BOOTP reply names (BOOTP carries no
    /// port).
    pub tftp_port: u16,
    /// Options asked for on every stage download.
    pub tftp_options: Request,
    /// Retransmission and give-up settings of stage downloads.
    pub tftp: TransferConfig,
    /// The FTP server; `None`: the manifest's `ftp-server:`, else the boot
    /// server on [`Config::ftp_port`].
    pub ftp_server: Option<SocketAddr>,
    /// The FTP port used when no address names one.
    pub ftp_port: u16,
    /// FTP user (`anonymous` by default).
    pub user: heapless::String<MAX_USER>,
    /// FTP password.
    pub password: heapless::String<MAX_PASSWORD>,
    /// How long to wait for a first BOOTP answer (and for any answer after a
    /// failed stage download) before giving up.
    pub first_answer: Duration,
    /// How long BOOTP must stay silent after a stage for the boot phase to
    /// be over. It must be longer than the server's longest pause (a
    /// restart, say): a server that is down that long looks finished.
    pub silence: Duration,
    /// First BOOTP retransmission timeout (never more than a quarter of the
    /// wait it is part of; it doubles up to an eighth of that wait, so that
    /// about ten requests go out before silence is concluded).
    pub bootp_timeout: Duration,
    /// Most stages accepted before concluding that the server never stops.
    pub max_stages: u16,
    /// Tries per stage download before its failure is final (a failed
    /// download goes back to BOOTP first: the server may have restarted).
    pub stage_attempts: u8,
    /// Tries per FTP file before its failure is final (each retry
    /// reconnects and logs in again).
    pub ftp_attempts: u8,
    /// Pause before an FTP retry.
    pub ftp_retry_delay: Duration,
    /// Longest wait for an FTP reply, a connection, or data on a running
    /// transfer.
    pub ftp_timeout: Duration,
    /// Source of BOOTP `xid`s and jitter.
    pub rng: Rng,
}

impl Config {
    /// Defaults: plain BOOTP broadcast to port 67, TFTP on 69 with `blksize`
    /// 1468, `windowsize` 8 and `tsize`, anonymous FTP on 21, 30 s for a
    /// first answer, 10 s of silence to end the boot phase, at most 32
    /// stages, 3 tries per stage and per file.
    ///
    /// ```
    /// use netboot_core::bootp::HwAddr;
    /// use netboot_core::provision::Config;
    /// use netboot_core::rng::Rng;
    ///
    /// let c = Config::new(HwAddr::ethernet([2, 0, 0, 0, 0, 1]), Rng::new(1));
    /// assert_eq!(c.bootp_server.to_string(), "255.255.255.255:67");
    /// assert_eq!(c.user, "anonymous");
    /// ```
    pub fn new(hw: HwAddr, rng: Rng) -> Self {
        let mut user = heapless::String::new();
        let _ = user.push_str("anonymous");
        let mut password = heapless::String::new();
        let _ = password.push_str("netboot@");
        Config {
            hw,
            dhcp: false,
            bootp_server: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
            identity: Identity::default(),
            chain: None,
            tftp_port: crate::tftp::PORT,
            tftp_options: Request {
                blksize: Some(1468),
                windowsize: Some(8),
                tsize: Some(0),
                ..Request::default()
            },
            tftp: TransferConfig::default(),
            ftp_server: None,
            ftp_port: 21,
            user,
            password,
            first_answer: Duration::from_secs(30),
            silence: Duration::from_secs(10),
            bootp_timeout: Duration::from_secs(1),
            max_stages: 32,
            stage_attempts: 3,
            ftp_attempts: 3,
            ftp_retry_delay: Duration::from_secs(1),
            ftp_timeout: Duration::from_secs(30),
            rng,
        }
    }

    /// Sets the FTP user and password; `Err` when either is too long.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), ConfigError> {
        self.user = heapless::String::try_from(user).map_err(|_| ConfigError::TooLong)?;
        self.password = heapless::String::try_from(password).map_err(|_| ConfigError::TooLong)?;
        Ok(())
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.first_answer.is_zero() || self.silence.is_zero() || self.bootp_timeout.is_zero() {
            return Err(ConfigError::ZeroTime);
        }
        if self.stage_attempts == 0 || self.ftp_attempts == 0 || self.max_stages == 0 {
            return Err(ConfigError::NoAttempts);
        }
        if self.ftp_timeout.is_zero() {
            return Err(ConfigError::ZeroTime);
        }
        Ok(())
    }
}

/// A configuration a [`Provision`](super::Provision) cannot run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A wait or timeout is zero.
    #[error("waits and timeouts must be positive")]
    ZeroTime,
    /// An attempt count or the stage limit is zero.
    #[error("attempt counts and the stage limit must be at least 1")]
    NoAttempts,
    /// The user name or password is too long.
    #[error("FTP user or password too long")]
    TooLong,
    /// The manifest buffer is empty.
    #[error("the manifest buffer is empty")]
    NoManifestBuffer,
}
