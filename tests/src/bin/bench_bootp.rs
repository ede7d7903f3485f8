//! DHCP exchanges per second: netboot's server and dnsmasq side by side.
//!
//! ```text
//! cargo build --release -p netboot-cli
//! cargo run --release -p netboot-tests --bin bench_bootp -- [--runs 5] [--seconds 5] [--rate 20000]
//! ```
//!
//! Needs root (network namespaces) and dnsmasq. Two namespaces joined by a
//! veth pair: the server under test runs in one, pinned to CPU 1; this load
//! generator runs in the other, pinned to CPU 0, and plays a relay agent
//! (`giaddr` = its own address, port 67), so both servers answer it by
//! unicast the same way. Each exchange is DISCOVER → OFFER → REQUEST → ACK
//! for one of `--clients` hardware addresses, taken round robin.
//!
//! Two measurements per server, alternating servers run by run:
//!
//! * **max**: a closed loop keeps `--window` exchanges in flight and counts
//!   completed exchanges per second;
//! * **rate**: an open loop starts `--rate` exchanges per second and counts
//!   those not completed within one second (drops).
//!
//! It prints every run, then the medians and the ratio netboot / dnsmasq.
//! Every loop is bounded in time; namespaces and servers are removed at the
//! end, also on failure.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netboot_core::wire::bootp::options::{self, MessageType, OptionsWriter};
use netboot_core::wire::bootp::{Message, Op, Repr, Vend};
use netboot_tests::netns::NetnsPair;

const NET: u8 = 91;

struct Args {
    runs: usize,
    seconds: u64,
    rate: u64,
    clients: u32,
    window: usize,
    worker: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        runs: 5,
        seconds: 5,
        rate: 20_000,
        clients: 50_000,
        window: 64,
        worker: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => a.runs = value().parse().expect("--runs N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--rate" => a.rate = value().parse().expect("--rate N"),
            "--clients" => a.clients = value().parse().expect("--clients N"),
            "--window" => a.window = value().parse().expect("--window N"),
            // Internal: run one load measurement (inside the client namespace).
            "--worker" => a.worker = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    a.seconds = a.seconds.clamp(1, 60);
    a.runs = a.runs.clamp(1, 20);
    a
}

fn mac(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0xbe, b[0], b[1], b[2], b[3]]
}

struct Gen {
    socket: UdpSocket,
    server: SocketAddr,
    relay: Ipv4Addr,
    buf: [u8; 1500],
}

impl Gen {
    fn send(
        &mut self,
        kind: MessageType,
        xid: u32,
        client: u32,
        offer: Option<(Ipv4Addr, Ipv4Addr)>,
    ) {
        let mut opts = [0u8; 64];
        let mut w = OptionsWriter::new(&mut opts);
        w.message_type(kind).unwrap();
        if let Some((ip, server)) = offer {
            w.ip(options::REQUESTED_IP, ip).unwrap();
            w.ip(options::SERVER_ID, server).unwrap();
        }
        let n = w.finish().unwrap();
        let mut r = Repr::new(Op::Request, xid, mac(client));
        r.giaddr = self.relay;
        r.hops = 1;
        r.vend = Vend::Options(&opts[..n]);
        let len = r.emit(&mut self.buf).unwrap();
        // A full socket buffer is a drop like any other.
        let _ = self.socket.send_to(&self.buf[..len], self.server);
    }
}

struct Flight {
    client: u32,
    started: Instant,
}

/// Runs the load for `seconds`; returns (completed exchanges, drops).
fn worker(mode: &str, a: &Args) -> (u64, u64) {
    let relay = Ipv4Addr::new(10, NET, 0, 2);
    let socket = UdpSocket::bind((relay, 67)).expect("bind the relay port");
    socket
        .set_read_timeout(Some(Duration::from_micros(200)))
        .unwrap();
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(8 << 20);
    let _ = socket2::SockRef::from(&socket).set_send_buffer_size(8 << 20);
    let mut g = Gen {
        socket,
        server: SocketAddr::from((Ipv4Addr::new(10, NET, 0, 1), 67)),
        relay,
        buf: [0; 1500],
    };
    let open_loop = mode == "rate";
    let mut flights: HashMap<u32, Flight> = HashMap::new();
    let mut next_xid: u32 = 1;
    let mut next_client: u32 = 0;
    let (mut done, mut drops) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs(a.seconds);
    let mut started: u64 = 0;
    let mut recv = [0u8; 1500];
    let timeout = Duration::from_secs(1);
    let mut last_sweep = start;
    let mut begin = |g: &mut Gen, flights: &mut HashMap<u32, Flight>, now: Instant| {
        let xid = next_xid;
        next_xid = next_xid.wrapping_add(1);
        let client = next_client;
        next_client = (next_client + 1) % a.clients;
        g.send(MessageType::Discover, xid, client, None);
        flights.insert(
            xid,
            Flight {
                client,
                started: now,
            },
        );
    };
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if open_loop {
            let due = ((now - start).as_secs_f64() * a.rate as f64) as u64;
            while started < due {
                begin(&mut g, &mut flights, now);
                started += 1;
            }
        } else {
            while flights.len() < a.window {
                begin(&mut g, &mut flights, now);
            }
        }
        match g.socket.recv_from(&mut recv) {
            Ok((n, _)) => {
                let Ok(m) = Message::new_checked(&recv[..n]) else {
                    continue;
                };
                let xid = m.packet().xid();
                match (m.message_type(), flights.get(&xid)) {
                    (Some(MessageType::Offer), Some(f)) => {
                        let server = m.server_id().unwrap_or(Ipv4Addr::new(10, NET, 0, 1));
                        let client = f.client;
                        g.send(
                            MessageType::Request,
                            xid,
                            client,
                            Some((m.packet().yiaddr(), server)),
                        );
                    }
                    (Some(MessageType::Ack), Some(f)) => {
                        if f.started + timeout >= now {
                            done += 1;
                        }
                        flights.remove(&xid);
                    }
                    (Some(MessageType::Nak), Some(_)) => {
                        drops += 1;
                        flights.remove(&xid);
                    }
                    _ => {}
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("receive: {e}"),
        }
        if now - last_sweep > Duration::from_millis(100) {
            last_sweep = now;
            let before = flights.len();
            flights.retain(|_, f| now - f.started < timeout);
            drops += (before - flights.len()) as u64;
        }
    }
    // Exchanges still in flight at the end are neither done nor dropped,
    // unless they are already overdue.
    let now = Instant::now();
    drops += flights
        .values()
        .filter(|f| now - f.started >= timeout)
        .count() as u64;
    (done, drops)
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn netboot() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().join("netboot");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p netboot-cli"
    );
    bin
}

