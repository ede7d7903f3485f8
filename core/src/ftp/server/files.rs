//! Commands that name a path: resolving it against the working directory
//! (`..` clamped at the root), asking the driver for the storage operation,
//! and turning its answer into the reply (RFC 959 §4.1.3, RFC 3659 §3, §4,
//! §7).

use super::*;

impl ServerSession {
    pub(super) fn resolve(&mut self, arg: &str) -> bool {
        match path::resolve(&self.cwd, arg, DotDot::Clamp) {
            Ok(p) => {
                self.path = p;
                true
            }
            Err(_) => {
                self.reply_str(553, "File name not allowed.");
                false
            }
        }
    }

    pub(super) fn start_op(&mut self, op: Op, arg: &str) {
        if self.resolve(arg) {
            self.busy = Busy::Storage(op);
            self.announce = Some(Announce::Storage);
        }
    }

    pub(super) fn start_write_op(&mut self, op: Op, arg: &str) {
        if !self.writable() {
            return self.reply_str(550, "Permission denied.");
        }
        self.start_op(op, arg);
    }

    pub(super) fn start_transfer(&mut self, op: Op, arg: &str) {
        if matches!(op, Op::Stor(_) | Op::Stou(_)) && !self.writable() {
            self.rest = 0;
            return self.reply_str(550, "Permission denied.");
        }
        if self.data == Data::None {
            self.rest = 0;
            return self.reply_str(425, "Use PORT, PASV, EPRT or EPSV first.");
        }
        if let Op::Stou(_) = op {
            return self.stou_attempt(0);
        }
        self.start_op(op, arg);
    }

    pub(super) fn stou_attempt(&mut self, attempt: u8) {
        self.stou_counter = self.stou_counter.wrapping_add(1);
        let mut name: heapless::String<24> = heapless::String::new();
        let _ = write!(name, "stou.{:08x}", self.stou_counter);
        if self.resolve(&name.clone()) {
            self.busy = Busy::Storage(Op::Stou(attempt));
            self.announce = Some(Announce::Storage);
        }
    }

    /// The answer to an [`Event::Storage`].
    pub fn storage_done(
        &mut self,
        now: Instant,
        answer: StorageAnswer,
    ) -> Result<(), SessionError> {
        let Busy::Storage(op) = self.busy else {
            return Err(SessionError::Unexpected);
        };
        if self.announce == Some(Announce::Storage) {
            return Err(SessionError::Unexpected);
        }
        self.busy = Busy::Idle;
        let meta = match answer {
            Err(StoreError::AlreadyExists) if matches!(op, Op::Stou(n) if n < 8) => {
                let Op::Stou(n) = op else { unreachable!() };
                self.stou_attempt(n + 1);
                return Ok(());
            }
            Err(e) => {
                if matches!(op, Op::Retr | Op::Stor(_) | Op::Stou(_) | Op::List(_)) {
                    self.rest = 0;
                }
                let (code, text) = store_reply(e);
                self.reply_str(code, text);
                return Ok(());
            }
            Ok(meta) => meta,
        };
        let path = self.path.clone();
        match op {
            Op::Cwd => match meta {
                Some(m) if m.is_dir() => {
                    self.cwd = path;
                    self.reply(
                        250,
                        format_args!("Directory changed to {}.", Absolute(&self.cwd.clone())),
                    )
                }
                _ => self.reply_str(550, "Not a directory."),
            },
            Op::Size => match meta {
                Some(m) if m.is_file() => self.reply(213, format_args!("{}", m.len)),
                _ => self.reply_str(550, "Not a regular file."),
            },
            Op::Mdtm => match meta {
                Some(Metadata {
                    modified: Some(t),
                    kind,
                    ..
                }) if kind != crate::storage::EntryKind::Directory => {
                    self.reply(213, format_args!("{}", DateTime::from_unix(t)))
                }
                _ => self.reply_str(550, "No modification time available."),
            },
            Op::Mlst => {
                let m = meta.unwrap_or(Metadata::directory());
                let facts = self.facts;
                let mark = self.out.len();
                let mut w = Out { buf: &mut self.out };
                let ok = write!(w, "250-Listing {}\r\n ", Absolute(&path)).is_ok()
                    && listing::write_facts(&mut w, &m, facts).is_ok()
                    && write!(w, "{}\r\n250 End.\r\n", Absolute(&path)).is_ok();
                if !ok {
                    self.out.truncate(mark);
                    self.reply_str(501, "Path too long for MLST.");
                }
            }
            Op::Mkd => self.reply(257, format_args!("{} created.", Quoted(&path))),
            Op::Rmd | Op::Dele => self.reply_str(250, "Done."),
            Op::Rnfr => {
                self.rnfr = path;
                self.rnfr_ready = true;
                self.reply_str(350, "Ready for RNTO.")
            }
            Op::Rnto => self.reply_str(250, "Rename successful."),
            Op::Retr => {
                let len = meta.map_or(0, |m| m.len);
                let offset = core::mem::take(&mut self.rest);
                if offset > len {
                    self.close_data = true;
                    self.data = Data::None;
                    self.reply_str(554, "Invalid REST parameter.");
                    return Ok(());
                }
                let mode = if self.ascii { "ASCII" } else { "BINARY" };
                self.begin_data(
                    now,
                    TransferKind::Retr,
                    offset,
                    format_args!(
                        "Opening {mode} mode data connection for {} ({len} bytes).",
                        Absolute(&path)
                    ),
                );
            }
            Op::Stor(_) => {
                self.rest = 0;
                self.begin_data(now, TransferKind::Stor, 0, format_args!("Ok to send data."));
            }
            Op::Stou(_) => {
                self.begin_data(
                    now,
                    TransferKind::Stor,
                    0,
                    format_args!("FILE: {}", path::file_name(&path)),
                );
            }
            Op::List(format) => {
                self.rest = 0;
                if format == ListFormat::Facts && !meta.is_some_and(|m| m.is_dir()) {
                    self.reply_str(501, "MLSD needs a directory.");
                    return Ok(());
                }
                let facts = self.facts;
                self.begin_data(
                    now,
                    TransferKind::List(format, facts),
                    0,
                    format_args!("Here comes the directory listing."),
                );
            }
        }
        Ok(())
    }
}
