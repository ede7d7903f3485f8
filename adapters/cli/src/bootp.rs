//! `netboot bootp serve` and `netboot bootp request`.
//!
//! `serve` runs a `netboot-mio` server with BOOTP/DHCP only from a TOML file
//! (see [`config`]) and prints one line per client step on standard output.
//! `request` asks for an address and a boot file and prints them, as text
//! or as JSON. Exit codes: 3 bad configuration, 4 cannot bind, 20 no answer.

pub mod config;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use netboot_core::bootp::HwAddr;
use netboot_mio::bootp::client::{Assigned, RequestError, RequestOptions, request};
use netboot_std::net::explain_bind_error;
use netboot_std::setup::ServerSetup;

use crate::config::{Config, Start};
use crate::exit::CliError;

/// BOOTP/DHCP server and client.
#[derive(Subcommand, Debug)]
pub enum BootpCommand {
    /// Answer BOOTP and DHCP requests from a host table and a pool.
    Serve(ServeArgs),
    /// Ask for an address and boot file, and print what was assigned.
    #[command(after_help = crate::exit::help(&[crate::exit::SERVER, crate::exit::BOOTP]))]
    Request(RequestArgs),
}

/// `netboot bootp serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The TOML configuration (server, subnet, pool, hosts...).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Listen on this address and port (default 0.0.0.0:67).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Bind to this network interface (and broadcast through it).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// Keep leases in this file (default: the configuration's `lease_file`).
    #[arg(long, value_name = "FILE")]
    lease_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) privilege: crate::privilege::PrivilegeArgs,
}

/// `netboot bootp request`.
#[derive(Args, Debug)]
pub struct RequestArgs {
    /// Broadcast through this interface (its MAC is the default --mac).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// Unicast to this server instead of broadcasting (port 67 by default).
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_server)]
    server: Option<SocketAddr>,
    /// The local port.
    #[arg(long, value_name = "N", default_value_t = 68)]
    client_port: u16,
    /// The hardware address to ask for (default: the interface's, or a
    /// random locally administered one).
    #[arg(long, value_name = "MAC")]
    mac: Option<HwAddr>,
    /// Use DHCP (DISCOVER/REQUEST) instead of plain BOOTP.
    #[arg(long)]
    dhcp: bool,
    /// Requests to send before giving up.
    #[arg(long, value_name = "N", default_value_t = 4)]
    attempts: u32,
    /// First retransmission timeout in seconds (doubles each time).
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    timeout: f64,
    /// A generic boot file name to ask for.
    #[arg(long, value_name = "NAME", default_value = "")]
    file: String,
    /// Vendor class identifier (option 60).
    #[arg(long, value_name = "TEXT", default_value = "")]
    vendor_class: String,
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<Ipv4Addr>()
        .map(|ip| SocketAddr::from((ip, netboot_core::wire::bootp::SERVER_PORT)))
        .map_err(|_| format!("{s:?} is not ADDRESS or ADDRESS:PORT"))
}

/// Runs a `bootp` subcommand.
pub fn run(command: BootpCommand) -> Result<(), CliError> {
    match command {
        BootpCommand::Serve(args) => serve(args),
        BootpCommand::Request(args) => client(args),
    }
}

/// `bootp serve`'s server: the `[bootp]` table (the file's other tables
/// are checked and left alone) and the flags.
pub(crate) fn start(args: &ServeArgs) -> Result<(Start, SocketAddr, Option<String>), CliError> {
    let mut cfg = Config::load(Some(&args.config))?;
    let settings = cfg.bootp(false)?.ok_or_else(|| {
        CliError::config(format!(
            "{}: no [bootp] table: `bootp serve` needs one (server, subnet, pool)",
            args.config.display()
        ))
    })?;
    cfg.check_others()?;
    let listen = args.listen.unwrap_or(settings.listen);
    let interface = args.interface.clone().or(settings.interface);
    let lease_file = args.lease_file.clone().or(settings.lease_file);
    let dir = args
        .config
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut setup = ServerSetup::new(dir)
        .no_tftp()
        .no_ftp()
        .bootp(settings.server.config().clone())
        .hosts(settings.server.hosts().to_vec())
        .bootp_listen(listen);
    if let Some(i) = &interface {
        setup = setup
            .interface(i)
            .map_err(|e| CliError::config(e.to_string()))?;
    }
    let mut saved = Vec::new();
    if let Some(path) = &lease_file {
        setup = setup.lease_file(path);
        saved.push("leases");
    }
    let start = Start {
        setup,
        spin: None,
        privilege: args.privilege.over(cfg.privilege()),
        saved,
    };
    Ok((start, listen, interface))
}

