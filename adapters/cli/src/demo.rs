//! `netboot demo`: the whole seed flow in one command, on loopback.
//!
//! It writes the sample root compiled into this binary (`sample-root/`: two
//! boot stages, a manifest and the four files it names, from empty to
//! 96 KiB) to a temporary directory, starts the combined server on
//! 127.0.0.1 with every port chosen by the kernel, runs the provisioning
//! client against it (unicast BOOTP, so no privilege and no network beyond
//! loopback), prints every step of both sides and the summary, and checks
//! every file the client stored against the embedded original. It exits 0
//! only when all of them arrived byte-identical.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Args;
use netboot_core::bootp::HwAddr;
use netboot_core::bootp::server::ServerConfig;
use netboot_core::plan::{ProfileTable, Reset};
use netboot_mio::provision::Provisioner;
use netboot_mio::server::Server;
use netboot_std::setup::ServerSetup;

use crate::exit::CliError;
use crate::interrupt;
use crate::output;
use crate::provision::{Bars, describe, exit_code, summary};

/// The sample root: every file, by its path in the root.
pub const SAMPLE_ROOT: &[(&str, &[u8])] = &[
    (
        "boot/stage1.ipxe",
        include_bytes!("../sample-root/boot/stage1.ipxe"),
    ),
    (
        "boot/stage2.img",
        include_bytes!("../sample-root/boot/stage2.img"),
    ),
    (
        "manifest.txt",
        include_bytes!("../sample-root/manifest.txt"),
    ),
    (
        "firmware/app.bin",
        include_bytes!("../sample-root/firmware/app.bin"),
    ),
    (
        "config/board.conf",
        include_bytes!("../sample-root/config/board.conf"),
    ),
    (
        "docs/NOTES.txt",
        include_bytes!("../sample-root/docs/NOTES.txt"),
    ),
    ("empty.flag", include_bytes!("../sample-root/empty.flag")),
];

/// The sample plan: two boot stages, then the manifest.
pub const SAMPLE_STAGES: [&str; 3] = ["boot/stage1.ipxe", "boot/stage2.img", "manifest.txt"];

/// Options of `netboot demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep what the client fetched in this directory (default: a temporary
    /// one, removed at the end).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seconds of BOOTP silence that end the boot phase.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    silence: f64,
}

/// A step line (not with `-q` or `--json`). A closed standard output only
/// silences the rest: the demo still runs to its end and cleans up.
fn say(who: &str, line: &str) {
    if output::chatty() {
        let _ = output::line(&format!("{who:<6} | {line}"));
    }
}

fn write_root(root: &Path) -> std::io::Result<()> {
    for (rel, data) in SAMPLE_ROOT {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, data)?;
    }
    Ok(())
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<(), CliError> {
    if !(args.silence.is_finite() && args.silence > 0.0 && args.silence <= 60.0) {
        return Err(CliError::config(
            "--silence must be between 0 and 60 seconds",
        ));
    }
    let cancel = interrupt::install()?;
    let work = std::env::temp_dir().join(format!("netboot-demo-{}", std::process::id()));
    let root = work.join("root");
    // Whatever happens below (a failure, a signal, a closed standard
    // output), the temporary directory goes.
    let result = (|| {
        write_root(&root)
            .map_err(|e| CliError::other(format!("cannot write the sample root: {e}")))?;
        let out = args.out.clone().unwrap_or_else(|| work.join("client"));
        demo(&root, &out, args.silence, cancel)
    })();
    let _ = std::fs::remove_dir_all(&work);
    interrupt::check()?;
    if output::stdout_closed() {
        return Err(CliError::silent(141));
    }
    result
}

