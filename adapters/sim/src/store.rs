//! A simulated host's disk: the in-memory [`MemStore`], wrapped so that
//! reads, writes and commits can fail on purpose and the disk can fill up,
//! and shared ([`Disk`]) by everything on the host that uses it: the
//! host's programs (the server keeps a handle for its TFTP and FTP
//! endpoints and its saves), the world, and the tests.
//!
//! Failures are drawn from the store's own generator, seeded from the run's
//! seed, so they replay exactly. A host keeps its store across a crash and
//! restart; uploads that were written aside and not committed vanish with
//! the crashed program (their writer is dropped), exactly as a write-aside
//! temporary file is cleaned up after a power cut.

use std::ops::ControlFlow;

use netboot_core::rng::Rng;
use netboot_core::storage::{
    MemReader, MemStore, MemWriter, Metadata, Shared, Storage, StoreError, WriteMode,
};

use crate::faults::chance;

/// A host's disk as its programs hold it: a [`SimStore`] shared by every
/// clone of the handle (each [`Storage`] call borrows it for its own
/// duration only), so the server's endpoints, the world and a test all see
/// one disk, with one generator for its failures.
///
/// ```
/// use netboot_core::storage::{Shared, Storage, WriteMode};
/// use netboot_sim::store::{Disk, SimStore};
///
/// let disk: Disk = Shared::new(SimStore::new(1));
/// let mut server = disk.clone();
/// let mut w = server.open_write("leases", WriteMode::Replace).unwrap();
/// server.write(&mut w, b"# netboot leases v1\n").unwrap();
/// server.commit(w).unwrap();
/// assert!(disk.borrow().get("leases").is_some());
/// ```
pub type Disk = Shared<SimStore>;

/// How a [`SimStore`] misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StoreFaults {
    /// Chance that a `read_at` fails with an I/O error (ppm).
    pub read_error: u32,
    /// Chance that a `write` fails with an I/O error (ppm).
    pub write_error: u32,
    /// Chance that a `commit` fails with an I/O error (ppm).
    pub commit_error: u32,
    /// Chance that an `open_read` or `open_write` fails with an I/O error
    /// (ppm).
    pub open_error: u32,
    /// The disk holds this many bytes in all (a full disk answers
    /// [`StoreError::Full`]); `None` for no limit.
    pub capacity: Option<u64>,
}

/// Counts of what a [`SimStore`] did and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Successful reads.
    pub reads: u64,
    /// Successful writes.
    pub writes: u64,
    /// Successful commits.
    pub commits: u64,
    /// Operations failed on purpose.
    pub injected: u64,
}

/// A [`MemStore`] with injected failures.
///
/// ```
/// use netboot_core::storage::{Storage, StoreError, WriteMode};
/// use netboot_sim::store::{SimStore, StoreFaults};
///
/// let mut store = SimStore::new(1);
/// store.set_faults(StoreFaults { capacity: Some(4), ..StoreFaults::default() });
/// let mut w = store.open_write("f", WriteMode::CreateNew).unwrap();
/// assert_eq!(store.write(&mut w, b"too long"), Err(StoreError::Full));
/// ```
#[derive(Debug)]
pub struct SimStore {
    mem: MemStore,
    faults: StoreFaults,
    rng: Rng,
    stats: StoreStats,
}

impl SimStore {
    /// An empty store whose failures are drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        SimStore {
            mem: MemStore::new(),
            faults: StoreFaults::default(),
            rng: Rng::new(seed),
            stats: StoreStats::default(),
        }
    }

    /// The files, without the fault layer (for setting up and checking).
    pub fn mem(&self) -> &MemStore {
        &self.mem
    }

    /// The files, mutably, without the fault layer.
    pub fn mem_mut(&mut self) -> &mut MemStore {
        &mut self.mem
    }

    /// Creates or replaces a file outside any upload.
    pub fn insert(&mut self, path: &str, data: Vec<u8>) {
        self.mem.insert(path, data);
    }

    /// The content of a file.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.mem.get(path)
    }

    /// Writes a whole file aside and publishes it (a program's lease or
    /// progress file): the old content stays until the new one is
    /// committed, and a failed write leaves it untouched.
    ///
    /// ```
    /// use netboot_sim::store::SimStore;
    ///
    /// let mut store = SimStore::new(1);
    /// store.write_file("leases", b"# netboot leases v1\n").unwrap();
    /// assert_eq!(store.get("leases"), Some(&b"# netboot leases v1\n"[..]));
    /// ```
    pub fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut w = self.open_write(path, WriteMode::Replace)?;
        match self.write(&mut w, bytes) {
            Ok(()) => self.commit(w),
            Err(e) => {
                self.discard(w);
                Err(e)
            }
        }
    }

    /// How the store misbehaves from now on.
    pub fn set_faults(&mut self, faults: StoreFaults) {
        self.faults = faults;
        self.mem.set_capacity(faults.capacity);
    }

    /// How the store misbehaves.
    pub fn faults(&self) -> StoreFaults {
        self.faults
    }

    /// What it did.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    fn fail(&mut self, ppm: u32) -> Result<(), StoreError> {
        if chance(&mut self.rng, ppm) {
            self.stats.injected += 1;
            Err(StoreError::Io)
        } else {
            Ok(())
        }
    }
}

impl Storage for SimStore {
    type Reader = MemReader;
    type Writer = MemWriter;

    fn metadata(&mut self, path: &str) -> Result<Metadata, StoreError> {
        self.mem.metadata(path)
    }

    fn open_read(&mut self, path: &str) -> Result<(MemReader, Metadata), StoreError> {
        self.fail(self.faults.open_error)?;
        self.mem.open_read(path)
    }

    fn read_at(
        &mut self,
        file: &mut MemReader,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        self.fail(self.faults.read_error)?;
        let n = self.mem.read_at(file, offset, buf)?;
        self.stats.reads += 1;
        Ok(n)
    }

    fn open_write(&mut self, path: &str, mode: WriteMode) -> Result<MemWriter, StoreError> {
        self.fail(self.faults.open_error)?;
        self.mem.open_write(path, mode)
    }

    fn write(&mut self, file: &mut MemWriter, data: &[u8]) -> Result<(), StoreError> {
        self.fail(self.faults.write_error)?;
        self.mem.write(file, data)?;
        self.stats.writes += 1;
        Ok(())
    }

    fn commit(&mut self, file: MemWriter) -> Result<(), StoreError> {
        if chance(&mut self.rng, self.faults.commit_error) {
            self.stats.injected += 1;
            self.mem.discard(file);
            return Err(StoreError::Io);
        }
        self.mem.commit(file)?;
        self.stats.commits += 1;
        Ok(())
    }

    fn discard(&mut self, file: MemWriter) {
        self.mem.discard(file);
    }

    fn read_dir(
        &mut self,
        path: &str,
        visit: &mut dyn FnMut(&str, &Metadata) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.mem.read_dir(path, visit)
    }

    fn create_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.mem.create_dir(path)
    }

    fn remove_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.mem.remove_dir(path)
    }

    fn remove_file(&mut self, path: &str) -> Result<(), StoreError> {
        self.mem.remove_file(path)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.mem.rename(from, to)
    }
}
