//! An in-memory [`Storage`] for tests, the simulator and examples.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::ControlFlow;

use super::{EntryKind, Metadata, Storage, StoreError, WriteMode};
use crate::path;

#[derive(Clone, Debug)]
enum Entry {
    File { data: Arc<Vec<u8>>, modified: u64 },
    Dir { modified: u64 },
}

impl Entry {
    fn metadata(&self, readonly: bool) -> Metadata {
        match self {
            Entry::File { data, modified } => Metadata {
                kind: EntryKind::File,
                len: data.len() as u64,
                modified: Some(*modified),
                readonly,
            },
            Entry::Dir { modified } => Metadata {
                kind: EntryKind::Directory,
                len: 0,
                modified: Some(*modified),
                readonly,
            },
        }
    }
}

/// A file store held in memory.
///
/// Supports everything the protocols need: write-aside uploads that appear
/// only on commit, in-place append and resume, directories, renames, an
/// optional capacity (to simulate a full disk), a read-only switch and a
/// settable clock for modification times.
///
/// ```
/// use netboot_core::storage::{MemStore, Storage, WriteMode, StoreError};
///
/// let mut store = MemStore::new();
/// store.insert("boot/stage1.bin", b"hello".to_vec());
///
/// let (mut reader, meta) = store.open_read("boot/stage1.bin").unwrap();
/// assert_eq!(meta.len, 5);
/// let mut buf = [0u8; 8];
/// assert_eq!(store.read_at(&mut reader, 1, &mut buf).unwrap(), 4);
/// assert_eq!(&buf[..4], b"ello");
///
/// // An upload is invisible until it is committed.
/// let mut w = store.open_write("boot/new.bin", WriteMode::CreateNew).unwrap();
/// store.write(&mut w, b"data").unwrap();
/// assert_eq!(store.metadata("boot/new.bin"), Err(StoreError::NotFound));
/// store.commit(w).unwrap();
/// assert_eq!(store.get("boot/new.bin").unwrap(), b"data");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    entries: BTreeMap<String, Entry>,
    capacity: Option<u64>,
    readonly: bool,
    now: u64,
}

/// A file open for reading in a [`MemStore`]: a snapshot of its content.
#[derive(Clone, Debug)]
pub struct MemReader {
    data: Arc<Vec<u8>>,
}

/// A file open for writing in a [`MemStore`].
#[derive(Debug)]
pub struct MemWriter {
    path: String,
    mode: WriteMode,
    /// Content written aside (atomic modes only).
    aside: Vec<u8>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore::default()
    }

    /// Refuses every modification with `PermissionDenied` when `readonly`.
    pub fn set_readonly(&mut self, readonly: bool) {
        self.readonly = readonly;
    }

    /// Limits the total size of all files (pending uploads included) to
    /// `bytes`; writes past it fail with [`StoreError::Full`].
    pub fn set_capacity(&mut self, bytes: Option<u64>) {
        self.capacity = bytes;
    }

    /// Sets the time (Unix seconds) stamped on entries modified from now on.
    pub fn set_time(&mut self, unix_secs: u64) {
        self.now = unix_secs;
    }

    /// Creates or replaces a file (creating its parent directories) outside
    /// any upload: for setting up fixtures.
    pub fn insert(&mut self, path: &str, data: Vec<u8>) {
        let mut dir = path::parent(path);
        while !dir.is_empty() {
            self.entries
                .entry(dir.to_string())
                .or_insert(Entry::Dir { modified: self.now });
            dir = path::parent(dir);
        }
        self.entries.insert(
            path.to_string(),
            Entry::File {
                data: Arc::new(data),
                modified: self.now,
            },
        );
    }

    /// The content of a file, if there is one at `path`.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        match self.entries.get(path) {
            Some(Entry::File { data, .. }) => Some(data.as_slice()),
            _ => None,
        }
    }

    /// Every file path in the store, in sorted order.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|(k, e)| match e {
            Entry::File { .. } => Some(k.as_str()),
            Entry::Dir { .. } => None,
        })
    }

    /// Total bytes held by committed files.
    pub fn used(&self) -> u64 {
        self.entries
            .values()
            .map(|e| match e {
                Entry::File { data, .. } => data.len() as u64,
                Entry::Dir { .. } => 0,
            })
            .sum()
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.readonly {
            Err(StoreError::PermissionDenied)
        } else {
            Ok(())
        }
    }

    fn check_parent(&self, path: &str) -> Result<(), StoreError> {
        let parent = path::parent(path);
        if parent.is_empty() {
            return Ok(());
        }
        match self.entries.get(parent) {
            Some(Entry::Dir { .. }) => Ok(()),
            Some(Entry::File { .. }) => Err(StoreError::NotADirectory),
            None => Err(StoreError::NotFound),
        }
    }

    fn reserve(&self, extra: u64) -> Result<(), StoreError> {
        match self.capacity {
            Some(cap) if self.used().saturating_add(extra) > cap => Err(StoreError::Full),
            _ => Ok(()),
        }
    }

    fn file_mut(&mut self, path: &str) -> Result<&mut Vec<u8>, StoreError> {
        let now = self.now;
        match self.entries.get_mut(path) {
            Some(Entry::File { data, modified }) => {
                *modified = now;
                Ok(Arc::make_mut(data))
            }
            Some(Entry::Dir { .. }) => Err(StoreError::IsADirectory),
            None => Err(StoreError::NotFound),
        }
    }
}