fn demo(root: &Path, out: &Path, silence: f64, cancel: Arc<AtomicBool>) -> Result<(), CliError> {
    let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
    bootp.net.pool = Some((Ipv4Addr::new(127, 77, 0, 1), Ipv4Addr::new(127, 77, 0, 20)));
    bootp.bootp_dynamic = true;
    let mut plan = ProfileTable::new();
    plan.set_default(&SAMPLE_STAGES)
        .map_err(|e| CliError::other(format!("sample plan: {e}")))?;
    let any: SocketAddr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let setup = ServerSetup::new(root)
        .bootp(bootp)
        .bootp_listen(any)
        .tftp_listen(any)
        .ftp_listen(any)
        .plan(plan, Reset::Never);
    let server = Server::bind(setup)
        .map_err(|e| CliError::bind(format!("cannot start the demo server: {e}")))?
        .on_event(move |event| {
            if event.is_step() {
                say("server", &event.to_string());
            }
        })
        .spawn()
        .map_err(|e| CliError::other(format!("cannot start the demo server: {e}")))?;
    let (Some(SocketAddr::V4(bootp_addr)), Some(ftp_addr)) =
        (server.bootp_addr(), server.ftp_addr())
    else {
        return Err(CliError::other(
            "the demo server did not start every service",
        ));
    };
    let tftp_addr = server.tftp_addrs()[0];
    let hw = HwAddr::ethernet([0x02, 0x6e, 0x62, 0xde, 0x00, 0x01]);
    let total: usize = SAMPLE_ROOT.iter().map(|(_, d)| d.len()).sum();
    say(
        "demo",
        &format!(
            "sample root with {} files ({total} bytes) in {}",
            SAMPLE_ROOT.len(),
            root.display()
        ),
    );
    say(
        "demo",
        &format!("server on loopback: bootp {bootp_addr}, tftp {tftp_addr}, ftp {ftp_addr}"),
    );
    say("demo", &format!("plan: {}", SAMPLE_STAGES.join(" -> ")));
    say(
        "demo",
        &format!("client {hw} stores into {}", out.display()),
    );

    let bars = Bars::default();
    let b = bars.clone();
    let report = Provisioner::new(hw, out)
        .server(SocketAddrV4::new(*bootp_addr.ip(), bootp_addr.port()))
        .client_port(0)
        .tftp_port(tftp_addr.port())
        .ftp_port(ftp_addr.port())
        .silence(Duration::from_secs_f64(silence))
        .first_answer(Duration::from_secs(10))
        .on_event(move |event| {
            b.event(event);
            if let Some(line) = describe(event) {
                say("client", &line);
            }
        })
        .on_progress(move |p| bars.progress(p))
        .cancel_on(cancel)
        .run()
        .map_err(|e| CliError::other(format!("the demo client could not start: {e}")))?;
    let _ = server.shutdown();
    interrupt::check()?;

    if output::json() {
        // The provisioning report, and whether every file arrived
        // byte-identical (a difference fails the demo with exit code 1).
        let mut report_json = crate::provision::json(&hw, &report);
        let same = report.error.is_none() && differing(out).is_empty();
        report_json["identical"] = same.into();
        if report.error.is_none() && !same {
            report_json["success"] = false.into();
            report_json["exit_code"] = 1.into();
        }
        let _ = output::print_json(&report_json);
    } else if output::chatty() {
        let _ = output::write(summary(&hw, &report).as_bytes());
    }
    if let Some((step, message)) = &report.error {
        return Err(CliError::new(exit_code(*step), message.clone()));
    }
    let differ = differing(out);
    if !differ.is_empty() {
        return Err(CliError::other(format!(
            "not byte-identical to the embedded originals: {}",
            differ.join(", ")
        )));
    }
    if output::chatty() {
        let _ = output::line(&format!(
            "demo: all {} files arrived byte-identical to the embedded originals",
            SAMPLE_ROOT.len()
        ));
    }
    Ok(())
}

/// The sample files that did not arrive byte-identical in `out`.
fn differing(out: &Path) -> Vec<&'static str> {
    let mut differ = Vec::new();
    for (rel, data) in SAMPLE_ROOT {
        match std::fs::read(out.join(rel)) {
            Ok(got) if got == *data => {}
            _ => differ.push(*rel),
        }
    }
    differ
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_manifest_matches_the_embedded_files() {
        let (_, manifest) = SAMPLE_ROOT
            .iter()
            .find(|(p, _)| *p == "manifest.txt")
            .unwrap();
        let entries: Vec<_> = netboot_core::plan::parse_manifest_bytes(manifest)
            .unwrap()
            .files()
            .map(Result::unwrap)
            .collect();
        assert_eq!(entries.len(), 4);
        let mut sizes = Vec::new();
        for e in &entries {
            let (_, data) = SAMPLE_ROOT
                .iter()
                .find(|(p, _)| *p == e.path.as_str())
                .unwrap_or_else(|| panic!("{} not embedded", e.path));
            sizes.push(data.len());
            if let Some(want) = e.sha256 {
                use sha2::Digest;
                let got: [u8; 32] = sha2::Sha256::digest(data).into();
                assert_eq!(got, want, "{}", e.path);
            }
        }
        sizes.sort_unstable();
        sizes.dedup();
        assert_eq!(sizes.len(), 4, "files of different sizes: {sizes:?}");
        for stage in SAMPLE_STAGES {
            assert!(SAMPLE_ROOT.iter().any(|(p, _)| *p == stage));
        }
    }
}
