//! The FTP phase of a [`Provision`]: connect, log in, fetch every manifest
//! file in order into the store while hashing it, verify, commit, quit.
//!
//! A file is written aside ([`WriteMode::Replace`]) and published only when
//! it arrived whole and its digest (when the manifest gives one) matches; a
//! mismatch discards it. Transient failures (connection refused or lost,
//! time-outs, 4xx replies, a transfer shorter than announced) reconnect,
//! log in again and fetch the same file from its start, up to
//! [`Config::ftp_attempts`](super::Config::ftp_attempts) times in a row; a
//! refused login and a 5xx refusal of a file are final.

use core::net::SocketAddr;

use sha2::Digest;

use super::event::{Event, FlowError, FtpFailure, Message};
use super::machine::{Download, Phase, Provision, make_parents};
use crate::ftp::client::{ClientSession, Event as FtpEvent, Failure, Request};
use crate::plan::{Item, ManifestLines};
use crate::storage::{Storage, WriteMode};
use crate::time::Instant;

use super::machine::ApiError;

/// What a finished FTP operation came to, owned.
enum Outcome {
    Ok,
    Refused(u16, Message),
    Failed(FtpFailure),
}

impl<S: Storage, B: AsRef<[u8]> + AsMut<[u8]>> Provision<S, B> {
    /// The control connection asked for by [`Event::ConnectFtp`] is open.
    pub fn ftp_connected(&mut self, now: Instant) -> Result<(), ApiError> {
        let (Phase::Connecting, Some(addr)) = (self.phase, self.ftp_addr) else {
            return Err(ApiError::NotExpected);
        };
        let mut session = ClientSession::new(now, addr);
        session.set_reply_timeout(self.config.ftp_timeout);
        self.ftp = Some(session);
        self.phase = Phase::Greeting;
        self.wait = None;
        Ok(())
    }

    /// The control connection could not be opened.
    pub fn ftp_connect_failed(&mut self, now: Instant) -> Result<(), ApiError> {
        if self.phase != Phase::Connecting {
            return Err(ApiError::NotExpected);
        }
        self.ftp_failed(now, FtpFailure::Connect);
        Ok(())
    }

    /// The server closed the control connection.
    pub fn ftp_closed(&mut self, now: Instant) {
        if let Some(s) = self.ftp.as_mut() {
            s.handle_close(now);
            self.pump_ftp(now);
        }
    }

    /// The data connection asked for by [`Event::OpenData`] is open.
    pub fn data_connected(&mut self, now: Instant) -> Result<(), ApiError> {
        let s = self.ftp.as_mut().ok_or(ApiError::NotExpected)?;
        s.data_connected(now).map_err(|_| ApiError::NotExpected)?;
        self.wait = None;
        self.pump_ftp(now);
        Ok(())
    }

    /// The data connection could not be opened.
    pub fn data_connect_failed(&mut self, now: Instant) -> Result<(), ApiError> {
        let s = self.ftp.as_mut().ok_or(ApiError::NotExpected)?;
        s.data_connect_failed(now)
            .map_err(|_| ApiError::NotExpected)?;
        self.wait = None;
        self.pump_ftp(now);
        Ok(())
    }

    /// Bytes that arrived on the data connection (after [`Event::ReadData`]):
    /// stored and hashed.
    pub fn handle_data(&mut self, now: Instant, bytes: &[u8]) {
        let Some(d) = self.download.as_mut() else {
            return;
        };
        let Some(w) = d.writer.as_mut() else { return };
        if let Err(error) = self.store.write(w, bytes) {
            let path = d.path.clone();
            return self.fail(FlowError::Local { path, error });
        }
        d.hasher.update(bytes);
        d.bytes += bytes.len() as u64;
        self.wait = Some(now + self.config.ftp_timeout);
    }

    /// The data connection reached its end (`ok`) or broke (`!ok`).
    pub fn data_end(&mut self, now: Instant, ok: bool) -> Result<(), ApiError> {
        let s = self.ftp.as_mut().ok_or(ApiError::NotExpected)?;
        s.data_finished(now, ok)
            .map_err(|_| ApiError::NotExpected)?;
        self.wait = None;
        self.pump_ftp(now);
        Ok(())
    }

