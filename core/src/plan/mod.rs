//! The provisioning plan: which boot stage each client gets next, how the
//! server moves it along, and the manifest that ends the boot phase.
//!
//! A server's configuration maps each client to a profile: an ordered list
//! of boot stages, each a file in the served root, chosen by the client's
//! hardware address, by match rules on what its request says about it
//! ([`rules`]: architecture, vendor and user class, iPXE, subnet), or a
//! default. Then:
//!
//! * a BOOTP/DHCP request gets the client's *current* stage; a
//!   retransmitted request gets the same answer ([`Plan::boot_for`]);
//! * the stage advances when the server's TFTP side sees that client finish
//!   downloading exactly that file ([`Plan::transfer_complete`]);
//! * after the last stage the server stays silent to that client, which is
//!   how the client learns that the boot phase is over; the silence lasts
//!   until the plan is reset ([`Reset`]: after a time-out, or never);
//! * the last stage is a manifest ([`manifest`]) naming the files the client
//!   then fetches over FTP;
//! * a profile may start with iPXE ([`Decision::Chain`]): a boot ROM that is
//!   not iPXE gets the iPXE build without advancing, and iPXE, which
//!   announces itself, gets the stages; so chainloading never loops.
//!
//! The pieces:
//!
//! * [`stages`]: [`Plan`], the per-client progress table, over any
//!   [`Profiles`] (a borrowed [`StaticProfiles`] in firmware and tests, an
//!   owned [`ProfileTable`] with the `alloc` feature);
//! * [`policy`]: [`PlanPolicy`], what a server runs: a BOOTP
//!   [`BootPolicy`](crate::bootp::policy::BootPolicy) handing out stages,
//!   and the hook the TFTP side calls when a download completes;
//! * [`progressfile`]: the text format progress is saved in across
//!   restarts;
//! * [`manifest`]: the manifest parser.
//!
//! The client side of the same flow is [`crate::provision`].
//!
//! Nothing here allocates except [`ProfileTable`] and the whole-file
//! [`progressfile::render`] and [`progressfile::parse`] (`alloc` feature).

pub mod capacity;
pub mod manifest;
pub mod policy;
pub mod progressfile;
pub mod rules;
pub mod stages;
#[cfg(feature = "alloc")]
pub mod table;

#[cfg(feature = "alloc")]
pub use capacity::Heap;
pub use capacity::{Capacity, Fixed};
pub use manifest::{
    FTP_SERVER_KEY, FtpServer, Hex, Item, MAX_KEY_LEN, ManifestEntry, ManifestError,
    ManifestErrorKind, ManifestLines, Position, Summary, check_manifest, parse_manifest,
    parse_manifest_bytes,
};
pub use policy::{PlanEvent, PlanPolicy};
pub use rules::{Arch, Client, Match};
pub use stages::{
    Advance, Decision, HwAddr, MAX_HWADDR, Plan, ProfileId, Profiles, Reset, StaticProfiles,
};
#[cfg(feature = "alloc")]
pub use table::{Profile, ProfileTable, StageError};
