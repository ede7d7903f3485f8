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

mod activation;
mod bootp;
mod check;
mod config;
mod demo;
mod docs;
mod exit;
mod ftp;
mod interrupt;
mod leases;
mod logging;
mod login;
mod notify;
mod output;
mod plan;
mod privilege;
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
#[command(after_help = docs::top_help())]
pub(crate) struct Cli {
    /// Log what happens (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Print nothing but errors: no progress, steps or summary (data asked
    /// for on standard output, as with `-`, is still written).
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Print one JSON object with the result on standard output at the end
    /// (a failure too: {"success": false, "exit_code": N, "error": "..."}).
    #[arg(long, global = true)]
    json: bool,

    /// Log lines as plain text or one JSON object per line (under systemd,
    /// text has the journal's `<N>` priorities and no timestamps).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t,
        global = true
    )]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole flow on loopback with an embedded sample root: the
    /// server, the provisioning client, every step and a byte-for-byte
    /// check. Needs no root and no configuration.
    #[command(after_help = exit::help(&[exit::SERVER, exit::PROVISION]))]
    Demo(demo::DemoArgs),
    /// Serve BOOTP/DHCP, TFTP and FTP from one process, handing out each
    /// client's boot stages (see --config).
    #[command(after_help = exit::help(&[exit::SERVER]))]
    Serve(serve::ServeArgs),
    /// Provision this machine: BOOTP and TFTP each boot stage until BOOTP
    /// falls silent, then FTP every file the manifest names (exit codes
    /// 40-44 tell which step failed).
    #[command(after_help = docs::provision_help())]
    Provision(provision::ProvisionArgs),
    /// BOOTP/DHCP: `serve` a host table and pool, or `request` an address.
    #[command(subcommand, after_help = exit::help(&[exit::SERVER, exit::BOOTP]))]
    Bootp(bootp::BootpCommand),
    /// Check a configuration file as `serve` would, binding nothing: exit
    /// 0 with a summary, or 3 with a `FILE:LINE: message` per error.
    Check(check::CheckArgs),
    /// List the leases and plan progress a server keeps.
    Leases(leases::LeasesArgs),
    /// FTP server and client: serve, get, put, ls.
    #[command(after_help = exit::help(&[exit::SERVER, exit::FTP]))]
    Ftp {
        #[command(subcommand)]
        command: ftp::FtpCommand,
    },
    /// TFTP: serve a directory, get and put files.
    #[command(after_help = exit::help(&[exit::SERVER, exit::TFTP]))]
    Tftp {
        #[command(subcommand)]
        command: tftp::TftpCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell) on standard output.
    #[command(after_help = docs::completions_help())]
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) on standard output, or write one page per
    /// command into --dir.
    #[command(after_help = exit::help(&[]))]
    Man(docs::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.log_format);
    output::init(output::Flags {
        quiet: cli.quiet,
        json: cli.json,
    });
    let result: Result<(), exit::CliError> = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Provision(args) => provision::run(args),
        Command::Bootp(command) => bootp::run(command),
        Command::Check(args) => check::run(args),
        Command::Leases(args) => leases::run(args),
        Command::Ftp { command } => ftp::run(command),
        Command::Tftp { command } => tftp::run(command),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_silent() => e.exit_code(),
        Err(e) => {
            output::stderr(&format!("netboot: {e}"));
            if cli.json && !output::stdout_closed() && !output::json_printed() {
                let _ = output::line(&output::error_json(&e).to_string());
            }
            e.exit_code()
        }
    }
}
