//! One store used by several owners at once: a TFTP endpoint and every FTP
//! session of one server, in a single-threaded driver (the simulator, a
//! test, a firmware loop).

use alloc::rc::Rc;
use core::cell::{Ref, RefCell, RefMut};
use core::ops::ControlFlow;

use super::{Metadata, Storage, StoreError, WriteMode};

/// A handle on a store shared by its clones (single-threaded: `Rc` and
/// `RefCell`). Each call borrows the store for its own duration only.
///
/// ```
/// use netboot_core::storage::{MemStore, Shared, Storage, WriteMode};
///
/// let disk = Shared::new(MemStore::new());
/// let mut other = disk.clone();
/// let mut w = other.open_write("f", WriteMode::CreateNew).unwrap();
/// other.write(&mut w, b"seen by both").unwrap();
/// other.commit(w).unwrap();
/// assert_eq!(disk.borrow().get("f"), Some(&b"seen by both"[..]));
/// ```
#[derive(Debug, Default)]
pub struct Shared<S>(Rc<RefCell<S>>);

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<S> Shared<S> {
    /// Shares `store`.
    pub fn new(store: S) -> Self {
        Shared(Rc::new(RefCell::new(store)))
    }

    /// The store, for reading.
    pub fn borrow(&self) -> Ref<'_, S> {
        self.0.borrow()
    }

    /// The store, for changing.
    pub fn borrow_mut(&self) -> RefMut<'_, S> {
        self.0.borrow_mut()
    }
}

impl<S: Storage> Storage for Shared<S> {
    type Reader = S::Reader;
    type Writer = S::Writer;

    fn metadata(&mut self, path: &str) -> Result<Metadata, StoreError> {
        self.0.borrow_mut().metadata(path)
    }
    fn open_read(&mut self, path: &str) -> Result<(Self::Reader, Metadata), StoreError> {
        self.0.borrow_mut().open_read(path)
    }
    fn read_at(
        &mut self,
        file: &mut Self::Reader,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        self.0.borrow_mut().read_at(file, offset, buf)
    }
    fn open_write(&mut self, path: &str, mode: WriteMode) -> Result<Self::Writer, StoreError> {
        self.0.borrow_mut().open_write(path, mode)
    }
    fn write(&mut self, file: &mut Self::Writer, data: &[u8]) -> Result<(), StoreError> {
        self.0.borrow_mut().write(file, data)
    }
    fn commit(&mut self, file: Self::Writer) -> Result<(), StoreError> {
        self.0.borrow_mut().commit(file)
    }
    fn discard(&mut self, file: Self::Writer) {
        self.0.borrow_mut().discard(file)
    }
    fn read_dir(
        &mut self,
        path: &str,
        visit: &mut dyn FnMut(&str, &Metadata) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.0.borrow_mut().read_dir(path, visit)
    }
    fn create_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.0.borrow_mut().create_dir(path)
    }
    fn remove_dir(&mut self, path: &str) -> Result<(), StoreError> {
        self.0.borrow_mut().remove_dir(path)
    }
    fn remove_file(&mut self, path: &str) -> Result<(), StoreError> {
        self.0.borrow_mut().remove_file(path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.0.borrow_mut().rename(from, to)
    }
}
