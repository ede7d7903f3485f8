//! Transitional: the pieces of the mio adapter's former servers that the
//! async-std adapter (`netboot-async-std`) still builds its own servers
//! from. The mio servers no longer use any of this: they drive the core's
//! composition ([`crate::server::Server`]).
//!
//! The async-std adapter is being moved onto the same composition
//! (`netboot_std::setup::ServerSetup` and `netboot_core::server::drive`);
//! once it is, this module goes.

pub mod bootp;
pub mod ftp;
pub mod netboot;
pub mod plan;
pub mod tftp;
