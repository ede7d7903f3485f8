//! Giving up root once the privileged part of start-up is done.
//!
//! A server started as root binds its ports, opens its root and reads its
//! state files, then switches to an unprivileged account for good:
//! supplementary groups cleared (`setgroups([])`), then `setgid`, then
//! `setuid`. The account is `--user` (default `netboot`) and `--group`
//! (default the user's primary group); `--user root` keeps root, on
//! purpose. A server started by anyone else cannot switch and does not try:
//! `--user` then may only name that user.
//!
//! Nothing the server does after start-up needs a privilege: listening
//! sockets are bound before the switch (an interface binding,
//! `SO_BINDTODEVICE`, is set at bind time and stays), transfer and data
//! sockets use unprivileged ports, and broadcasts need only `SO_BROADCAST`.
//! So no capability is kept.
//!
//! Accounts are looked up in `/etc/passwd` and `/etc/group` (system accounts
//! live there; `useradd --system` puts them there), or given as numbers.
//!
//! The switch goes through the C library, whose `setuid` family changes the
//! credentials of every thread of the process (the kernel calls are per
//! thread, and a worker thread already runs). Afterwards every thread's
//! credentials are read back from `/proc/self/task` and getting root back
//! is tried: either showing a trace of root fails start-up.

use std::fmt;
use std::path::Path;

use netboot_std::setup::ServerSetup;

use crate::config::Privilege;
use crate::exit::CliError;

/// The account a server switches to when started as root.
pub const DEFAULT_USER: &str = "netboot";

/// What [`drop_privileges`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The account the process runs as now.
    pub user: String,
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
    /// Whether the credentials changed (false: not started as root, or
    /// `--user root`).
    pub switched: bool,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.switched, self.uid) {
            (true, _) => write!(
                f,
                "running as user {} (uid {}, gid {}, no supplementary groups)",
                self.user, self.uid, self.gid
            ),
            (false, 0) => write!(f, "keeping root privileges (--user root)"),
            (false, _) => write!(f, "running as user {} (uid {})", self.user, self.uid),
        }
    }
}

/// `--user` and `--group` of every server command (`serve`, `bootp serve`,
/// `tftp serve`, `ftp serve`); each wins over the configuration file's
/// `user` and `group`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct PrivilegeArgs {
    /// When started as root, run as this user once the ports are bound
    /// (overrides the file's `user`) [default: netboot]; `root` keeps root.
    #[arg(long, value_name = "NAME", env = "NETBOOT_USER")]
    pub user: Option<String>,
    /// When started as root, run as this group once the ports are bound
    /// (overrides the file's `group`) [default: the user's primary group].
    #[arg(long, value_name = "NAME", env = "NETBOOT_GROUP")]
    pub group: Option<String>,
}

impl PrivilegeArgs {
    /// The account to run as: each flag, else the file's key (`file`),
    /// else the default ([`DEFAULT_USER`], its primary group).
    pub fn over(&self, file: Privilege) -> Privilege {
        Privilege {
            user: self.user.clone().or(file.user),
            group: self.group.clone().or(file.group),
        }
    }
}

/// Gives up root for `privilege` once `setup`'s server is bound (see
/// [`drop_privileges`]), then checks that the account can still serve
/// the root (when TFTP or FTP runs), save the state files
/// ([`check_access`]) and write the root when TFTP takes uploads.
pub fn drop_for(setup: &ServerSetup, privilege: &Privilege) -> Result<Dropped, CliError> {
    let who = drop_privileges(privilege.user.as_deref(), privilege.group.as_deref())?;
    let serves = setup.tftp.is_some() || setup.ftp.is_some();
    let root = serves.then_some(setup.root.as_path());
    let state: Vec<(&str, &Path)> = [
        ("lease file", &setup.lease_file),
        ("progress file", &setup.progress_file),
    ]
    .into_iter()
    .filter(|_| setup.bootp.is_some())
    .filter_map(|(what, file)| Some((what, file.as_deref()?)))
    .collect();
    check_access(&who, root, &state)?;
    let uploads = setup.tftp.as_ref().is_some_and(|t| t.server.writable);
    if uploads
        && let Err(e) = rustix::fs::access(
            &setup.root,
            rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
        )
    {
        return Err(CliError::config(format!(
            "root {}: TFTP uploads are on (writable), but user {} cannot write there: {e}; chown the root to {} or turn uploads off",
            setup.root.display(),
            who.user,
            who.user
        )));
    }
    Ok(who)
}

