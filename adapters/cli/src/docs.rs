//! `netboot completions SHELL` and `netboot man`: the shell completion
//! scripts and man pages, generated from the command line definition so
//! they never disagree with `--help`.

use std::path::PathBuf;

use clap::{Args, Command, CommandFactory};
use clap_complete::Shell;

use crate::exit::{self, CliError};

/// Options of `netboot completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Options of `netboot man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write one page per command (netboot.1, netboot-tftp-get.1, ...)
    /// into DIR instead of printing netboot.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The environment variables and files, for the top-level help.
const ENVIRONMENT: &str = "Environment:
  NETBOOT_PASSWORD  FTP password when none is given on the command line
  NETRC             the .netrc file to read FTP logins from [default: ~/.netrc]
  RUST_LOG          log filter (tracing EnvFilter syntax); overrides -v
  TMPDIR            where demo and `tftp get ... -` keep their temporary files";

/// The top-level `--help` epilogue: every exit code and the environment.
pub fn top_help() -> String {
    format!(
        "{}\n\n{ENVIRONMENT}\n\nSee docs/cli.md or `netboot man` for every command.",
        exit::help(&[
            exit::SERVER,
            exit::TFTP,
            exit::BOOTP,
            exit::FTP,
            exit::PROVISION
        ])
    )
}

/// `provision --help`'s epilogue.
pub fn provision_help() -> String {
    format!(
        "{}\n\nThe FTP password: --password, --password-file, NETBOOT_PASSWORD, \
         then ~/.netrc (or NETRC), in this order.",
        exit::help(&[exit::SERVER, exit::PROVISION])
    )
}

/// `completions --help`'s epilogue.
pub fn completions_help() -> String {
    format!(
        "{}\n\nExamples:\n  netboot completions bash > /etc/bash_completion.d/netboot\n  \
         netboot completions zsh > \"${{fpath[1]}}/_netboot\"\n  \
         netboot completions fish > ~/.config/fish/completions/netboot.fish",
        exit::help(&[])
    )
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: CompletionsArgs) -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "netboot", &mut out);
    crate::output::write(&out)
}

/// Prints the man page, or writes one per command into `--dir`.
pub fn man(args: ManArgs) -> Result<(), CliError> {
    let cmd = crate::Cli::command();
    match args.dir {
        None => crate::output::write(&render(&cmd, "netboot")?),
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| CliError::other(format!("{}: {e}", dir.display())))?;
            let mut written = Vec::new();
            write_pages(&cmd, "netboot", &dir, &mut written)?;
            crate::output::say(&format!(
                "wrote {} man pages into {}",
                written.len(),
                dir.display()
            ));
            crate::output::result(serde_json::json!({
                "dir": dir.display().to_string(),
                "pages": written,
            }))
        }
    }
}

fn render(cmd: &Command, title: &str) -> Result<Vec<u8>, CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(title.to_uppercase())
        .render(&mut out)
        .map_err(|e| CliError::other(format!("cannot render the man page: {e}")))?;
    Ok(th_first(out))
}

/// Moves the `.TH` title line to the top (clap_mangen writes its quote
/// string definitions first), so the page starts as man pages do.
fn th_first(page: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&page);
    let Some(th) = text.lines().find(|l| l.starts_with(".TH ")) else {
        return page;
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(th);
    out.push('\n');
    for line in text.lines().filter(|l| *l != th) {
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

fn write_pages(
    cmd: &Command,
    name: &str,
    dir: &std::path::Path,
    written: &mut Vec<String>,
) -> Result<(), CliError> {
    let file = format!("{name}.1");
    let page = render(cmd, name)?;
    std::fs::write(dir.join(&file), page)
        .map_err(|e| CliError::other(format!("{}: {e}", dir.join(&file).display())))?;
    written.push(file);
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
