//! Shared fixtures for the FTP integration tests: a served root with known
//! content, our server on a loopback port, and bounded process runs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use netboot_mio::ftp::FtpServer;
use netboot_std::ftp::{FtpConfig, FtpUser, auth};
use netboot_tests::{ChildGuard, test_bytes};

/// Size of `big.bin` in the fixture root.
pub const BIG: usize = 1 << 20;

/// Our server on a temporary root.
pub struct Served {
    pub server: Option<FtpServer>,
    pub root: tempfile::TempDir,
    pub port: u16,
}

impl Served {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn url(&self, rel: &str) -> String {
        format!("ftp://127.0.0.1:{}/{rel}", self.port)
    }

    pub fn user_url(&self, rel: &str) -> String {
        format!("ftp://alice:pw@127.0.0.1:{}/{rel}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.shutdown();
        }
    }
}

/// Fills `root` with the fixture tree.
pub fn fixture(root: &Path) {
    std::fs::create_dir_all(root.join("tree/deep/deeper")).unwrap();
    std::fs::create_dir_all(root.join("pub")).unwrap();
    std::fs::write(root.join("big.bin"), test_bytes(1, BIG)).unwrap();
    std::fs::write(root.join("pub/readme.txt"), b"line one\nline two\n").unwrap();
    std::fs::write(root.join("tree/a.bin"), test_bytes(2, 70_000)).unwrap();
    std::fs::write(root.join("tree/deep/b.txt"), b"bee\n").unwrap();
    std::fs::write(root.join("tree/deep/deeper/c.bin"), test_bytes(3, 3)).unwrap();
    std::fs::write(root.join("tree/empty"), b"").unwrap();
}

/// A cheap hash of "pw" (tests must not spend seconds in argon2).
pub fn cheap_hash(password: &str) -> String {
    auth::hash_with_cost(password, 64, 1).unwrap()
}

/// The default test config: anonymous read-only, `alice:pw` writable.
pub fn config(root: &Path) -> FtpConfig {
    FtpConfig {
        root: root.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        anonymous: true,
        users: vec![FtpUser {
            name: "alice".into(),
            password_hash: cheap_hash("pw"),
            root: None,
            writable: Some(true),
        }],
        login_delay_ms: 20,
        ..FtpConfig::default()
    }
}

/// Starts our server on a fresh fixture root.
pub fn serve(customize: impl FnOnce(&mut FtpConfig)) -> Served {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let mut config = config(root.path());
    customize(&mut config);
    let server = FtpServer::start(&config).unwrap();
    let port = server.addr().port();
    Served {
        server: Some(server),
        root,
        port,
    }
}

/// Runs `cmd` to completion (at most 60 s); returns its output.
pub fn run(name: &str, cmd: &mut Command) -> Output {
    let guard = ChildGuard::spawn(name, cmd).unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let (status, stdout, stderr) = guard.wait_timeout(Duration::from_secs(60));
    let status = status.unwrap_or_else(|| panic!("{name} did not finish in 60 s\n{stderr}"));
    Output {
        status,
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    }
}

/// Runs `cmd` and asserts it succeeded.
pub fn run_ok(name: &str, cmd: &mut Command) -> Output {
    let out = run(name, cmd);
    assert!(
        out.status.success(),
        "{name} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A Python ftplib session (argv: port, local file for the download)
/// exercising RETR, STOR, MLSD, TYPE A both ways, RNFR/RNTO, DELE, MKD,
/// SIZE and a refusal.
pub const FTPLIB_SCRIPT: &str = r#"
import ftplib, io, sys
port = int(sys.argv[1])
f = ftplib.FTP()
f.connect("127.0.0.1", port, timeout=20)
print(f.login("alice", "pw"))
buf = io.BytesIO()
f.retrbinary("RETR big.bin", buf.write)
sys.stdout.write("retr %d\n" % len(buf.getvalue()))
open(sys.argv[2], "wb").write(buf.getvalue())
f.storbinary("STOR up.bin", io.BytesIO(b"0123456789" * 10000))
facts = dict(f.mlsd("tree", facts=["type", "size", "perm"]))
print("mlsd a.bin", facts["a.bin"]["type"], facts["a.bin"]["size"])
print("mlsd deep", facts["deep"]["type"])
lines = []
f.retrlines("RETR pub/readme.txt", lines.append)
print("ascii lines", lines)
f.storlines("STOR text.txt", io.BytesIO(b"alpha\nbeta\n"))
print(f.rename("up.bin", "renamed.bin"))
print(f.delete("pub/readme.txt"))
print(f.mkd("made"))
print(f.sendcmd("SIZE renamed.bin"))
try:
    f.delete("no-such-file")
except ftplib.error_perm as e:
    print("refused", e)
print(f.quit())
"#;

/// A Python ftplib session (argv: port) that aborts a RETR and a STOR
/// in the middle, with ABOR sent as urgent data.
pub const FTPLIB_ABORT: &str = r#"
import ftplib, sys, time
port = int(sys.argv[1])
f = ftplib.FTP()
f.connect("127.0.0.1", port, timeout=20)
f.login("alice", "pw")
f.voidcmd("TYPE I")
conn = f.transfercmd("RETR huge.bin")
conn.recv(1000)
print(f.abort())
print(f.getresp())
conn.close()
print(f.voidcmd("NOOP"))
conn = f.transfercmd("STOR aborted.bin")
conn.sendall(b"x" * 50000)
time.sleep(0.2)
print(f.abort())
print(f.getresp())
conn.close()
print(f.voidcmd("NOOP"))
print(f.quit())
"#;

/// pyftpdlib serving argv[2] on 127.0.0.1:argv[1] to user `bob`
/// (password `pw`) with every permission.
pub const PYFTPDLIB_USER: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer()
a.add_user("bob", "pw", sys.argv[2], perm="elradfmwMT")
h = FTPHandler
h.authorizer = a
FTPServer(("127.0.0.1", int(sys.argv[1])), h).serve_forever()
"#;
