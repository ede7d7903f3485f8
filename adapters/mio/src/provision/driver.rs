//! The socket side of [`Provisioner::run`]: one mio poll over the BOOTP
//! socket, the current TFTP socket and the FTP control and data
//! connections, feeding the core machine and doing what its events ask.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use netboot_core::provision::{Channel, Event, Provision, Report};
use netboot_core::time::Instant;
use netboot_std::clock::Clock;
use netboot_std::fs::FsStore;
use netboot_std::net::{UdpOptions, bind_udp};

use super::Provisioner;

const BOOTP: Token = Token(0);
const TFTP: Token = Token(1);
const CONTROL: Token = Token(2);
const DATA: Token = Token(3);

/// How often a waiting loop looks at the cancel flag and reports progress.
const TICK: Duration = Duration::from_millis(50);

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    connecting: bool,
    /// Bytes not yet written (control connection).
    out: Vec<u8>,
    /// The flow asked for the data to be read (data connection).
    reading: bool,
}

struct Io<'a> {
    poll: Poll,
    bootp: Option<UdpSocket>,
    tftp: Option<UdpSocket>,
    control: Option<Conn>,
    data: Option<Conn>,
    interface: Option<&'a str>,
    configure_address: bool,
    report: Report,
    on_event: Option<super::OnEvent>,
}

type Flow = Provision<FsStore, Vec<u8>>;

pub(super) fn run(p: Provisioner) -> io::Result<Report> {
    std::fs::create_dir_all(&p.out)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", p.out.display())))?;
    let store = FsStore::open(&p.out, true)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", p.out.display())))?;
    let clock = Clock::new();
    let started = std::time::Instant::now();
    let bootp_addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, p.client_port));
    let bootp = bind_udp(
        bootp_addr,
        &UdpOptions {
            broadcast: true,
            reuse_address: true,
            interface: p.interface.as_deref(),
            ..UdpOptions::default()
        },
    )
    .map_err(|e| {
        io::Error::new(
            e.kind(),
            netboot_std::net::explain_bind_error(bootp_addr, &e),
        )
    })?;
    let mut flow = Provision::new(clock.now(), p.config, store, vec![0u8; p.manifest_limit])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut io = Io {
        poll: Poll::new()?,
        bootp: Some(UdpSocket::from_std(bootp)),
        tftp: None,
        control: None,
        data: None,
        interface: p.interface.as_deref(),
        configure_address: p.configure_address,
        report: Report::default(),
        on_event: p.on_event,
    };
    if let Some(s) = io.bootp.as_mut() {
        io.poll.registry().register(s, BOOTP, Interest::READABLE)?;
    }
    let mut on_progress = p.on_progress;
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 65_536];
    let mut last_progress = std::time::Instant::now();
    loop {
        let now = clock.now();
        io.drain(&mut flow, now, &mut buf)?;
        if flow.is_over() {
            break;
        }
        if p.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            flow.cancel(now);
            continue;
        }
        let mut wait = flow
            .poll_timeout()
            .map_or(Duration::from_secs(1), |d| clock.until(now, d));
        if p.cancel.is_some() || on_progress.is_some() {
            wait = wait.min(TICK);
        }
        match io.poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = clock.now();
        for event in events.iter() {
            io.ready(&mut flow, now, event.token(), &mut buf)?;
        }
        let now = clock.now();
        if flow.poll_timeout().is_some_and(|d| d <= now) {
            flow.handle_timeout(now);
        }
        if let (Some(f), Some(progress)) = (on_progress.as_mut(), flow.progress())
            && last_progress.elapsed() >= TICK
        {
            last_progress = std::time::Instant::now();
            f(progress);
        }
    }
    let mut report = io.report;
    if let Some(e) = flow.error() {
        report.fail(e);
    }
    report.elapsed = Some(netboot_core::time::Duration::from_micros(
        started.elapsed().as_micros() as u64,
    ));
    Ok(report)
}

