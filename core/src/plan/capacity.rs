//! Where the plan keeps its per-client tables: a fixed-size array chosen
//! at compile time ([`Fixed`], no allocator needed), or, with the `alloc`
//! feature, a vector whose bound is chosen at run time ([`Heap`]), for
//! servers that track tens of thousands of clients without building the
//! table on the stack.

/// A table of at most a fixed number of entries.
pub trait Table<T> {
    /// An empty table holding at most `capacity` entries (a fixed table
    /// has its own capacity and ignores this).
    fn with_capacity(capacity: usize) -> Self;
    /// The entries.
    fn as_slice(&self) -> &[T];
    /// The entries, mutably.
    fn as_mut_slice(&mut self) -> &mut [T];
    /// True when no entry can be added.
    fn is_full(&self) -> bool;
    /// Adds an entry; gives it back when the table is full.
    fn push(&mut self, item: T) -> Result<(), T>;
    /// Removes entry `index`, moving the last entry into its place.
    fn swap_remove(&mut self, index: usize) -> T;
}

/// A kind of table storage.
pub trait Capacity {
    /// The table of `T`s of this kind.
    type Table<T>: Table<T>;
}

/// Tables of `N` entries, in place (`heapless::Vec`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Fixed<const N: usize>;

impl<const N: usize> Capacity for Fixed<N> {
    type Table<T> = heapless::Vec<T, N>;
}

impl<T, const N: usize> Table<T> for heapless::Vec<T, N> {
    fn with_capacity(_capacity: usize) -> Self {
        heapless::Vec::new()
    }
    fn as_slice(&self) -> &[T] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }
    fn is_full(&self) -> bool {
        heapless::Vec::is_full(self)
    }
    fn push(&mut self, item: T) -> Result<(), T> {
        heapless::Vec::push(self, item)
    }
    fn swap_remove(&mut self, index: usize) -> T {
        heapless::Vec::swap_remove(self, index)
    }
}

/// Tables on the heap, bounded at run time.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Heap;

#[cfg(feature = "alloc")]
impl Capacity for Heap {
    type Table<T> = Bounded<T>;
}

/// A vector that never grows past its bound.
///
/// ```
/// use netboot_core::plan::capacity::{Bounded, Table};
///
/// let mut t: Bounded<u8> = Table::with_capacity(2);
/// assert!(t.push(1).is_ok() && t.push(2).is_ok());
/// assert_eq!(t.push(3), Err(3));
/// assert_eq!(t.swap_remove(0), 1);
/// assert_eq!(t.as_slice(), [2]);
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Debug)]
pub struct Bounded<T> {
    items: alloc::vec::Vec<T>,
    capacity: usize,
}

#[cfg(feature = "alloc")]
impl<T> Table<T> for Bounded<T> {
    fn with_capacity(capacity: usize) -> Self {
        Bounded {
            items: alloc::vec::Vec::new(),
            capacity: capacity.max(1),
        }
    }
    fn as_slice(&self) -> &[T] {
        &self.items
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items
    }
    fn is_full(&self) -> bool {
        self.items.len() >= self.capacity
    }
    fn push(&mut self, item: T) -> Result<(), T> {
        if self.is_full() {
            return Err(item);
        }
        self.items.push(item);
        Ok(())
    }
    fn swap_remove(&mut self, index: usize) -> T {
        self.items.swap_remove(index)
    }
}
