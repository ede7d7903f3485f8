//! The one storage interface every adapter implements.
//!
//! Protocol machines never touch files. They ask for data through events and
//! take the answers through method calls; the driver answers those events by
//! calling a [`Storage`]. The file-system store of the std adapters, the
//! in-memory [`MemStore`] used by the simulator and the tests, and a flash
//! store in firmware all implement this one trait, and
//! [`tftp::file`](crate::tftp::file) and
//! [`ftp::server::pump`](crate::ftp::server::pump) drive any of them.
//!
//! Paths handed to a store are always normalised relative paths produced by
//! [`crate::path::resolve`]: no `..`, no leading `/`, no control characters.
//! A store that maps them onto a real file system must still refuse symbolic
//! links that lead outside its root.
//!
//! # Uploads are all or nothing
//!
//! [`WriteMode::CreateNew`] and [`WriteMode::Replace`] write aside: the new
//! content becomes visible under its name only when [`Storage::commit`]
//! succeeds, and [`Storage::discard`] (or dropping the writer without a
//! commit, for stores that can detect it) leaves the namespace exactly as it
//! was. [`WriteMode::Append`] and [`WriteMode::At`] modify a file in place, by
//! design: that is what FTP's `APPE` and `REST`+`STOR` mean.

use core::ops::ControlFlow;

/// What kind of entry a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// Anything else (device, socket, dangling link...). Never served.
    Other,
}

/// What a store knows about one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// File, directory or other.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories where the store does not know better).
    pub len: u64,
    /// Last modification, in seconds since the Unix epoch, if known.
    pub modified: Option<u64>,
    /// True when the peer may not modify or delete the entry.
    pub readonly: bool,
}

impl Metadata {
    /// Metadata of a writable regular file of `len` bytes with no known time.
    pub const fn file(len: u64) -> Self {
        Metadata {
            kind: EntryKind::File,
            len,
            modified: None,
            readonly: false,
        }
    }

    /// Metadata of a writable directory with no known time.
    pub const fn directory() -> Self {
        Metadata {
            kind: EntryKind::Directory,
            len: 0,
            modified: None,
            readonly: false,
        }
    }

    /// True for regular files.
    pub const fn is_file(&self) -> bool {
        matches!(self.kind, EntryKind::File)
    }

    /// True for directories.
    pub const fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Directory)
    }
}

/// How [`Storage::open_write`] treats the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// The file must not exist yet ([`StoreError::AlreadyExists`] otherwise).
    /// Written aside; appears on commit.
    CreateNew,
    /// Create the file or replace an existing one. Written aside; the old
    /// content stays visible until commit.
    Replace,
    /// Append to the file in place, creating it if needed.
    Append,
    /// Overwrite in place starting at this offset, truncating the file there
    /// first (FTP `REST n` followed by `STOR`). The offset may not exceed the
    /// current length.
    At(u64),
}

impl WriteMode {
    /// True for the modes that write aside and publish on commit.
    pub const fn is_atomic(self) -> bool {
        matches!(self, WriteMode::CreateNew | WriteMode::Replace)
    }
}

/// Why a storage operation failed.
///
/// Each protocol maps these onto its own codes: TFTP error 1 for `NotFound`,
/// 2 for `PermissionDenied`, 3 for `Full`, 6 for `AlreadyExists`; FTP 550,
/// 552 and 553.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum StoreError {
    /// No such file or directory.
    #[error("file not found")]
    NotFound,
    /// The store refuses the operation (read-only, outside the jail, not a
    /// regular file).
    #[error("permission denied")]
    PermissionDenied,
    /// The target exists and the operation does not replace it.
    #[error("file already exists")]
    AlreadyExists,
    /// No space left, or a configured size limit reached.
    #[error("disk full or allocation exceeded")]
    Full,
    /// A directory was found where a file was needed.
    #[error("is a directory")]
    IsADirectory,
    /// A file was found where a directory was needed.
    #[error("not a directory")]
    NotADirectory,
    /// The directory to remove is not empty.
    #[error("directory not empty")]
    NotEmpty,
    /// The store does not offer this operation at all.
    #[error("operation not supported by this store")]
    Unsupported,
    /// Any other failure of the underlying medium.
    #[error("input/output error")]
    Io,
}

/// A file store: the one interface between protocol machines and files.
///
/// Readers and writers are handles owned by the driver; the store is
/// borrowed mutably only for the duration of each call, so one store can serve
/// many concurrent transfers. Directory operations have default
/// implementations returning [`StoreError::Unsupported`], so a store that
/// only needs to serve TFTP downloads (firmware, say) implements five methods.
pub trait Storage {
    /// An open file being read.
    type Reader;
    /// An open file being written.
    type Writer;

    /// What the entry at `path` is.
    fn metadata(&mut self, path: &str) -> Result<Metadata, StoreError>;

    /// Opens a regular file for reading and returns it with its metadata.
    fn open_read(&mut self, path: &str) -> Result<(Self::Reader, Metadata), StoreError>;

    /// Reads up to `buf.len()` bytes at `offset`; `Ok(0)` means end of file.
    /// A short read before the end of the file is allowed; callers loop.
    fn read_at(
        &mut self,
        file: &mut Self::Reader,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, StoreError>;

    /// Opens `path` for writing in the given mode.
    fn open_write(&mut self, path: &str, mode: WriteMode) -> Result<Self::Writer, StoreError>;

    /// Appends all of `data` to what this writer has written so far.
    fn write(&mut self, file: &mut Self::Writer, data: &[u8]) -> Result<(), StoreError>;

    /// Makes a finished upload durable and visible under its name.
    fn commit(&mut self, file: Self::Writer) -> Result<(), StoreError>;

    /// Abandons an upload. For write-aside modes nothing becomes visible.
    fn discard(&mut self, file: Self::Writer);

    /// Calls `visit` with the name and metadata of each entry of directory
    /// `path`, in an order the store chooses, until it returns `Break`.
    fn read_dir(
        &mut self,
        path: &str,
        visit: &mut dyn FnMut(&str, &Metadata) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let _ = (path, visit);
        Err(StoreError::Unsupported)
    }

    /// Creates directory `path` (its parent must exist).
    fn create_dir(&mut self, path: &str) -> Result<(), StoreError> {
        let _ = path;
        Err(StoreError::Unsupported)
    }

    /// Removes the empty directory `path`.
    fn remove_dir(&mut self, path: &str) -> Result<(), StoreError> {
        let _ = path;
        Err(StoreError::Unsupported)
    }

    /// Removes the regular file `path`.
    fn remove_file(&mut self, path: &str) -> Result<(), StoreError> {
        let _ = path;
        Err(StoreError::Unsupported)
    }

    /// Renames `from` to `to`, replacing a file at `to`.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        let _ = (from, to);
        Err(StoreError::Unsupported)
    }
}

#[cfg(feature = "alloc")]
mod mem;
#[cfg(feature = "alloc")]
pub use mem::{MemReader, MemStore, MemWriter};
#[cfg(feature = "alloc")]
mod shared;
#[cfg(feature = "alloc")]
pub use shared::Shared;
