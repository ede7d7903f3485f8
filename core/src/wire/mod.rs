//! Zero-copy parsing and emission of the wire formats.
//!
//! Each format follows smoltcp's split: a parsed representation that borrows
//! from the received bytes (no copy, no allocation) and an `emit` that writes
//! into a caller-supplied buffer. Parsing never panics on any input and never
//! reads past the slice it is given; emitting into a buffer that is too small
//! returns [`BufferTooSmall`] and leaves the buffer untouched.

pub mod bootp;
pub mod ftp;
pub mod tftp;

/// The caller's buffer cannot hold what was to be written into it.
///
/// ```
/// let e = netboot_core::wire::BufferTooSmall { required: 516 };
/// assert_eq!(e.to_string(), "buffer too small: 516 bytes required");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("buffer too small: {required} bytes required")]
pub struct BufferTooSmall {
    /// The number of bytes the output needs.
    pub required: usize,
}
