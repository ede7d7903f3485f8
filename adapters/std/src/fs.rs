//! A [`Storage`] on a real directory, jailed to it.
//!
//! The root is opened once as a capability ([`cap_std::fs::Dir`]); every later
//! operation resolves its path *inside* that directory handle, so neither
//! `..`, nor an absolute path, nor a symbolic link (however deep) can reach a
//! file outside the root: cap-std uses `openat2(RESOLVE_BENEATH)` where the
//! kernel has it and a checked component-by-component walk where it does not.
//! Paths arrive already normalised by [`netboot_core::path::resolve`], so the
//! jail is a second, independent wall.
//!
//! Uploads and downloads in write-aside modes go to a hidden temporary file
//! in the target's directory (`.netboot-part-*`, a partial file whichever
//! way it travels), which is renamed into place on commit
//! (hard-linked, for create-only uploads, so an existing file is never
//! clobbered) and removed on discard or when the writer is dropped. Temporary
//! files never appear in directory listings. Nothing is `fsync`ed: like
//! vsftpd and atftpd, durability is left to the file system.
//!
//! Writes go through a [`WRITE_BUFFER`]-byte buffer, so a transfer of small
//! blocks costs one `write` per buffer rather than one per block; an error
//! the buffer hides surfaces at the latest in [`Storage::commit`], which
//! then fails and publishes nothing.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use netboot_core::path;
use netboot_core::storage::{EntryKind, Metadata, Storage, StoreError, WriteMode};

/// Size of the write buffer of each open upload, in bytes.
pub const WRITE_BUFFER: usize = 64 * 1024;

/// Prefix of the temporary files partial uploads and downloads are written
/// to; such names are hidden and unservable.
pub const TEMP_PREFIX: &str = ".netboot-part-";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A jailed directory store.
///
/// ```
/// use netboot_core::storage::{Storage, WriteMode};
/// use netboot_std::fs::FsStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("hello.txt"), b"hi").unwrap();
/// let mut store = FsStore::open(dir.path(), true).unwrap();
/// let (mut f, meta) = store.open_read("hello.txt").unwrap();
/// assert_eq!(meta.len, 2);
///
/// let mut w = store.open_write("new.bin", WriteMode::CreateNew).unwrap();
/// store.write(&mut w, b"abc").unwrap();
/// store.commit(w).unwrap();
/// assert_eq!(std::fs::read(dir.path().join("new.bin")).unwrap(), b"abc");
/// ```
#[derive(Debug)]
pub struct FsStore {
    root: Dir,
    root_path: PathBuf,
    writable: bool,
}

/// A file of an [`FsStore`] open for writing.
#[derive(Debug)]
pub struct FsWriter {
    file: Option<BufWriter<File>>,
    /// Where the content is being written (a temp file in atomic modes).
    written: String,
    /// The name it must get on commit, in atomic modes.
    target: Option<(String, WriteMode)>,
    root: Option<Dir>,
}

impl FsStore {
    /// Opens `root` as a store; modifications are refused unless `writable`.
    pub fn open(root: impl AsRef<Path>, writable: bool) -> io::Result<Self> {
        let root_path = std::fs::canonicalize(root.as_ref())?;
        let root = Dir::open_ambient_dir(&root_path, ambient_authority())?;
        Ok(FsStore {
            root,
            root_path,
            writable,
        })
    }

    /// Another handle on the same root (for a second service).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(FsStore {
            root: self.root.try_clone()?,
            root_path: self.root_path.clone(),
            writable: self.writable,
        })
    }

    /// The canonical path of the root on the host.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// True when modifications are allowed.
    pub fn writable(&self) -> bool {
        self.writable
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::PermissionDenied)
        }
    }

    fn metadata_of(&self, m: &cap_std::fs::Metadata) -> Metadata {
        let kind = if m.is_file() {
            EntryKind::File
        } else if m.is_dir() {
            EntryKind::Directory
        } else {
            EntryKind::Other
        };
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.into_std().duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        Metadata {
            kind,
            len: if kind == EntryKind::File { m.len() } else { 0 },
            modified,
            readonly: !self.writable || m.permissions().readonly(),
        }
    }

    fn dir_path(p: &str) -> &str {
        if p.is_empty() { "." } else { p }
    }
}

