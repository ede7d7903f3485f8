//! A one-file [`Storage`] in a caller's memory region, for a boot loader
//! that downloads its image into RAM (or a flash staging area).
//!
//! The region holds the file being received. The file becomes visible
//! (readable, and reported by [`SliceStore::file`]) only when the download
//! commits; a failed or abandoned download leaves the store without a file,
//! never with a partial one. A file larger than the region fails the
//! download with [`StoreError::Full`] (the server gets TFTP error 3).

use netboot_core::path::MAX_PATH_LEN;
use netboot_core::storage::{EntryKind, Metadata, Storage, StoreError, WriteMode};

/// A store of at most one file, kept in `region`.
///
/// ```
/// use netboot_core::storage::{Storage, WriteMode};
/// use netboot_smoltcp::SliceStore;
///
/// let mut ram = [0u8; 16];
/// let mut store = SliceStore::new(&mut ram);
/// let mut w = store.open_write("kernel", WriteMode::Replace).unwrap();
/// store.write(&mut w, b"vmlinuz").unwrap();
/// assert!(store.file().is_none(), "nothing visible before the commit");
/// store.commit(w).unwrap();
/// assert_eq!(store.file(), Some(("kernel", &b"vmlinuz"[..])));
/// // Too large for the region: refused, and the old file is gone with it.
/// let mut w = store.open_write("big", WriteMode::Replace).unwrap();
/// assert!(store.write(&mut w, &[0; 17]).is_err());
/// store.discard(w);
/// assert!(store.file().is_none());
/// ```
#[derive(Debug)]
pub struct SliceStore<'a> {
    region: &'a mut [u8],
    name: heapless::String<MAX_PATH_LEN>,
    len: Option<usize>,
}

/// An open upload into a [`SliceStore`].
#[derive(Debug)]
pub struct SliceWriter {
    written: usize,
}

/// An open read of a [`SliceStore`]'s file.
#[derive(Debug)]
pub struct SliceReader {
    len: usize,
}

impl<'a> SliceStore<'a> {
    /// An empty store over `region`.
    pub fn new(region: &'a mut [u8]) -> Self {
        SliceStore {
            region,
            name: heapless::String::new(),
            len: None,
        }
    }

    /// The committed file's name and bytes.
    pub fn file(&self) -> Option<(&str, &[u8])> {
        self.len.map(|n| (self.name.as_str(), &self.region[..n]))
    }

    /// The region's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.region.len()
    }
}

impl Storage for SliceStore<'_> {
    type Reader = SliceReader;
    type Writer = SliceWriter;

    fn metadata(&mut self, path: &str) -> Result<Metadata, StoreError> {
        match self.len {
            Some(n) if path == self.name.as_str() => Ok(Metadata::file(n as u64)),
            _ if path.is_empty() => Ok(Metadata {
                kind: EntryKind::Directory,
                ..Metadata::directory()
            }),
            _ => Err(StoreError::NotFound),
        }
    }

    fn open_read(&mut self, path: &str) -> Result<(SliceReader, Metadata), StoreError> {
        let meta = self.metadata(path)?;
        if !meta.is_file() {
            return Err(StoreError::IsADirectory);
        }
        Ok((
            SliceReader {
                len: meta.len as usize,
            },
            meta,
        ))
    }

    fn read_at(
        &mut self,
        file: &mut SliceReader,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(file.len);
        let n = buf.len().min(file.len - start);
        buf[..n].copy_from_slice(&self.region[start..start + n]);
        Ok(n)
    }

    fn open_write(&mut self, path: &str, mode: WriteMode) -> Result<SliceWriter, StoreError> {
        if !matches!(mode, WriteMode::Replace | WriteMode::CreateNew) {
            return Err(StoreError::Unsupported);
        }
        if mode == WriteMode::CreateNew && self.len.is_some() && path == self.name.as_str() {
            return Err(StoreError::AlreadyExists);
        }
        // One region: the old file goes as the new one starts arriving.
        self.len = None;
        self.name.clear();
        self.name
            .push_str(path)
            .map_err(|_| StoreError::PermissionDenied)?;
        Ok(SliceWriter { written: 0 })
    }

    fn write(&mut self, file: &mut SliceWriter, data: &[u8]) -> Result<(), StoreError> {
        let end = file
            .written
            .checked_add(data.len())
            .filter(|&e| e <= self.region.len())
            .ok_or(StoreError::Full)?;
        self.region[file.written..end].copy_from_slice(data);
        file.written = end;
        Ok(())
    }

    fn commit(&mut self, file: SliceWriter) -> Result<(), StoreError> {
        self.len = Some(file.written);
        Ok(())
    }

    fn discard(&mut self, _file: SliceWriter) {
        self.len = None;
    }
}