impl Io<'_> {
    /// Sends what the flow has to send and does what its events ask, until
    /// it has nothing more to say.
    fn drain(&mut self, flow: &mut Flow, now: Instant, buf: &mut [u8]) -> io::Result<()> {
        loop {
            while let Some(out) = flow.poll_transmit(now, buf) {
                let bytes = &buf[..out.transmit.len];
                let to = out.transmit.destination;
                // A datagram that cannot leave is a loss the flow's timers
                // recover from.
                match out.channel {
                    Channel::Bootp => {
                        if let Some(s) = &self.bootp
                            && let Err(e) = s.send_to(bytes, to)
                        {
                            tracing::debug!("provision: BOOTP send to {to}: {e}");
                        }
                    }
                    Channel::Tftp => {
                        if let Some(s) = &self.tftp
                            && let Err(e) = s.send_to(bytes, to)
                        {
                            tracing::debug!("provision: TFTP send to {to}: {e}");
                        }
                    }
                    Channel::FtpControl => {
                        if let Some(c) = self.control.as_mut() {
                            c.out.extend_from_slice(bytes);
                        }
                    }
                }
            }
            self.flush_control(flow, now);
            let mut any = false;
            while let Some(event) = flow.poll_event() {
                any = true;
                self.answer(flow, now, &event, buf)?;
                self.report.record(&event);
                if let Some(f) = self.on_event.as_mut() {
                    f(&event);
                }
            }
            if !any {
                return Ok(());
            }
        }
    }

    fn answer(
        &mut self,
        flow: &mut Flow,
        now: Instant,
        event: &Event,
        buf: &mut [u8],
    ) -> io::Result<()> {
        match event {
            Event::Assigned {
                ip,
                netmask,
                server,
                ..
            } if self.configure_address => {
                let Some(interface) = self.interface else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "configuring the assigned address needs an interface",
                    ));
                };
                configure(interface, *ip, *netmask, *server)?;
            }
            Event::OpenTftp { local } => {
                if let Some(mut old) = self.tftp.take() {
                    let _ = self.poll.registry().deregister(&mut old);
                }
                let mut socket = UdpSocket::from_std(self.tftp_socket(*local)?);
                self.poll
                    .registry()
                    .register(&mut socket, TFTP, Interest::READABLE)?;
                self.tftp = Some(socket);
                let _ = flow.tftp_opened(now);
            }
            Event::BootDone => {
                for mut s in [self.bootp.take(), self.tftp.take()].into_iter().flatten() {
                    let _ = self.poll.registry().deregister(&mut s);
                }
            }
            Event::ConnectFtp(addr) => match self.connect(*addr, CONTROL) {
                Some(c) => self.control = Some(c),
                None => {
                    let _ = flow.ftp_connect_failed(now);
                }
            },
            Event::OpenData(addr) => match self.connect(*addr, DATA) {
                Some(c) => self.data = Some(c),
                None => {
                    let _ = flow.data_connect_failed(now);
                }
            },
            Event::ReadData => {
                if let Some(d) = self.data.as_mut() {
                    d.reading = true;
                }
                // The data may all be there already: its readiness edge has
                // passed.
                self.read_data(flow, now, buf);
            }
            Event::CloseFtp => {
                for mut c in [self.control.take(), self.data.take()]
                    .into_iter()
                    .flatten()
                {
                    let _ = self.poll.registry().deregister(&mut c.stream);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A fresh TFTP socket: on the address BOOTP gave when this host has it
    /// (the server attributes the download by it), else on any address.
    fn tftp_socket(&self, local: Ipv4Addr) -> io::Result<std::net::UdpSocket> {
        let options = UdpOptions {
            recv_buffer: Some(1 << 20),
            ..UdpOptions::default()
        };
        if !local.is_unspecified() {
            match bind_udp(SocketAddr::from((local, 0)), &options) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
                    tracing::warn!(
                        "provision: {local} is not an address of this host; fetching from any address (the server may not attribute the download to us)"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let options = UdpOptions {
            interface: self.interface,
            ..options
        };
        bind_udp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), &options)
    }

    fn connect(&mut self, addr: SocketAddr, token: Token) -> Option<Conn> {
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("provision: connect to {addr}: {e}");
                return None;
            }
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut stream, token, interest)
            .ok()?;
        Some(Conn {
            stream,
            peer: addr,
            connecting: true,
            out: Vec::new(),
            reading: false,
        })
    }

    fn ready(
        &mut self,
        flow: &mut Flow,
        now: Instant,
        token: Token,
        buf: &mut [u8],
    ) -> io::Result<()> {
        match token {
            BOOTP | TFTP => {
                let (socket, channel) = if token == BOOTP {
                    (self.bootp.as_ref(), Channel::Bootp)
                } else {
                    (self.tftp.as_ref(), Channel::Tftp)
                };
                let Some(socket) = socket else { return Ok(()) };
                loop {
                    match socket.recv_from(buf) {
                        Ok((n, from)) => {
                            let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                            flow.handle_datagram(now, channel, from, &mut buf[..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // An ICMP error queued on the socket: the flow's
                        // timers handle the loss.
                        Err(_) => break,
                    }
                }
            }
            CONTROL => {
                if !self.check_connected(flow, now, CONTROL) {
                    return Ok(());
                }
                self.flush_control(flow, now);
                while let Some(c) = self.control.as_mut() {
                    match c.stream.read(buf) {
                        Ok(0) => {
                            self.control = None;
                            flow.ftp_closed(now);
                            break;
                        }
                        Ok(n) => {
                            let peer = c.peer;
                            flow.handle_datagram(now, Channel::FtpControl, peer, &mut buf[..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            self.control = None;
                            flow.ftp_closed(now);
                            break;
                        }
                    }
                }
            }
            DATA if self.check_connected(flow, now, DATA) => self.read_data(flow, now, buf),
            _ => {}
        }
        Ok(())
    }

    /// Completes a pending connect; returns true when the connection is up.
    fn check_connected(&mut self, flow: &mut Flow, now: Instant, token: Token) -> bool {
        let slot = if token == CONTROL {
            &mut self.control
        } else {
            &mut self.data
        };
        let Some(c) = slot.as_mut() else { return false };
        if !c.connecting {
            return true;
        }
        let failed = matches!(c.stream.take_error(), Ok(Some(_)) | Err(_));
        let state = if failed {
            Err(())
        } else {
            match c.stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(_) => Err(()),
            }
        };
        match state {
            Ok(false) => false,
            Ok(true) => {
                c.connecting = false;
                let _ = c.stream.set_nodelay(true);
                let _ = if token == CONTROL {
                    flow.ftp_connected(now)
                } else {
                    flow.data_connected(now)
                };
                true
            }
            Err(()) => {
                *slot = None;
                let _ = if token == CONTROL {
                    flow.ftp_connect_failed(now)
                } else {
                    flow.data_connect_failed(now)
                };
                false
            }
        }
    }

    fn flush_control(&mut self, flow: &mut Flow, now: Instant) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        while !c.connecting && !c.out.is_empty() {
            match c.stream.write(&c.out) {
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.control = None;
                    flow.ftp_closed(now);
                    return;
                }
            }
        }
    }

    fn read_data(&mut self, flow: &mut Flow, now: Instant, buf: &mut [u8]) {
        loop {
            let Some(d) = self.data.as_mut() else { return };
            if d.connecting || !d.reading {
                return;
            }
            match d.stream.read(buf) {
                Ok(0) => {
                    self.data = None;
                    let _ = flow.data_end(now, true);
                    return;
                }
                Ok(n) => flow.handle_data(now, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.data = None;
                    let _ = flow.data_end(now, false);
                    return;
                }
            }
        }
    }
}

/// Gives `interface` the address `ip` unless the host has it already, with a
/// host route to `server` when it is outside the subnet.
fn configure(
    interface: &str,
    ip: Ipv4Addr,
    netmask: Option<Ipv4Addr>,
    server: Ipv4Addr,
) -> io::Result<()> {
    if bind_udp(SocketAddr::from((ip, 0)), &UdpOptions::default()).is_ok() {
        return Ok(());
    }
    let prefix = netmask.map_or(32, |m| u32::from(m).leading_ones());
    ip_command(&[
        "addr",
        "replace",
        &format!("{ip}/{prefix}"),
        "dev",
        interface,
    ])?;
    let shift = 32 - prefix;
    let same_subnet = shift == 32 || (u32::from(ip) >> shift) == (u32::from(server) >> shift);
    if !same_subnet && !server.is_unspecified() {
        ip_command(&[
            "route",
            "replace",
            &format!("{server}/32"),
            "dev",
            interface,
        ])?;
    }
    tracing::info!("provision: {ip}/{prefix} configured on {interface}");
    Ok(())
}

fn ip_command(args: &[&str]) -> io::Result<()> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run ip {}: {e}", args.join(" "))))?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}
