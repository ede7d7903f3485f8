//! `netboot`: network boot and provisioning from one command.
//!
//! Each protocol has its own subcommand with `serve` and client verbs; the
//! top-level `serve`, `provision` and `demo` run the whole flow. Every
//! protocol decision is made in `netboot-core`; this binary parses arguments
//! and configuration, shows progress and turns failures into one-line
//! messages and distinct exit codes (see [`exit`]).

// The argument structs' doc comments are clap's help text, where brackets
// are literal (`[default: 69]`, `ftp://[user[:password]@]host`), not links.
#![allow(rustdoc::broken_intra_doc_links)]

mod bootp;
mod check;
mod config;
mod demo;
mod exit;
mod ftp;
mod leases;
mod logging;
mod plan;
mod progress;
mod provision;
mod run;
mod serve;
mod signals;
mod tftp;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Network boot and provisioning: BOOTP/DHCP, TFTP and FTP.
#[derive(Parser, Debug)]
#[command(name = "netboot", version, about, long_about = None)]
struct Cli {
    /// Log what happens (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole flow on loopback with an embedded sample root: the
    /// server, the provisioning client, every step and a byte-for-byte
    /// check. Needs no root and no configuration.
    Demo(demo::DemoArgs),
    /// Serve BOOTP/DHCP, TFTP and FTP from one process, handing out each
    /// client's boot stages (see --config).
    Serve(serve::ServeArgs),
    /// Provision this machine: BOOTP and TFTP each boot stage until BOOTP
    /// falls silent, then FTP every file the manifest names (exit codes
    /// 40-44 tell which step failed).
    Provision(provision::ProvisionArgs),
    /// BOOTP/DHCP: `serve` a host table and pool, or `request` an address.
    #[command(subcommand)]
    Bootp(bootp::BootpCommand),
    /// Check a configuration file as `serve` would, binding nothing: exit
    /// 0 with a summary, or 3 with a `FILE:LINE: message` per error.
    Check(check::CheckArgs),
    /// List the leases and plan progress a server keeps.
    Leases(leases::LeasesArgs),
    /// FTP server and client: serve, get, put, ls.
    Ftp {
        #[command(subcommand)]
        command: ftp::FtpCommand,
    },
    /// TFTP: serve a directory, get and put files.
    Tftp {
        #[command(subcommand)]
        command: tftp::TftpCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let result: Result<(), exit::CliError> = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Provision(args) => provision::run(args),
        Command::Bootp(command) => bootp::run(command),
        Command::Check(args) => check::run(args),
        Command::Leases(args) => leases::run(args),
        Command::Ftp { command } => ftp::run(command),
        Command::Tftp { command } => tftp::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netboot: {e}");
            e.exit_code()
        }
    }
}