impl Storage for MemStore {
    type Reader = MemReader;
    type Writer = MemWriter;

    fn metadata(&mut self, path: &str) -> Result<Metadata, StoreError> {
        if path.is_empty() {
            return Ok(Metadata {
                readonly: self.readonly,
                ..Metadata::directory()
            });
        }
        self.entries
            .get(path)
            .map(|e| e.metadata(self.readonly))
            .ok_or(StoreError::NotFound)
    }

    fn open_read(&mut self, path: &str) -> Result<(MemReader, Metadata), StoreError> {
        match self.entries.get(path) {
            Some(e @ Entry::File { data, .. }) => {
                Ok((MemReader { data: data.clone() }, e.metadata(self.readonly)))
            }
            Some(Entry::Dir { .. }) => Err(StoreError::IsADirectory),
            None if path.is_empty() => Err(StoreError::IsADirectory),
            None => Err(StoreError::NotFound),
        }
    }

    fn read_at(
        &mut self,
        file: &mut MemReader,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        let data = file.data.as_slice();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn open_write(&mut self, path: &str, mode: WriteMode) -> Result<MemWriter, StoreError> {
        self.check_writable()?;
        if path.is_empty() {
            return Err(StoreError::IsADirectory);
        }
        self.check_parent(path)?;
        match (self.entries.get(path), mode) {
            (Some(Entry::Dir { .. }), _) => return Err(StoreError::IsADirectory),
            (Some(Entry::File { .. }), WriteMode::CreateNew) => {
                return Err(StoreError::AlreadyExists);
            }
            (existing, WriteMode::Append | WriteMode::At(_)) => {
                let len = match existing {
                    Some(Entry::File { data, .. }) => data.len() as u64,
                    _ => 0,
                };
                if let WriteMode::At(offset) = mode
                    && offset > len
                {
                    return Err(StoreError::PermissionDenied);
                }
                if existing.is_none() {
                    self.insert(path, Vec::new());
                }
                if let WriteMode::At(offset) = mode {
                    self.file_mut(path)?.truncate(offset as usize);
                }
            }
            _ => {}
        }
        Ok(MemWriter {
            path: path.to_string(),
            mode,
            aside: Vec::new(),
        })
    }

    fn write(&mut self, file: &mut MemWriter, data: &[u8]) -> Result<(), StoreError> {
        self.reserve(file.aside.len() as u64 + data.len() as u64)?;
        if file.mode.is_atomic() {
            file.aside.extend_from_slice(data);
        } else {
            self.file_mut(&file.path)?.extend_from_slice(data);
        }
        Ok(())
    }

    fn commit(&mut self, file: MemWriter) -> Result<(), StoreError> {
        if !file.mode.is_atomic() {
            return Ok(());
        }
        if file.mode == WriteMode::CreateNew && self.entries.contains_key(&file.path) {
            return Err(StoreError::AlreadyExists);
        }
        self.check_parent(&file.path)?;
        self.entries.insert(
            file.path,
            Entry::File {
                data: Arc::new(file.aside),
                modified: self.now,
            },
        );
        Ok(())
    }

    fn discard(&mut self, file: MemWriter) {
        drop(file);
    }

    fn read_dir(
        &mut self,
        path: &str,
        visit: &mut dyn FnMut(&str, &Metadata) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        if !path.is_empty() {
            match self.entries.get(path) {
                Some(Entry::Dir { .. }) => {}
                Some(Entry::File { .. }) => return Err(StoreError::NotADirectory),
                None => return Err(StoreError::NotFound),
            }
        }
        let prefix_len = if path.is_empty() { 0 } else { path.len() + 1 };
        for (name, entry) in &self.entries {
            let Some(rest) = name.get(prefix_len..) else {
                continue;
            };
            let inside =
                path.is_empty() || (name.starts_with(path) && name.as_bytes()[path.len()] == b'/');
            if inside
                && !rest.is_empty()
                && !rest.contains('/')
                && visit(rest, &entry.metadata(self.readonly)).is_break()
            {
                break;
            }
        }
        Ok(())
    }

    fn create_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        if path.is_empty() || self.entries.contains_key(path) {
            return Err(StoreError::AlreadyExists);
        }
        self.check_parent(path)?;
        self.entries
            .insert(path.to_string(), Entry::Dir { modified: self.now });
        Ok(())
    }

