//! Two network namespaces joined by a veth pair, for tests that need real
//! broadcast or several hosts. Addresses live only inside the namespaces;
//! everything is deleted when the value is dropped.

use std::process::{Command, Output};

use crate::unique_name;

/// A server namespace and a client namespace joined by a veth pair, with
/// the server end addressed `10.<net>.0.1/24` and the client end unaddressed
/// (it is the DHCP client's to configure).
#[derive(Debug)]
pub struct NetnsPair {
    /// Server namespace name.
    pub server: String,
    /// Client namespace name.
    pub client: String,
    /// Server-side interface name (inside `server`).
    pub server_if: String,
    /// Client-side interface name (inside `client`).
    pub client_if: String,
    /// The server's address on the link.
    pub server_ip: std::net::Ipv4Addr,
}

/// Runs `ip` with `args`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl NetnsPair {
    /// Creates the pair; `net` picks the 10.`net`.0.0/24 subnet so concurrent
    /// tests do not collide.
    pub fn new(net: u8) -> NetnsPair {
        let server = unique_name("nbs");
        let client = unique_name("nbc");
        let server_if = unique_name("vs");
        let client_if = unique_name("vc");
        let server_ip = std::net::Ipv4Addr::new(10, net, 0, 1);
        let pair = NetnsPair {
            server,
            client,
            server_if,
            client_if,
            server_ip,
        };
        ip(&["netns", "add", &pair.server]);
        ip(&["netns", "add", &pair.client]);
        ip(&[
            "link",
            "add",
            &pair.server_if,
            "type",
            "veth",
            "peer",
            "name",
            &pair.client_if,
        ]);
        ip(&["link", "set", &pair.server_if, "netns", &pair.server]);
        ip(&["link", "set", &pair.client_if, "netns", &pair.client]);
        let cidr = format!("{server_ip}/24");
        ip(&[
            "-n",
            &pair.server,
            "addr",
            "add",
            &cidr,
            "dev",
            &pair.server_if,
        ]);
        for (ns, dev) in [
            (&pair.server, &pair.server_if),
            (&pair.client, &pair.client_if),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }

    /// A command that runs `program` inside the server namespace.
    pub fn in_server(&self, program: &str) -> Command {
        in_netns(&self.server, program)
    }

    /// A command that runs `program` inside the client namespace.
    pub fn in_client(&self, program: &str) -> Command {
        in_netns(&self.client, program)
    }

    /// Gives the client end a static address `10.<net>.0.<host>/24`.
    pub fn address_client(&self, host: u8) -> std::net::Ipv4Addr {
        let o = self.server_ip.octets();
        let addr = std::net::Ipv4Addr::new(o[0], o[1], o[2], host);
        ip(&[
            "-n",
            &self.client,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &self.client_if,
        ]);
        addr
    }
}

/// A command that runs `program` inside namespace `ns`.
pub fn in_netns(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]);
    cmd
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end inside it, and with it
        // the peer.
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Moves the calling thread into namespace `ns` (created by `ip netns`).
/// Sockets the thread opens from then on live in that namespace, and stay
/// there whichever thread later polls them: this is how a test runs one of
/// our in-process servers inside a namespace. Use it on a thread of its
/// own.
pub fn enter(ns: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(format!("/var/run/netns/{ns}"))?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}