/// Replaces the file at `path` with `bytes` atomically: a temporary file
/// beside it is written, flushed to disk and renamed over it, so a crash
/// leaves the old file or the new one, never a torn one. For state files
/// (leases, plan progress), not for served content.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("state");
/// netboot_std::fs::write_atomically(&path, b"one\n").unwrap();
/// netboot_std::fs::write_atomically(&path, b"two\n").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
/// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Names a peer may never address directly.
fn is_hidden_temp(path: &str) -> bool {
    path::file_name(path).starts_with(TEMP_PREFIX)
}

/// Splits a local path a user named into its directory (`.` when it has
/// none) and its file name; `None` when it names no file (`/`, `..`).
pub fn split_local(path: &Path) -> Option<(PathBuf, String)> {
    let name = path.file_name()?.to_str()?.to_string();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((dir, name))
}

/// Opens the local file `path` for a download that replaces it only when it
/// succeeds: the bytes go to a temporary file beside it, which
/// [`Storage::commit`] renames over `path` and [`Storage::discard`] removes,
/// so a failed download leaves `path` as it was (or absent).
///
/// ```
/// use netboot_core::storage::Storage;
/// use netboot_std::fs::write_aside;
/// use std::io::Write;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("kept.bin");
/// std::fs::write(&path, b"old").unwrap();
/// let (mut store, mut w) = write_aside(&path).unwrap();
/// w.file().unwrap().write_all(b"partial").unwrap();
/// store.discard(w);
/// assert_eq!(std::fs::read(&path).unwrap(), b"old");
/// ```
pub fn write_aside(path: &Path) -> Result<(FsStore, FsWriter), StoreError> {
    let (dir, name) = split_local(path).ok_or(StoreError::IsADirectory)?;
    let mut store = FsStore::open(&dir, true).map_err(|e| store_error(&e))?;
    let writer = store.open_write(&name, WriteMode::Replace)?;
    Ok((store, writer))
}

/// Maps an OS error onto the store's vocabulary.
pub fn store_error(e: &io::Error) -> StoreError {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => return StoreError::Full,
        // A link we will not follow, or a rename across file systems.
        Some(libc::ELOOP | libc::EXDEV) => return StoreError::PermissionDenied,
        Some(libc::ENOTDIR) => return StoreError::NotADirectory,
        Some(libc::EISDIR) => return StoreError::IsADirectory,
        Some(libc::ENOTEMPTY) => return StoreError::NotEmpty,
        _ => {}
    }
    match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound,
        io::ErrorKind::PermissionDenied => StoreError::PermissionDenied,
        io::ErrorKind::AlreadyExists => StoreError::AlreadyExists,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => StoreError::Full,
        io::ErrorKind::IsADirectory => StoreError::IsADirectory,
        io::ErrorKind::NotADirectory => StoreError::NotADirectory,
        io::ErrorKind::DirectoryNotEmpty => StoreError::NotEmpty,
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidFilename => {
            StoreError::PermissionDenied
        }
        _ => StoreError::Io,
    }
}

fn err(e: io::Error) -> StoreError {
    store_error(&e)
}

impl Storage for FsStore {
    type Reader = File;
    type Writer = FsWriter;

    fn metadata(&mut self, path: &str) -> Result<Metadata, StoreError> {
        if is_hidden_temp(path) {
            return Err(StoreError::NotFound);
        }
        let m = self.root.metadata(Self::dir_path(path)).map_err(err)?;
        Ok(self.metadata_of(&m))
    }

    fn open_read(&mut self, path: &str) -> Result<(File, Metadata), StoreError> {
        if is_hidden_temp(path) {
            return Err(StoreError::NotFound);
        }
        // Refuse anything but a regular file before opening, so that a FIFO or
        // device in the root can never block or be read.
        let meta = self.metadata(path)?;
        match meta.kind {
            EntryKind::File => {}
            EntryKind::Directory => return Err(StoreError::IsADirectory),
            EntryKind::Other => return Err(StoreError::PermissionDenied),
        }
        let mut opts = OpenOptions::new();
        opts.read(true);
        let file = self.root.open_with(path, &opts).map_err(err)?.into_std();
        let m = file.metadata().map_err(err)?;
        if !m.is_file() {
            return Err(StoreError::PermissionDenied);
        }
        Ok((
            file,
            Metadata {
                len: m.len(),
                ..meta
            },
        ))
    }

