//! How much memory the adapter's own state takes, as bounds checked at
//! compile time on every target this crate is built for (the CI builds it
//! for `thumbv7em-none-eabihf`). `docs/embedding.md` lists the measured
//! sizes and the buffers a board adds.
//!
//! ```
//! use netboot_smoltcp::{memory, Bootp, SliceStore, TftpGet};
//!
//! assert!(core::mem::size_of::<Bootp>() <= memory::BOOTP);
//! assert!(core::mem::size_of::<TftpGet<SliceStore<'static>>>() <= memory::TFTP_GET);
//! ```

use core::mem::size_of;

use crate::{Bootp, SliceStore, TftpGet};

/// Upper bound of `size_of::<Bootp>()`: the core BOOTP client (with the
/// reply it keeps, at most 1472 bytes) and the outcome.
pub const BOOTP: usize = 2304;

/// Upper bound of `size_of::<TftpGet<SliceStore>>()`: the core transfer
/// machine and the open file.
pub const TFTP_GET: usize = 3072;

/// Upper bound of `size_of::<SliceStore>()` (the file name is kept inline).
pub const SLICE_STORE: usize = 576;

/// Stack bytes [`Bootp::poll`](crate::Bootp::poll) uses for the request it
/// builds.
pub const BOOTP_POLL_STACK: usize = crate::bootp::MAX_REQUEST;

const _: () = assert!(size_of::<Bootp>() <= BOOTP);
const _: () = assert!(size_of::<TftpGet<SliceStore<'static>>>() <= TFTP_GET);
const _: () = assert!(size_of::<SliceStore<'static>>() <= SLICE_STORE);