    /// Feeds control-connection bytes; they are all consumed.
    pub(super) fn handle_control(&mut self, now: Instant, bytes: &[u8]) {
        let mut used = 0;
        while used < bytes.len() {
            let Some(s) = self.ftp.as_mut() else { return };
            let n = s.handle_bytes(now, &bytes[used..]);
            used += n;
            let events = self.pump_ftp(now);
            if n == 0 && !events {
                return;
            }
        }
    }

    pub(super) fn connect(&mut self, now: Instant) {
        let Some(addr) = self.ftp_addr else { return };
        self.phase = Phase::Connecting;
        self.wait = Some(now + self.config.ftp_timeout);
        self.push(Event::ConnectFtp(addr));
    }

    /// Drains the session's events; returns true if there were any.
    pub(super) fn pump_ftp(&mut self, now: Instant) -> bool {
        let mut any = false;
        loop {
            let Some(s) = self.ftp.as_mut() else {
                return any;
            };
            let Some(event) = s.poll_event() else {
                return any;
            };
            any = true;
            match event {
                FtpEvent::OpenData(addr) => {
                    self.wait = Some(now + self.config.ftp_timeout);
                    self.push(Event::OpenData(addr));
                }
                FtpEvent::TransferStarted { size } => {
                    let Some(d) = self.download.as_mut() else {
                        continue;
                    };
                    d.size = size;
                    let started = Event::FileStarted {
                        index: self.file_index,
                        of: self.files,
                        path: d.path.clone(),
                        size,
                    };
                    self.wait = Some(now + self.config.ftp_timeout);
                    self.push(started);
                    self.push(Event::ReadData);
                }
                FtpEvent::Done(result) => {
                    let outcome = match result {
                        Ok(_) => Outcome::Ok,
                        Err(Failure::Refused(r)) => {
                            Outcome::Refused(r.code, Message::try_from(r.text).unwrap_or_default())
                        }
                        Err(Failure::Timeout) => Outcome::Failed(FtpFailure::Timeout),
                        Err(Failure::DataConnection) => Outcome::Failed(FtpFailure::DataConnection),
                        Err(Failure::Closed | Failure::Aborted) => {
                            Outcome::Failed(FtpFailure::Closed)
                        }
                        Err(_) => Outcome::Failed(FtpFailure::Protocol),
                    };
                    self.done(now, outcome);
                }
            }
        }
    }

    fn done(&mut self, now: Instant, outcome: Outcome) {
        match (self.phase, outcome) {
            (Phase::Greeting, Outcome::Ok) => {
                let user = self.config.user.clone();
                let password = self.config.password.clone();
                self.phase = Phase::LoggingIn;
                self.start(
                    now,
                    Request::Login {
                        user: &user,
                        password: &password,
                    },
                );
            }
            (Phase::LoggingIn, Outcome::Ok) => {
                if let Some(server) = self.ftp_addr {
                    self.push(Event::LoggedIn { server });
                }
                self.next_file(now);
            }
            (Phase::LoggingIn, Outcome::Refused(code, text)) if code / 100 == 5 => {
                self.fail(FlowError::FtpLogin { code, text });
            }
            (Phase::Retrieving, Outcome::Ok) => self.file_done(now),
            (Phase::Retrieving, Outcome::Refused(code, text)) if code / 100 == 5 => {
                let path = self
                    .download
                    .as_ref()
                    .map(|d| d.path.clone())
                    .unwrap_or_default();
                self.fail(FlowError::FtpRefused { path, code, text });
            }
            (Phase::Quitting, _) => self.finish(),
            (_, Outcome::Refused(code, _)) => self.ftp_failed(now, FtpFailure::Busy(code)),
            (_, Outcome::Failed(f)) => self.ftp_failed(now, f),
            (_, Outcome::Ok) => {}
        }
    }

