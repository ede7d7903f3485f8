//! Login: `USER`, `PASS`, the verdict of the driver's password check, the
//! delay after a refusal and the limit on attempts (RFC 959 §4.1.1;
//! RFC 2577 §5 recommends both the delay and the limit).

use super::*;

impl ServerSession {
    pub(super) fn user_cmd(&mut self, name: &str) {
        if matches!(self.login, Login::LoggedIn { .. }) {
            return self.reply_str(530, "Already logged in; use REIN to change user.");
        }
        self.user.clear();
        if self.user.push_str(name).is_err() || name.chars().any(char::is_control) {
            self.login = Login::AwaitUser;
            return self.reply_str(501, "User name too long.");
        }
        self.login = Login::AwaitPass;
        self.anonymous = is_anonymous(name);
        if self.anonymous && self.config.anonymous {
            self.reply_str(
                331,
                "Anonymous login okay, send your e-mail address as password.",
            )
        } else {
            self.reply_str(331, "Please specify the password.")
        }
    }

    pub(super) fn pass_cmd(&mut self, now: Instant, password: &str) {
        match self.login {
            Login::AwaitUser => return self.reply_str(503, "Login with USER first."),
            Login::LoggedIn { .. } => return self.reply_str(230, "Already logged in."),
            Login::AwaitPass => {}
        }
        if self.anonymous {
            if self.config.anonymous {
                self.user.clear();
                let _ = self.user.push_str("anonymous");
                return self.logged_in(false);
            }
            // Refused exactly like a wrong password, delay included.
            self.busy = Busy::LoginDelay(now + self.config.login_delay);
            return;
        }
        self.secret.clear();
        if self.secret.push_str(password).is_err() {
            self.busy = Busy::LoginDelay(now + self.config.login_delay);
            return;
        }
        self.busy = Busy::Verifying;
        self.announce = Some(Announce::Verify);
    }

    pub(super) fn logged_in(&mut self, writable: bool) {
        self.login = Login::LoggedIn { writable };
        self.failures = 0;
        self.cwd.clear();
        self.busy = Busy::Idle;
        self.announce = Some(Announce::LoggedIn);
        self.reply_str(230, "Login successful.");
    }

    /// The verdict on an [`Event::VerifyLogin`]: `Some(writable)` to accept
    /// the user (with or without write permission), `None` to refuse.
    pub fn login_verified(
        &mut self,
        now: Instant,
        verdict: Option<bool>,
    ) -> Result<(), SessionError> {
        if self.busy != Busy::Verifying || self.announce == Some(Announce::Verify) {
            return Err(SessionError::Unexpected);
        }
        self.secret.clear();
        match verdict {
            Some(writable) => {
                self.anonymous = false;
                self.logged_in(writable)
            }
            None => self.busy = Busy::LoginDelay(now + self.config.login_delay),
        }
        Ok(())
    }

    pub(super) fn login_failed(&mut self) {
        self.busy = Busy::Idle;
        self.login = Login::AwaitUser;
        self.failures = self.failures.saturating_add(1);
        self.reply_str(530, "Login incorrect.");
        if self.failures >= self.config.max_login_attempts {
            self.reply_str(421, "Too many failed logins; closing control connection.");
            self.closing = true;
        }
    }
}