fn serve(args: ServeArgs) -> Result<(), CliError> {
    let (start, listen, interface) = self::start(&args)?;
    let run = crate::run::Run {
        config: Some(args.config.clone()),
        hint: "",
        steps: !crate::output::quiet(),
    };
    let load: crate::signals::Load = Box::new(move || self::start(&args).map(|s| s.0));
    crate::run::serve(run, start, load, |server| {
        let bound = server.bootp_addr().unwrap_or(listen);
        match &interface {
            Some(i) => crate::output::say(&format!("bootp: listening on {bound} (interface {i})")),
            None => crate::output::say(&format!("bootp: listening on {bound}")),
        }
    })
}

fn client(args: RequestArgs) -> Result<(), CliError> {
    let hw = match (args.mac, &args.interface) {
        (Some(mac), _) => mac,
        (None, Some(i)) => {
            netboot_std::os::interface_hw_addr(i).map_err(|e| CliError::config(e.to_string()))?
        }
        (None, None) => {
            let r = netboot_std::os::os_seed().to_le_bytes();
            // Locally administered, unicast.
            HwAddr::ethernet([(r[0] & 0xfc) | 0x02, r[1], r[2], r[3], r[4], r[5]])
        }
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 600.0) {
        return Err(CliError::config(
            "--timeout must be between 0 and 600 seconds",
        ));
    }
    if args.attempts == 0 {
        return Err(CliError::config("--attempts must be at least 1"));
    }
    let mut o = RequestOptions::new(hw);
    o.dhcp = args.dhcp;
    o.server = args.server;
    o.client_port = args.client_port;
    o.interface = args.interface;
    o.attempts = args.attempts;
    o.initial_timeout = Duration::from_secs_f64(args.timeout);
    o.max_timeout = o.initial_timeout.saturating_mul(8);
    o.file = args.file;
    o.vendor_class = args.vendor_class.into_bytes();
    let listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, o.client_port));
    match request(&o) {
        Ok(a) => {
            if crate::output::json() {
                crate::output::result(json(&hw, &a))
            } else if crate::output::chatty() {
                crate::output::write(text(&hw, &a).as_bytes())
            } else {
                Ok(())
            }
        }
        Err(e @ (RequestError::TimedOut { .. } | RequestError::Refused)) => {
            Err(CliError::new(20, e.to_string()))
        }
        Err(RequestError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::AddrInUse
            ) =>
        {
            Err(CliError::bind(explain_bind_error(listen, &e)))
        }
        Err(e) => Err(CliError::other(e.to_string())),
    }
}

fn opt_ip(ip: Option<Ipv4Addr>) -> String {
    ip.map_or_else(|| "-".to_string(), |ip| ip.to_string())
}

fn text(hw: &HwAddr, a: &Assigned) -> String {
    format!(
        "mac       {hw}\naddress   {}\nnetmask   {}\nrouter    {}\nserver    {}\nfile      {}\nlease     {}\nprotocol  {}\n",
        a.ip,
        opt_ip(a.netmask),
        opt_ip(a.router),
        opt_ip(a.server),
        a.file.as_deref().unwrap_or("-"),
        a.lease_time.map_or_else(
            || "-".to_string(),
            |t| if t == u32::MAX {
                "infinite".into()
            } else {
                format!("{t}s")
            }
        ),
        if a.dhcp { "DHCP" } else { "BOOTP" },
    )
}

fn json(hw: &HwAddr, a: &Assigned) -> serde_json::Value {
    let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let options: serde_json::Map<String, serde_json::Value> = a
        .options
        .iter()
        .map(|(c, v)| (c.to_string(), serde_json::Value::String(hex(v))))
        .collect();
    serde_json::json!({
        "mac": hw.to_string(),
        "ip": a.ip.to_string(),
        "netmask": a.netmask.map(|i| i.to_string()),
        "router": a.router.map(|i| i.to_string()),
        "server": a.server.map(|i| i.to_string()),
        "file": a.file,
        "lease_time": a.lease_time,
        "protocol": if a.dhcp { "dhcp" } else { "bootp" },
        "xid": a.xid,
        "options": options,
    })
}
