//! Informational commands: `FEAT` and `OPTS` (RFC 2389, RFC 2640, RFC 3659
//! §7.9), `HELP`, and `STAT` with and without a path (RFC 959 §4.1.3).

use super::*;

const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "PASV",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

const HELP: &str = "ABOR ACCT ALLO APPE CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PORT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER";

impl ServerSession {
    pub(super) fn feat(&mut self) {
        let facts = self.facts;
        let mark = self.out.len();
        let mut w = Out { buf: &mut self.out };
        let mut ok = w.write_str("211-Features:\r\n").is_ok();
        for f in FEATURES {
            ok &= write!(w, " {f}\r\n").is_ok();
        }
        ok &= w.write_str(" MLST ").is_ok() && facts.write_feature(&mut w).is_ok();
        ok &= w.write_str("\r\n211 End\r\n").is_ok();
        if !ok {
            self.out.truncate(mark);
            self.closing = true;
        }
    }

    pub(super) fn help(&mut self, code: u16) {
        let mark = self.out.len();
        let mut w = Out { buf: &mut self.out };
        if write!(
            w,
            "{code}-The following commands are recognized:\r\n {HELP}\r\n{code} Help OK.\r\n"
        )
        .is_err()
        {
            self.out.truncate(mark);
            self.closing = true;
        }
    }

    pub(super) fn opts(&mut self, arg: &str) {
        let (name, value) = arg.split_once(' ').unwrap_or((arg, ""));
        if name.eq_ignore_ascii_case("UTF8") {
            if value.trim().eq_ignore_ascii_case("ON") || value.trim().is_empty() {
                self.reply_str(200, "Always in UTF8 mode.")
            } else {
                self.reply_str(504, "UTF8 cannot be turned off.")
            }
        } else if name.eq_ignore_ascii_case("MLST") {
            self.facts = Facts::select(value);
            let facts = self.facts;
            let mark = self.out.len();
            let mut w = Out { buf: &mut self.out };
            let mut ok = w.write_str("200 MLST OPTS ").is_ok();
            for (n, on) in [
                ("type", facts.kind),
                ("size", facts.size),
                ("modify", facts.modify),
                ("perm", facts.perm),
            ] {
                if on {
                    ok &= write!(w, "{n};").is_ok();
                }
            }
            ok &= w.write_str("\r\n").is_ok();
            if !ok {
                self.out.truncate(mark);
            }
        } else {
            self.reply_str(501, "Option not understood.")
        }
    }

    /// The answer to [`Event::StatListing`]: `fill` gets the path and a
    /// buffer and writes `ls -l` lines into it, returning how many bytes it
    /// wrote and whether the listing is complete.
    pub fn stat_listing(
        &mut self,
        _now: Instant,
        fill: impl FnOnce(&str, &mut [u8]) -> Result<(usize, bool), StoreError>,
    ) -> Result<(), SessionError> {
        if self.busy != Busy::StatListing || self.announce == Some(Announce::StatListing) {
            return Err(SessionError::Unexpected);
        }
        self.busy = Busy::Idle;
        const TRAILER: usize = 96;
        let mark = self.out.len();
        let mut w = Out { buf: &mut self.out };
        if write!(w, "213-Status of {}:\r\n", Absolute(&self.path)).is_err()
            || self.out.len() + TRAILER >= OUTPUT_CAPACITY
        {
            self.out.truncate(mark);
            self.reply_str(501, "Path too long for STAT.");
            return Ok(());
        }
        let start = self.out.len();
        let _ = self.out.resize(OUTPUT_CAPACITY - TRAILER, 0);
        match fill(&self.path, &mut self.out[start..]) {
            Ok((n, complete)) => {
                self.out
                    .truncate(start + n.min(OUTPUT_CAPACITY - TRAILER - start));
                if !complete {
                    let _ = self.out.extend_from_slice(b" (more entries: use LIST)\r\n");
                }
                let _ = self.out.extend_from_slice(b"213 End of status.\r\n");
            }
            Err(e) => {
                self.out.truncate(mark);
                let (code, text) = store_reply(e);
                self.reply_str(code, text);
            }
        }
        Ok(())
    }

    pub(super) fn stat(&mut self) {
        let user = self.user().map_or("(not logged in)", |_| "");
        let mark = self.out.len();
        let transferring = matches!(self.busy, Busy::Transfer(_));
        let mut w = Out { buf: &mut self.out };
        let ok = write!(
            w,
            "211-netboot FTP server status:\r\n Connected to {}\r\n Logged in as {}{}\r\n TYPE: {}\r\n {}\r\n211 End of status.\r\n",
            self.peer,
            self.user.as_str(),
            user,
            if self.ascii { "ASCII" } else { "BINARY" },
            if transferring { "Data transfer in progress" } else { "No data connection" },
        )
        .is_ok();
        if !ok {
            self.out.truncate(mark);
            self.closing = true;
        }
    }
}