    fn remove_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        match self.entries.get(path) {
            Some(Entry::Dir { .. }) => {}
            Some(Entry::File { .. }) => return Err(StoreError::NotADirectory),
            None if path.is_empty() => return Err(StoreError::PermissionDenied),
            None => return Err(StoreError::NotFound),
        }
        let mut has_child = false;
        self.read_dir(path, &mut |_, _| {
            has_child = true;
            ControlFlow::Break(())
        })?;
        if has_child {
            return Err(StoreError::NotEmpty);
        }
        self.entries.remove(path);
        Ok(())
    }

    fn remove_file(&mut self, path: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        match self.entries.get(path) {
            Some(Entry::File { .. }) => {
                self.entries.remove(path);
                Ok(())
            }
            Some(Entry::Dir { .. }) => Err(StoreError::IsADirectory),
            None => Err(StoreError::NotFound),
        }
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        if from.is_empty() || to.is_empty() {
            return Err(StoreError::PermissionDenied);
        }
        if to == from {
            return Ok(());
        }
        if to.starts_with(from) && to.as_bytes().get(from.len()) == Some(&b'/') {
            // A directory cannot move inside itself.
            return Err(StoreError::PermissionDenied);
        }
        let entry = self
            .entries
            .get(from)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        self.check_parent(to)?;
        match (&entry, self.entries.get(to)) {
            (_, Some(Entry::Dir { .. })) => return Err(StoreError::IsADirectory),
            (Entry::Dir { .. }, Some(Entry::File { .. })) => return Err(StoreError::NotADirectory),
            _ => {}
        }
        if matches!(entry, Entry::Dir { .. }) {
            let prefix = alloc::format!("{from}/");
            let moved: Vec<String> = self
                .entries
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone())
                .collect();
            for old in moved {
                if let Some(e) = self.entries.remove(&old) {
                    let new = alloc::format!("{to}/{}", &old[prefix.len()..]);
                    self.entries.insert(new, e);
                }
            }
        }
        self.entries.remove(from);
        self.entries.insert(to.to_string(), entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(store: &mut MemStore, dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        store
            .read_dir(dir, &mut |n, _| {
                out.push(n.to_string());
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    }

    #[test]
    fn discard_leaves_nothing() {
        let mut s = MemStore::new();
        let mut w = s.open_write("x", WriteMode::Replace).unwrap();
        s.write(&mut w, b"partial").unwrap();
        s.discard(w);
        assert_eq!(s.metadata("x"), Err(StoreError::NotFound));
        assert_eq!(s.files().count(), 0);
    }

    #[test]
    fn replace_keeps_old_content_until_commit() {
        let mut s = MemStore::new();
        s.insert("f", b"old".to_vec());
        let mut w = s.open_write("f", WriteMode::Replace).unwrap();
        s.write(&mut w, b"new").unwrap();
        assert_eq!(s.get("f").unwrap(), b"old");
        s.commit(w).unwrap();
        assert_eq!(s.get("f").unwrap(), b"new");
    }

    #[test]
    fn create_new_refuses_existing() {
        let mut s = MemStore::new();
        s.insert("f", b"old".to_vec());
        assert_eq!(
            s.open_write("f", WriteMode::CreateNew).err(),
            Some(StoreError::AlreadyExists)
        );
    }

    #[test]
    fn append_and_resume_in_place() {
        let mut s = MemStore::new();
        s.insert("f", b"abcdef".to_vec());
        let mut w = s.open_write("f", WriteMode::Append).unwrap();
        s.write(&mut w, b"gh").unwrap();
        assert_eq!(s.get("f").unwrap(), b"abcdefgh");
        let mut w = s.open_write("f", WriteMode::At(3)).unwrap();
        s.write(&mut w, b"XY").unwrap();
        s.commit(w).unwrap();
        assert_eq!(s.get("f").unwrap(), b"abcXY");
        assert!(s.open_write("f", WriteMode::At(99)).is_err());
    }

    #[test]
    fn capacity_reports_full() {
        let mut s = MemStore::new();
        s.set_capacity(Some(4));
        let mut w = s.open_write("f", WriteMode::CreateNew).unwrap();
        s.write(&mut w, b"abc").unwrap();
        assert_eq!(s.write(&mut w, b"de"), Err(StoreError::Full));
    }

    #[test]
    fn directories() {
        let mut s = MemStore::new();
        s.create_dir("d").unwrap();
        s.insert("d/a", vec![1]);
        s.insert("d/sub/b", vec![2]);
        s.insert("dx", vec![3]);
        assert_eq!(names(&mut s, "d"), ["a", "sub"]);
        assert_eq!(names(&mut s, ""), ["d", "dx"]);
        assert_eq!(s.remove_dir("d"), Err(StoreError::NotEmpty));
        assert_eq!(
            s.open_write("nodir/f", WriteMode::CreateNew).err(),
            Some(StoreError::NotFound)
        );
        s.rename("d", "e").unwrap();
        assert_eq!(s.get("e/sub/b").unwrap(), &[2]);
        assert_eq!(s.metadata("d/a"), Err(StoreError::NotFound));
        assert_eq!(
            s.rename("e", "e/sub/inner"),
            Err(StoreError::PermissionDenied)
        );
    }

    #[test]
    fn readonly_refuses_changes() {
        let mut s = MemStore::new();
        s.insert("f", vec![]);
        s.set_readonly(true);
        assert_eq!(s.remove_file("f"), Err(StoreError::PermissionDenied));
        assert_eq!(
            s.open_write("g", WriteMode::CreateNew).err(),
            Some(StoreError::PermissionDenied)
        );
        assert!(s.open_read("f").is_ok());
    }

    #[test]
    fn reader_keeps_snapshot_across_replace() {
        let mut s = MemStore::new();
        s.insert("f", b"one".to_vec());
        let (mut r, _) = s.open_read("f").unwrap();
        s.insert("f", b"two".to_vec());
        let mut buf = [0; 3];
        s.read_at(&mut r, 0, &mut buf).unwrap();
        assert_eq!(&buf, b"one");
    }
}