    fn read_at(
        &mut self,
        file: &mut File,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        loop {
            match file.read_at(buf, offset) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(err(e)),
            }
        }
    }

    fn open_write(&mut self, path: &str, mode: WriteMode) -> Result<FsWriter, StoreError> {
        self.check_writable()?;
        if path.is_empty() {
            return Err(StoreError::IsADirectory);
        }
        if is_hidden_temp(path) {
            return Err(StoreError::PermissionDenied);
        }
        match self.root.metadata(path) {
            Ok(m) if m.is_dir() => return Err(StoreError::IsADirectory),
            Ok(m) if !m.is_file() => return Err(StoreError::PermissionDenied),
            Ok(_) if mode == WriteMode::CreateNew => return Err(StoreError::AlreadyExists),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        if mode.is_atomic() {
            let dir = path::parent(path);
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{TEMP_PREFIX}{}-{n}", std::process::id());
            let temp = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            let file = self.root.open_with(&temp, &opts).map_err(err)?.into_std();
            Ok(FsWriter {
                file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
                written: temp,
                target: Some((path.to_string(), mode)),
                root: self.root.try_clone().ok(),
            })
        } else {
            let mut opts = OpenOptions::new();
            opts.write(true).create(true);
            if mode == WriteMode::Append {
                opts.append(true);
            }
            let file = self.root.open_with(path, &opts).map_err(err)?.into_std();
            if let WriteMode::At(offset) = mode {
                let len = file.metadata().map_err(err)?.len();
                if offset > len {
                    return Err(StoreError::PermissionDenied);
                }
                file.set_len(offset).map_err(err)?;
                use std::io::Seek;
                (&file).seek(io::SeekFrom::Start(offset)).map_err(err)?;
            }
            Ok(FsWriter {
                file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
                written: path.to_string(),
                target: None,
                root: None,
            })
        }
    }

    fn write(&mut self, file: &mut FsWriter, data: &[u8]) -> Result<(), StoreError> {
        match file.file.as_mut() {
            Some(f) => f.write_all(data).map_err(err),
            None => Err(StoreError::Io),
        }
    }

    fn commit(&mut self, mut file: FsWriter) -> Result<(), StoreError> {
        if let Some(mut w) = file.file.take() {
            // On failure `file` is dropped here, which removes the temporary.
            w.flush().map_err(err)?;
        }
        let Some((target, mode)) = file.target.take() else {
            return Ok(());
        };
        let result = if mode == WriteMode::CreateNew {
            // A hard link never replaces an existing name: create-only holds
            // even if another upload of the same name finished first.
            self.root
                .hard_link(&file.written, &self.root, &target)
                .map(|()| {
                    let _ = self.root.remove_file(&file.written);
                })
        } else {
            self.root.rename(&file.written, &self.root, &target)
        };
        match result {
            Ok(()) => {
                file.written.clear();
                Ok(())
            }
            Err(e) => Err(err(e)),
        }
    }

    fn discard(&mut self, file: FsWriter) {
        drop(file);
    }

    fn read_dir(
        &mut self,
        path: &str,
        visit: &mut dyn FnMut(&str, &Metadata) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let entries = if path.is_empty() {
            self.root.entries()
        } else {
            self.root.read_dir(path)
        }
        .map_err(err)?;
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let full = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}/{name}")
            };
            // Follow links that stay inside the root; skip those that do not.
            let Ok(m) = self.root.metadata(&full) else {
                continue;
            };
            if let ControlFlow::Break(()) = visit(name, &self.metadata_of(&m)) {
                break;
            }
        }
        Ok(())
    }

    fn create_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        if path.is_empty() {
            return Err(StoreError::AlreadyExists);
        }
        self.root.create_dir(path).map_err(err)
    }

    fn remove_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        if path.is_empty() {
            return Err(StoreError::PermissionDenied);
        }
        self.root.remove_dir(path).map_err(err)
    }

    fn remove_file(&mut self, path: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        if is_hidden_temp(path) {
            return Err(StoreError::NotFound);
        }
        self.root.remove_file(path).map_err(err)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        if from.is_empty() || to.is_empty() || is_hidden_temp(from) || is_hidden_temp(to) {
            return Err(StoreError::PermissionDenied);
        }
        self.root.rename(from, &self.root, to).map_err(err)
    }
}

impl FsWriter {
    /// The open file, for zero-copy writers (`splice(2)`): bytes written to
    /// it count exactly like [`Storage::write`]. Anything still buffered from
    /// earlier [`Storage::write`] calls is flushed first, so the two kinds of
    /// write never reorder. `None` after a failure.
    pub fn file(&mut self) -> Option<&File> {
        let buffered = self.file.as_mut()?;
        if buffered.flush().is_err() {
            self.file = None;
            return None;
        }
        self.file.as_ref().map(BufWriter::get_ref)
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if let Some(mut w) = self.file.take() {
            if self.target.is_some() {
                // An abandoned write-aside upload is about to be removed.
                drop(w.into_parts());
            } else {
                // In place (append, resume): what was written stays written.
                let _ = w.flush();
            }
        }
        if self.target.is_some()
            && !self.written.is_empty()
            && let Some(root) = &self.root
        {
            let _ = root.remove_file(&self.written);
        }
    }
}

