//! A deterministic network simulator for netboot's protocol machines.
//!
//! `netboot-sim` runs the sans-IO machines of `netboot-core` on simulated
//! hosts joined by one simulated Ethernet segment, on a virtual clock that
//! jumps straight to the next thing that happens. It is the adapter the
//! property tests, the fleet scenario and failure hunting use: thousands of
//! clients under loss, duplication, reordering, partitions, crashes and
//! disk failures run in seconds, and any run can be replayed exactly from
//! its seed.
//!
//! * [`world`]: the world: hosts, the event queue and virtual clock, UDP
//!   datagrams (unicast and broadcast), reliable byte streams with latency,
//!   arbitrary segmentation and resets, invariants checked after every
//!   event, the trace hash.
//! * [`faults`]: per-packet and per-link fault rules and scheduled faults.
//! * [`store`]: a host's disk, an in-memory store with injected failures.
//! * [`apps`]: the programs hosts run: the netboot server that ships
//!   ([`SimServer`](apps::server::SimServer): the core's `NetbootServer`
//!   through the core's `drive` loop, over simulated sockets and the
//!   host's disk, in any mix of BOOTP/DHCP, TFTP and FTP), and a BOOTP,
//!   TFTP and FTP client and the provisioning client flow, all moving
//!   bytes between simulated sockets and core machines.
//! * [`seed`]: `SIM_SEED` / `SIM_SEEDS`, and the replay command printed on
//!   failure.
//! * [`trace`]: the trace hash.
//!
//! # Determinism
//!
//! One `u64` seed drives everything: the network's fault decisions, each
//! host's generator (forked in the order hosts are added, re-forked at each
//! boot), each disk's failures. Events at the same instant run in the order
//! they were scheduled. Nothing reads a real clock, iterates a hash map in
//! an order that matters, or depends on addresses in memory. So the same
//! seed and scenario give the same run, which the trace hash proves.
//!
//! # What is deliberately not simulated
//!
//! Byte streams are reliable and ordered (a lost segment only costs a
//! retransmission delay; a broken path holds data back, then resets the
//! connection), without TCP's handshake details or congestion control; the
//! window is fixed. Clocks only jump forward, as the monotonic clocks the
//! real adapters read do. Hosts share one /24 segment; there is no routing.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod apps;
pub mod faults;
pub mod seed;
pub mod store;
pub mod trace;
pub mod world;

pub use faults::{Fault, LinkFaults, Loss, Verdict};
pub use store::{Disk, SimStore, StoreFaults};
pub use world::{App, Cx, HostId, Observed, Outcome, Sim, StreamEvent, StreamId};