    fn start(&mut self, now: Instant, request: Request<'_>) {
        let Some(s) = self.ftp.as_mut() else { return };
        if s.start(now, request).is_err() {
            // Arguments were validated paths and bounded strings: a refusal
            // here means the session closed under us.
            self.ftp_failed(now, FtpFailure::Closed);
        }
    }

    /// Starts the next file of the manifest, or quits after the last.
    fn next_file(&mut self, now: Instant) {
        let text = &self.manifest.as_ref()[..self.manifest_len];
        // The manifest was checked as UTF-8 when it was read.
        let text = core::str::from_utf8(text).unwrap_or("");
        let mut lines = ManifestLines::resume(text, self.cursor);
        let restart = self.cursor;
        let entry = loop {
            match lines.next() {
                None => break None,
                Some(Ok(Item::File(e))) => break Some((e.path, e.sha256)),
                // Checked before: no errors, and the server line is used.
                Some(_) => continue,
            }
        };
        self.cursor = lines.position();
        let Some((path, expected)) = entry else {
            self.phase = Phase::Quitting;
            return self.start(now, Request::Quit);
        };
        if let Err(error) = make_parents(&mut self.store, &path) {
            return self.fail(FlowError::Local { path, error });
        }
        let writer = match self.store.open_write(&path, WriteMode::Replace) {
            Ok(w) => w,
            Err(error) => return self.fail(FlowError::Local { path, error }),
        };
        self.download = Some(Download {
            path: path.clone(),
            expected,
            writer: Some(writer),
            hasher: sha2::Sha256::new(),
            bytes: 0,
            size: None,
            restart,
        });
        self.phase = Phase::Retrieving;
        self.start(
            now,
            Request::Retrieve {
                path: &path,
                offset: 0,
            },
        );
    }

    fn file_done(&mut self, now: Instant) {
        let Some(mut d) = self.download.take() else {
            return;
        };
        let Some(writer) = d.writer.take() else {
            return;
        };
        if let Some(announced) = d.size
            && announced != d.bytes
        {
            let got = d.bytes;
            self.store.discard(writer);
            self.download = Some(d);
            return self.ftp_failed(now, FtpFailure::Short { got, announced });
        }
        let actual: [u8; 32] = d.hasher.finalize().into();
        if let Some(expected) = d.expected
            && expected != actual
        {
            self.store.discard(writer);
            return self.fail(FlowError::Digest {
                path: d.path,
                expected,
                actual,
            });
        }
        if let Err(error) = self.store.commit(writer) {
            return self.fail(FlowError::Local {
                path: d.path,
                error,
            });
        }
        self.push(Event::FileDone {
            index: self.file_index,
            path: d.path,
            bytes: d.bytes,
            sha256: actual,
            verified: d.expected.is_some(),
        });
        self.file_index += 1;
        self.ftp_failures = 0;
        self.next_file(now);
    }

    fn finish(&mut self) {
        if self.ftp.take().is_some() {
            self.push(Event::CloseFtp);
        }
        self.wait = None;
        self.phase = Phase::Over;
        self.push(Event::Finished);
    }

    /// A transient FTP failure: drop the connection and the partial file,
    /// and reconnect after a pause (or give up after too many in a row).
    pub(super) fn ftp_failed(&mut self, now: Instant, reason: FtpFailure) {
        if self.phase == Phase::Over {
            return;
        }
        if self.phase == Phase::Quitting {
            // Every file is in: a failed goodbye changes nothing.
            return self.finish();
        }
        let path = self.download.as_ref().map(|d| d.path.clone());
        if let Some(mut d) = self.download.take() {
            self.cursor = d.restart;
            if let Some(w) = d.writer.take() {
                self.store.discard(w);
            }
        }
        self.ftp = None;
        self.push(Event::CloseFtp);
        self.ftp_failures += 1;
        if self.ftp_failures >= self.config.ftp_attempts {
            let server = self
                .ftp_addr
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
            return self.fail(FlowError::Ftp {
                server,
                path,
                reason,
            });
        }
        self.push(Event::FtpRetry { path, reason });
        self.phase = Phase::RetryWait;
        self.wait = Some(now + self.config.ftp_retry_delay);
    }
}
