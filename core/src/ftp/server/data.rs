//! The data channel: `PORT`/`EPRT` (checked against RFC 2577 §3),
//! `PASV`/`EPSV` (RFC 2428), the connection's life around a transfer, the
//! transfer's end and `ABOR` (RFC 959 §3.2, §3.3, §4.1.3).

use super::*;

impl ServerSession {
    pub(super) fn begin_data(
        &mut self,
        now: Instant,
        kind: TransferKind,
        offset: u64,
        text: fmt::Arguments<'_>,
    ) {
        let phase = match self.data {
            Data::Passive { connected: true } => {
                self.reply(125, text);
                self.announce = Some(Announce::Transfer);
                Phase::Running
            }
            Data::Passive { connected: false } => {
                self.reply(150, text);
                Phase::AwaitConnection
            }
            Data::Active(addr) => {
                self.reply(150, text);
                self.announce = Some(Announce::Connect(addr));
                Phase::Connecting
            }
            Data::None => {
                self.close_data = true;
                return self.reply_str(425, "Use PORT, PASV, EPRT or EPSV first.");
            }
        };
        self.busy = Busy::Transfer(Xfer {
            kind,
            offset,
            phase,
            deadline: now + self.config.data_timeout,
            client_abort: false,
        });
    }

    pub(super) fn active(&mut self, addr: SocketAddr) {
        if self.epsv_all {
            return self.reply_str(501, "EPSV ALL in effect; only EPSV is allowed.");
        }
        if !self.config.active {
            return self.reply_str(502, "Active mode is disabled; use PASV or EPSV.");
        }
        if canonical(addr.ip()) != canonical(self.peer.ip()) {
            return self.reply_str(
                504,
                "Data connections go only to the control connection's address (RFC 2577).",
            );
        }
        if addr.port() < 1024 {
            return self.reply_str(
                504,
                "Data connections to ports below 1024 are refused (RFC 2577).",
            );
        }
        self.drop_data();
        self.data = Data::Active(addr);
        self.reply_str(200, "PORT command successful.");
    }

    pub(super) fn passive(&mut self, extended: bool, arg: Option<EpsvArg>) {
        let family = if canonical(self.local.ip()).is_ipv4() {
            1
        } else {
            2
        };
        match arg {
            Some(EpsvArg::All) => {
                self.epsv_all = true;
                return self.reply_str(200, "EPSV ALL ok.");
            }
            Some(EpsvArg::Protocol(n)) if n != family => {
                return self.reply(
                    522,
                    format_args!("Network protocol not supported, use ({family})."),
                );
            }
            _ => {}
        }
        if !extended && self.epsv_all {
            return self.reply_str(501, "EPSV ALL in effect; only EPSV is allowed.");
        }
        if !extended && family != 1 && self.config.masquerade.is_none_or(|m| !m.is_ipv4()) {
            return self.reply_str(522, "PASV needs IPv4; use EPSV.");
        }
        self.drop_data();
        self.busy = Busy::Listen { extended };
        self.announce = Some(Announce::Listen);
    }

    /// The passive listener asked for by [`Event::Listen`] is open on `port`.
    pub fn passive_listening(&mut self, _now: Instant, port: u16) -> Result<(), SessionError> {
        let Busy::Listen { extended } = self.busy else {
            return Err(SessionError::Unexpected);
        };
        self.busy = Busy::Idle;
        self.data = Data::Passive { connected: false };
        if extended {
            self.reply(
                229,
                format_args!("Entering Extended Passive Mode (|||{port}|)."),
            );
        } else {
            let ip = match self
                .config
                .masquerade
                .map(canonical)
                .unwrap_or(canonical(self.local.ip()))
            {
                IpAddr::V4(ip) => ip,
                IpAddr::V6(_) => core::net::Ipv4Addr::UNSPECIFIED,
            };
            let hp = format_host_port(core::net::SocketAddrV4::new(ip, port));
            self.reply(227, format_args!("Entering Passive Mode ({hp})."));
        }
        Ok(())
    }

    /// Opening the passive listener failed.
    pub fn passive_failed(&mut self, _now: Instant) -> Result<(), SessionError> {
        if !matches!(self.busy, Busy::Listen { .. }) {
            return Err(SessionError::Unexpected);
        }
        self.busy = Busy::Idle;
        self.reply_str(425, "Cannot open a passive connection.");
        Ok(())
    }