/// What is wrong with the accounts `privilege` names, as `check` reports
/// it: `("user", message)` for a user that does not exist, `("group",
/// message)` for a group.
pub fn missing_accounts(privilege: &Privilege) -> Vec<(&'static str, String)> {
    let mut missing = Vec::new();
    if let Some(u) = &privilege.user
        && find("/etc/passwd", u).is_none()
    {
        missing.push((
            "user",
            format!(
                "user \"{u}\" does not exist: create it (useradd --system {u}) or choose another"
            ),
        ));
    }
    if let Some(g) = &privilege.group
        && find("/etc/group", g).is_none()
    {
        missing.push((
            "group",
            format!(
                "group \"{g}\" does not exist: create it (groupadd --system {g}) or choose another"
            ),
        ));
    }
    missing
}

/// One line of `/etc/passwd` or `/etc/group`: name, id, and for a user
/// the primary group.
struct Entry {
    name: String,
    id: u32,
    group: Option<u32>,
}

fn entries(file: &str) -> Vec<Entry> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?.to_string();
            let id = fields.nth(1)?.parse().ok()?;
            let group = fields.next().and_then(|g| g.parse().ok());
            Some(Entry { name, id, group })
        })
        .collect()
}

/// The entry named `name` (or numbered, when it is a number).
fn find(file: &str, name: &str) -> Option<Entry> {
    let all = entries(file);
    if let Ok(id) = name.parse::<u32>() {
        return Some(
            all.into_iter()
                .find(|e| e.id == id)
                .unwrap_or_else(|| Entry {
                    name: name.to_string(),
                    id,
                    group: None,
                }),
        );
    }
    all.into_iter().find(|e| e.name == name)
}

fn name_of_uid(uid: u32) -> String {
    entries("/etc/passwd")
        .into_iter()
        .find(|e| e.id == uid)
        .map_or_else(|| uid.to_string(), |e| e.name)
}

/// Switches to `user` and `group` when running as root (see the [module
/// docs](self)); `None` means the default (`netboot`, and the user's
/// primary group). Exit code 3 for an account that does not exist, a
/// `--user` that cannot be honoured, or a switch that did not hold.
pub fn drop_privileges(user: Option<&str>, group: Option<&str>) -> Result<Dropped, CliError> {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        let me = name_of_uid(euid);
        if let Some(u) = user
            && u != me
            && u.parse() != Ok(euid)
        {
            return Err(CliError::config(format!(
                "user \"{u}\": running as {me}, not root, so the server cannot switch users: start it as root, or leave out --user (and the file's `user`)"
            )));
        }
        if let Some(g) = group {
            return Err(CliError::config(format!(
                "group \"{g}\": running as {me}, not root, so the server cannot switch groups: start it as root, or leave out --group (and the file's `group`)"
            )));
        }
        return Ok(Dropped {
            user: me,
            uid: euid,
            gid: rustix::process::getegid().as_raw(),
            switched: false,
        });
    }
    let name = user.unwrap_or(DEFAULT_USER);
    let Some(account) = find("/etc/passwd", name) else {
        return Err(CliError::config(match user {
            None => format!(
                "user \"{name}\" does not exist: create it (useradd --system {name}) or choose one with --user"
            ),
            Some(_) => format!(
                "user \"{name}\" does not exist: create it (useradd --system {name}) or choose another with --user"
            ),
        }));
    };
    if account.id == 0 {
        if let Some(g) = group {
            return Err(CliError::config(format!(
                "group \"{g}\": the user is root, which keeps every privilege: choose an unprivileged --user or leave out --group"
            )));
        }
        let dropped = Dropped {
            user: account.name,
            uid: 0,
            gid: 0,
            switched: false,
        };
        tracing::info!("{dropped}");
        return Ok(dropped);
    }
    let gid = match group {
        Some(g) => {
            find("/etc/group", g)
                .ok_or_else(|| {
                    CliError::config(format!(
                        "group \"{g}\" does not exist: create it (groupadd --system {g}) or choose one with --group"
                    ))
                })?
                .id
        }
        None => account.group.ok_or_else(|| {
            CliError::config(format!(
                "user {name} has no primary group in /etc/passwd: choose one with --group"
            ))
        })?,
    };
    switch(account.id, gid).map_err(|e| {
        CliError::config(format!(
            "cannot switch to user {} (uid {}, gid {gid}): {e}",
            account.name, account.id
        ))
    })?;
    verify(account.id, gid)?;
    let dropped = Dropped {
        user: account.name,
        uid: account.id,
        gid,
        switched: true,
    };
    tracing::info!("{dropped}");
    Ok(dropped)
}

