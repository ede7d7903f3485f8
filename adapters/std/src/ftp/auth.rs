//! Password hashes: argon2id PHC strings (RFC 9106), made and checked.
//!
//! Verification is deliberately slow, so the server runs it on a worker
//! thread ([`Verifier`]) and the event loop never waits for it. Unknown
//! users are checked against a dummy hash of the same cost, so the time a
//! refusal takes does not reveal whether the account exists.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc;
use std::thread::JoinHandle;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use password_hash::rand_core::OsRng;

/// Hashes `password` with argon2id and the crate's recommended cost.
///
/// ```
/// use netboot_std::ftp::auth::{hash_password, verify_password};
/// let hash = hash_password("s3cret").unwrap();
/// assert!(hash.starts_with("$argon2id$"));
/// assert!(verify_password(&hash, "s3cret"));
/// assert!(!verify_password(&hash, "guess"));
/// ```
pub fn hash_password(password: &str) -> Result<String, String> {
    hash_with(password, Params::default())
}

/// Hashes with explicit argon2 parameters (cheap ones keep tests fast).
pub fn hash_with(password: &str, params: Params) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Hashes with a chosen cost: `memory_kib` KiB and `iterations` passes
/// (tests use a tiny cost; production keeps [`hash_password`]'s).
pub fn hash_with_cost(password: &str, memory_kib: u32, iterations: u32) -> Result<String, String> {
    let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| e.to_string())?;
    hash_with(password, params)
}

/// Checks `password` against a PHC string; a malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Checks that a configured hash is a PHC string argon2 can verify.
pub fn check_hash(hash: &str) -> Result<(), String> {
    PasswordHash::new(hash)
        .map(|_| ())
        .map_err(|e| format!("not a PHC password hash ({e}); generate one with `netboot ftp hash`"))
}

/// A password check to run off the event loop.
#[derive(Debug)]
pub struct Job {
    /// Who asked (the server's session key).
    pub key: u64,
    /// The stored hash, or `None` for an unknown user.
    pub hash: Option<String>,
    /// The password sent.
    pub password: String,
}

/// A worker thread verifying passwords; results come back on a channel and
/// each one is announced by a byte on `wake` (a socket the event loop polls).
#[derive(Debug)]
pub struct Verifier {
    jobs: Option<mpsc::Sender<Job>>,
    results: mpsc::Receiver<(u64, bool)>,
    thread: Option<JoinHandle<()>>,
}

impl Verifier {
    /// Starts the worker; `wake` is written to after each result.
    pub fn start(
        mut wake: std::os::unix::net::UnixStream,
        dummy_hash: String,
    ) -> std::io::Result<Self> {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (res_tx, res_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ftp-verify".into())
            .spawn(move || {
                for job in job_rx {
                    let ok = match &job.hash {
                        Some(h) => verify_password(h, &job.password),
                        None => {
                            let _ = verify_password(&dummy_hash, &job.password);
                            false
                        }
                    };
                    if res_tx.send((job.key, ok)).is_err() {
                        break;
                    }
                    // A full socket already holds a pending wake-up.
                    let _ = wake.write(&[1]);
                }
            })?;
        Ok(Verifier {
            jobs: Some(job_tx),
            results: res_rx,
            thread: Some(thread),
        })
    }

    /// Queues a check.
    pub fn submit(&self, job: Job) {
        if let Some(tx) = &self.jobs {
            let _ = tx.send(job);
        }
    }

    /// A finished check, if any.
    pub fn try_result(&self) -> Option<(u64, bool)> {
        self.results.try_recv().ok()
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accounts by name.
pub type Accounts = HashMap<String, (String, bool)>;