    /// A connection arrived on the passive listener from `from`. Returns
    /// true to keep it (then stop listening), false to close it: only the
    /// control connection's peer address may connect, and only once.
    pub fn accept_data_connection(&mut self, _now: Instant, from: SocketAddr) -> bool {
        if self.data != (Data::Passive { connected: false })
            || canonical(from.ip()) != canonical(self.peer.ip())
        {
            return false;
        }
        self.data = Data::Passive { connected: true };
        if let Busy::Transfer(x) = &mut self.busy
            && x.phase == Phase::AwaitConnection
        {
            x.phase = Phase::Running;
            self.announce = Some(Announce::Transfer);
        }
        true
    }

    /// The active-mode connection asked for by [`Event::Connect`] is up.
    pub fn data_connected(&mut self, now: Instant) -> Result<(), SessionError> {
        match &mut self.busy {
            Busy::Transfer(x) if x.phase == Phase::Connecting => {
                x.phase = Phase::Running;
                x.deadline = now + self.config.data_timeout;
                self.announce = Some(Announce::Transfer);
                Ok(())
            }
            _ => Err(SessionError::Unexpected),
        }
    }

    /// The active-mode connection could not be made.
    pub fn data_connect_failed(&mut self, _now: Instant) -> Result<(), SessionError> {
        match self.busy {
            Busy::Transfer(x) if x.phase == Phase::Connecting => {
                self.end_transfer();
                self.close_data = true;
                self.reply_str(425, "Cannot open data connection.");
                Ok(())
            }
            _ => Err(SessionError::Unexpected),
        }
    }

    /// Data moved: `bytes` in total so far. Keeps the data timeout at bay.
    pub fn transfer_progress(&mut self, now: Instant, _bytes: u64) {
        if let Busy::Transfer(x) = &mut self.busy
            && x.phase == Phase::Running
        {
            x.deadline = now + self.config.data_timeout;
        }
    }

    /// The transfer announced by [`Event::Transfer`] ended.
    pub fn transfer_done(
        &mut self,
        now: Instant,
        outcome: TransferOutcome,
    ) -> Result<(), SessionError> {
        let Busy::Transfer(x) = self.busy else {
            return Err(SessionError::Unexpected);
        };
        if !matches!(x.phase, Phase::Running | Phase::Aborting)
            || self.announce == Some(Announce::Transfer)
        {
            return Err(SessionError::Unexpected);
        }
        self.end_transfer();
        self.idle_deadline = now + self.config.idle_timeout;
        match outcome {
            TransferOutcome::Complete { bytes } if x.phase == Phase::Running => {
                self.reply(226, format_args!("Transfer complete ({bytes} bytes)."))
            }
            TransferOutcome::Complete { .. } | TransferOutcome::Aborted if x.client_abort => {
                self.reply_str(426, "Connection closed; transfer aborted.");
                self.reply_str(226, "ABOR successful.");
            }
            TransferOutcome::Complete { .. } | TransferOutcome::Aborted => {
                self.reply_str(426, "Data connection timed out; transfer aborted.")
            }
            TransferOutcome::ConnectionLost => {
                self.reply_str(426, "Connection closed; transfer aborted.")
            }
            TransferOutcome::Storage(e) => {
                let (code, text) = match e {
                    StoreError::Full => (552, "Insufficient storage space; transfer aborted."),
                    StoreError::AlreadyExists => (553, "File exists."),
                    _ => (451, "Local error in processing; transfer aborted."),
                };
                self.reply_str(code, text);
            }
        }
        Ok(())
    }

    pub(super) fn end_transfer(&mut self) {
        self.busy = Busy::Idle;
        self.data = Data::None;
        if matches!(
            self.announce,
            Some(Announce::Transfer | Announce::Abort | Announce::Connect(_))
        ) {
            self.announce = None;
        }
    }

    pub(super) fn drop_data(&mut self) {
        if self.data != Data::None {
            self.close_data = true;
        }
        self.data = Data::None;
    }

    pub(super) fn abor(&mut self, _now: Instant) {
        match &mut self.busy {
            Busy::Transfer(x) => match x.phase {
                Phase::Running if self.announce == Some(Announce::Transfer) => {
                    // Announced but never started: nothing moved yet.
                    self.end_transfer();
                    self.close_data = true;
                    self.reply_str(426, "Connection closed; transfer aborted.");
                    self.reply_str(226, "ABOR successful.");
                }
                Phase::Running => {
                    x.phase = Phase::Aborting;
                    x.client_abort = true;
                    self.announce = Some(Announce::Abort);
                }
                Phase::Aborting => x.client_abort = true,
                Phase::AwaitConnection | Phase::Connecting => {
                    self.end_transfer();
                    self.close_data = true;
                    self.reply_str(426, "Connection closed; transfer aborted.");
                    self.reply_str(226, "ABOR successful.");
                }
            },
            _ => {
                self.drop_data();
                self.reply_str(225, "No transfer to abort.");
            }
        }
    }
}