/// `setgroups([])`, `setgid`, `setuid`, for every thread.
#[allow(unsafe_code)]
fn switch(uid: u32, gid: u32) -> std::io::Result<()> {
    let check = |r: libc::c_int| match r {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    };
    // SAFETY: these calls take plain integers (and an empty list, which
    // the kernel does not read) and touch no memory of ours; the C library
    // applies them to every thread of the process.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setgid(gid))?;
        check(libc::setuid(uid))
    }
}

/// Tries to become root again, which must fail.
#[allow(unsafe_code)]
fn regain_root() -> bool {
    // SAFETY: takes an integer, touches no memory.
    unsafe { libc::setuid(0) == 0 }
}

/// Every thread runs as `uid`/`gid` (real, effective, saved and file
/// system ids) with no supplementary group, and root cannot be regained.
fn verify(uid: u32, gid: u32) -> Result<(), CliError> {
    let failed = |what: String| {
        CliError::config(format!(
            "the switch to uid {uid} did not hold: {what}; refusing to serve"
        ))
    };
    if regain_root() {
        return Err(failed("setuid(0) succeeded afterwards".into()));
    }
    let tasks = std::fs::read_dir("/proc/self/task")
        .map_err(|e| failed(format!("cannot read /proc/self/task: {e}")))?;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let ids = |key: &str| -> Vec<u32> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|rest| {
                    rest.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let thread = Path::new(&task.file_name()).display().to_string();
        if ids("Uid:").len() != 4 || ids("Uid:").iter().any(|&u| u != uid) {
            return Err(failed(format!(
                "thread {thread} has uids {:?}",
                ids("Uid:")
            )));
        }
        if ids("Gid:").len() != 4 || ids("Gid:").iter().any(|&g| g != gid) {
            return Err(failed(format!(
                "thread {thread} has gids {:?}",
                ids("Gid:")
            )));
        }
        if !ids("Groups:").is_empty() {
            return Err(failed(format!(
                "thread {thread} keeps groups {:?}",
                ids("Groups:")
            )));
        }
    }
    Ok(())
}

/// Checks, as the account the server now runs as, that it can serve
/// `root` and save each state file: `(what, path)` pairs such as
/// `("lease file", "/var/lib/netboot/leases")`. A state file is replaced by
/// renaming a new one into its directory, so the directory must be
/// writable. Exit code 3, naming the path and the way out.
pub fn check_access(
    who: &Dropped,
    root: Option<&Path>,
    state: &[(&str, &Path)],
) -> Result<(), CliError> {
    use rustix::fs::{Access, access};
    if let Some(root) = root
        && let Err(e) = access(root, Access::READ_OK | Access::EXEC_OK)
    {
        return Err(CliError::config(format!(
            "root {}: not readable by user {}: {e}; make it readable (chmod o+rx, or chgrp) or choose another --user",
            root.display(),
            who.user
        )));
    }
    for (what, file) in state {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Err(e) = access(dir, Access::WRITE_OK | Access::EXEC_OK) {
            return Err(CliError::config(format!(
                "{what} {}: directory {} is not writable by user {}: {e} (the file is saved by renaming a new one into it); chown the directory to {} or choose another place",
                file.display(),
                dir.display(),
                who.user,
                who.user
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_found_by_name_and_number() {
        let root = find("/etc/passwd", "root").expect("root is in /etc/passwd");
        assert_eq!((root.id, root.group), (0, Some(0)));
        assert_eq!(find("/etc/passwd", "0").unwrap().name, "root");
        assert!(find("/etc/passwd", "no-such-user-here").is_none());
        assert_eq!(name_of_uid(0), "root");
    }

    #[test]
    fn a_flag_wins_over_the_file_and_the_file_over_the_default() {
        let file = Privilege {
            user: Some("nobody".into()),
            group: Some("nogroup".into()),
        };
        let flags = PrivilegeArgs {
            user: Some("netboot".into()),
            group: None,
        };
        assert_eq!(
            flags.over(file.clone()),
            Privilege {
                user: Some("netboot".into()),
                group: Some("nogroup".into())
            }
        );
        assert_eq!(PrivilegeArgs::default().over(file.clone()), file);
        assert_eq!(
            PrivilegeArgs::default().over(Privilege::default()),
            Privilege::default()
        );
    }

    #[test]
    fn the_lines_say_what_happened() {
        let kept = Dropped {
            user: "root".into(),
            uid: 0,
            gid: 0,
            switched: false,
        };
        assert_eq!(kept.to_string(), "keeping root privileges (--user root)");
        let dropped = Dropped {
            user: "netboot".into(),
            uid: 999,
            gid: 998,
            switched: true,
        };
        assert_eq!(
            dropped.to_string(),
            "running as user netboot (uid 999, gid 998, no supplementary groups)"
        );
    }
}