/// Copies `from` in store `src` to `to` in store `dst`, written aside
/// ([`WriteMode::Replace`]): `to` shows the whole new content or, on
/// failure, what it held before. Both paths are peer-style names, checked
/// by [`path::resolve`] (`..` refused). Returns the bytes copied.
///
/// This is how an embedding program puts a file into a served root or takes
/// one out (the seed's `put_file` / `get_file` of its internal server).
///
/// ```
/// use netboot_std::fs::{FsStore, copy_between};
///
/// let a = tempfile::tempdir().unwrap();
/// let b = tempfile::tempdir().unwrap();
/// std::fs::write(a.path().join("boot.bin"), b"kernel").unwrap();
/// let mut src = FsStore::open(a.path(), false).unwrap();
/// let mut dst = FsStore::open(b.path(), true).unwrap();
/// assert_eq!(copy_between(&mut src, "boot.bin", &mut dst, "/images/../x").is_err(), true);
/// assert_eq!(copy_between(&mut src, "boot.bin", &mut dst, "copy.bin").unwrap(), 6);
/// assert_eq!(std::fs::read(b.path().join("copy.bin")).unwrap(), b"kernel");
/// ```
pub fn copy_between(
    src: &mut FsStore,
    from: &str,
    dst: &mut FsStore,
    to: &str,
) -> Result<u64, StoreError> {
    let bad = |_| StoreError::PermissionDenied;
    let from = path::resolve("", from, path::DotDot::Reject).map_err(bad)?;
    let to = path::resolve("", to, path::DotDot::Reject).map_err(bad)?;
    let (mut reader, _) = src.open_read(&from)?;
    let mut writer = dst.open_write(&to, WriteMode::Replace)?;
    let mut buf = vec![0u8; WRITE_BUFFER];
    let mut offset = 0u64;
    loop {
        let n = match src.read_at(&mut reader, offset, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                dst.discard(writer);
                return Err(e);
            }
        };
        if n == 0 {
            break;
        }
        if let Err(e) = dst.write(&mut writer, &buf[..n]) {
            dst.discard(writer);
            return Err(e);
        }
        offset += n as u64;
    }
    dst.commit(writer)?;
    Ok(offset)
}

/// Copies the host file `local` into the directory `root` as `remote`
/// (see [`copy_between`]), whatever the served root's own write policy;
/// missing directories on the way are created.
pub fn put_file(root: &Path, local: &Path, remote: &str) -> io::Result<u64> {
    let (dir, name) = local_parts(local)?;
    let mut src = FsStore::open(dir, false)?;
    let mut dst = FsStore::open(root, true)?;
    let target = path::resolve("", remote, path::DotDot::Reject)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{remote}: {e}")))?;
    let parent = path::parent(&target);
    for (i, _) in parent.match_indices('/').chain([(parent.len(), "")]) {
        match dst.create_dir(&parent[..i]) {
            Ok(()) | Err(StoreError::AlreadyExists) => {}
            Err(_) if parent.is_empty() => {}
            Err(e) => return Err(store_io(e, remote)),
        }
    }
    copy_between(&mut src, &name, &mut dst, &target).map_err(|e| store_io(e, remote))
}

/// Copies `remote` out of the directory `root` into the host file `local`
/// (see [`copy_between`]).
pub fn get_file(root: &Path, remote: &str, local: &Path) -> io::Result<u64> {
    let (dir, name) = local_parts(local)?;
    let mut src = FsStore::open(root, false)?;
    let mut dst = FsStore::open(dir, true)?;
    copy_between(&mut src, remote, &mut dst, &name).map_err(|e| store_io(e, remote))
}

fn local_parts(local: &Path) -> io::Result<(PathBuf, String)> {
    split_local(local).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))
}