fn start_server(which: &str, pair: &NetnsPair, dir: &std::path::Path, clients: u32) -> Guard {
    let last = 10 + clients / 256 + 1;
    assert!(last < 255, "too many clients for a /16");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &pair.server, "taskset", "-c", "1"]);
    match which {
        "netboot" => {
            let config = dir.join("bench.toml");
            std::fs::write(
                &config,
                format!(
                    "[bootp]\nserver = \"10.{NET}.0.1\"\nsubnet = \"10.{NET}.0.0/16\"\n\
                     pool = {{ start = \"10.{NET}.10.0\", end = \"10.{NET}.{last}.255\" }}\nfile = \"bench.img\"\n"
                ),
            )
            .unwrap();
            cmd.envs(netboot_tests::keep_root())
                .arg(netboot())
                .args([
                    "bootp",
                    "serve",
                    "--quiet",
                    "--interface",
                    &pair.server_if,
                    "--config",
                ])
                .arg(&config);
        }
        _ => {
            cmd.args([
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--user=root",
            ])
            .args([
                "--quiet-dhcp",
                "--no-ping",
                "--leasefile-ro",
                "--dhcp-authoritative",
            ])
            .arg(format!("--dhcp-lease-max={}", clients + 1000))
            .arg(format!("--interface={}", pair.server_if))
            .arg("--bind-interfaces")
            .arg(format!(
                "--dhcp-range=10.{NET}.10.0,10.{NET}.{last}.255,255.255.0.0,1h"
            ))
            .arg("--dhcp-boot=bench.img")
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
        }
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    std::thread::sleep(Duration::from_millis(700));
    Guard(child)
}

fn measure(pair: &NetnsPair, mode: &str, a: &Args) -> (u64, u64) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &pair.client, "taskset", "-c", "0"])
        .arg(exe)
        .args([
            "--worker",
            mode,
            "--seconds",
            &a.seconds.to_string(),
            "--rate",
            &a.rate.to_string(),
        ])
        .args([
            "--clients",
            &a.clients.to_string(),
            "--window",
            &a.window.to_string(),
        ])
        .output()
        .expect("run the load generator");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text
        .split_whitespace()
        .map(|x| x.parse::<u64>().unwrap_or(0));
    (f.next().unwrap_or(0), f.next().unwrap_or(0))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let a = parse_args();
    if let Some(mode) = &a.worker {
        let (done, drops) = worker(mode, &a);
        println!("{done} {drops}");
        return;
    }
    let pair = NetnsPair::new(NET);
    netboot_tests::netns::ip(&["-n", &pair.server, "addr", "flush", "dev", &pair.server_if]);
    netboot_tests::netns::ip(&[
        "-n",
        &pair.server,
        "addr",
        "add",
        &format!("10.{NET}.0.1/16"),
        "dev",
        &pair.server_if,
    ]);
    netboot_tests::netns::ip(&[
        "-n",
        &pair.client,
        "addr",
        "add",
        &format!("10.{NET}.0.2/16"),
        "dev",
        &pair.client_if,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let servers = ["netboot", "dnsmasq"];
    let mut max: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut rate_done: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut rate_drops: HashMap<&str, Vec<f64>> = HashMap::new();
    println!(
        "runs of {} s, {} clients, window {}, open-loop rate {}/s",
        a.seconds, a.clients, a.window, a.rate
    );
    for run in 1..=a.runs {
        for which in servers {
            let _server = start_server(which, &pair, dir.path(), a.clients);
            let (done, drops) = measure(&pair, "max", &a);
            let per_sec = done as f64 / a.seconds as f64;
            let (rdone, rdrops) = measure(&pair, "rate", &a);
            println!(
                "run {run} {which:8} max {per_sec:9.0} exchanges/s ({drops} dropped) | at {}/s: {:9.0} exchanges/s, {rdrops} dropped",
                a.rate,
                rdone as f64 / a.seconds as f64
            );
            max.entry(which).or_default().push(per_sec);
            rate_done
                .entry(which)
                .or_default()
                .push(rdone as f64 / a.seconds as f64);
            rate_drops.entry(which).or_default().push(rdrops as f64);
        }
    }
    println!();
    for which in servers {
        println!(
            "median {which:8} max {:9.0} exchanges/s | at {}/s: {:9.0} exchanges/s, {:.0} dropped",
            median(max.get_mut(which).unwrap()),
            a.rate,
            median(rate_done.get_mut(which).unwrap()),
            median(rate_drops.get_mut(which).unwrap())
        );
    }
    let ours = median(max.get_mut("netboot").unwrap());
    let theirs = median(max.get_mut("dnsmasq").unwrap());
    println!(
        "ratio netboot / dnsmasq (max): {:.2}",
        ours / theirs.max(1.0)
    );
}