fn store_io(e: StoreError, name: &str) -> io::Error {
    let kind = match e {
        StoreError::NotFound => io::ErrorKind::NotFound,
        StoreError::PermissionDenied => io::ErrorKind::PermissionDenied,
        StoreError::AlreadyExists => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, FsStore) {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("inside"), b"inside").unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        symlink(outside.path().join("secret"), root.path().join("escape")).unwrap();
        symlink("../inside", root.path().join("sub/ok-link")).unwrap();
        symlink(outside.path(), root.path().join("outdir")).unwrap();
        let store = FsStore::open(root.path(), true).unwrap();
        (outside, root, store)
    }

    #[test]
    fn symlinks_out_of_root_are_refused() {
        let (outside, root, mut s) = setup();
        assert!(s.open_read("escape").is_err());
        assert!(s.open_read("outdir/secret").is_err());
        assert!(s.open_write("outdir/new", WriteMode::Replace).is_err());
        assert!(s.remove_file("outdir/secret").is_err());
        assert!(s.rename("outdir/secret", "stolen").is_err());
        assert_eq!(
            std::fs::read(outside.path().join("secret")).unwrap(),
            b"secret"
        );
        assert!(!root.path().join("stolen").exists());
        assert!(!outside.path().join("new").exists());
    }

    #[test]
    fn symlinks_inside_root_are_followed() {
        let (_o, _r, mut s) = setup();
        let (mut f, m) = s.open_read("sub/ok-link").unwrap();
        assert_eq!(m.len, 6);
        let mut buf = [0; 6];
        assert_eq!(s.read_at(&mut f, 0, &mut buf).unwrap(), 6);
        assert_eq!(&buf, b"inside");
    }

    #[test]
    fn dropped_upload_leaves_nothing() {
        let (_o, root, mut s) = setup();
        let mut w = s.open_write("sub/up.bin", WriteMode::CreateNew).unwrap();
        s.write(&mut w, b"partial").unwrap();
        drop(w);
        let names: Vec<_> = std::fs::read_dir(root.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ok-link"]);
    }

    #[test]
    fn create_new_never_clobbers() {
        let (_o, root, mut s) = setup();
        let mut w = s.open_write("later", WriteMode::CreateNew).unwrap();
        s.write(&mut w, b"mine").unwrap();
        std::fs::write(root.path().join("later"), b"theirs").unwrap();
        assert_eq!(s.commit(w), Err(StoreError::AlreadyExists));
        assert_eq!(std::fs::read(root.path().join("later")).unwrap(), b"theirs");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 6);
    }

    #[test]
    fn replace_is_atomic_and_hidden_until_commit() {
        let (_o, root, mut s) = setup();
        let mut w = s.open_write("inside", WriteMode::Replace).unwrap();
        s.write(&mut w, b"updated").unwrap();
        let mut seen = Vec::new();
        s.read_dir("", &mut |n, _| {
            seen.push(n.to_string());
            ControlFlow::Continue(())
        })
        .unwrap();
        assert!(seen.iter().all(|n| !n.starts_with(TEMP_PREFIX)));
        assert_eq!(
            std::fs::read(root.path().join("inside")).unwrap(),
            b"inside"
        );
        s.commit(w).unwrap();
        assert_eq!(
            std::fs::read(root.path().join("inside")).unwrap(),
            b"updated"
        );
    }

    #[test]
    fn read_only_store_refuses_writes() {
        let (_o, root, _) = setup();
        let mut s = FsStore::open(root.path(), false).unwrap();
        assert_eq!(
            s.open_write("x", WriteMode::CreateNew).err(),
            Some(StoreError::PermissionDenied)
        );
        assert_eq!(s.remove_file("inside"), Err(StoreError::PermissionDenied));
        assert!(s.metadata("inside").unwrap().readonly);
    }

    #[test]
    fn non_regular_files_are_not_served() {
        let (_o, _r, mut s) = setup();
        assert_eq!(s.open_read("sub").err(), Some(StoreError::IsADirectory));
        assert_eq!(s.open_read("").err(), Some(StoreError::IsADirectory));
        assert_eq!(s.open_read("missing").err(), Some(StoreError::NotFound));
    }

    #[test]
    fn resume_and_append_in_place() {
        let (_o, root, mut s) = setup();
        let mut w = s.open_write("inside", WriteMode::At(2)).unwrap();
        s.write(&mut w, b"XY").unwrap();
        s.commit(w).unwrap();
        assert_eq!(std::fs::read(root.path().join("inside")).unwrap(), b"inXY");
        let mut w = s.open_write("inside", WriteMode::Append).unwrap();
        s.write(&mut w, b"Z").unwrap();
        s.commit(w).unwrap();
        assert_eq!(std::fs::read(root.path().join("inside")).unwrap(), b"inXYZ");
    }
}
