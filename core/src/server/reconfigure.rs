//! Reloading a running server's configuration without a restart.
//!
//! [`NetbootServer::reconfigure`] hands each part its new settings: the
//! BOOTP/DHCP server its subnets, pool, options and host table, the plan
//! its profiles, the TFTP endpoint its policy and limits, the FTP endpoint
//! its policy and accounts. What is under way carries on: leases that
//! still fit the new pools, each client's plan progress (by hardware
//! address), running TFTP transfers and open FTP sessions.
//!
//! What a running server cannot change in place is kept as it is and
//! named in [`Reconfigured::needs_restart`]: listening addresses and the
//! BOOTP interface and which subnets are on which interfaces (sockets are
//! not moved), switching BOOTP between DHCP
//! and proxyDHCP (the PXE socket), starting or stopping a protocol, and
//! the number of clients the plan tracks (`plan_clients` is not
//! compared: the table keeps its size).

use alloc::vec;
use alloc::vec::Vec;

use super::{Event, NetbootConfig, NetbootServer, pool_size};
use crate::bootp::leases::LeaseSlot;
use crate::bootp::server::ConfigError;
use crate::ftp::server::Accounts;
use crate::storage::Storage;
use crate::time::Instant;

/// What [`NetbootServer::reconfigure`] could not apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// The settings that changed but stay as they were until a restart,
    /// each named as in the configuration (`"bootp listen"`, `"tftp"`...).
    pub needs_restart: Vec<&'static str>,
    /// Leases dropped because their address left the pools or is now
    /// reserved (each also reported as [`Event::LeaseDropped`]).
    pub dropped_leases: usize,
}

impl<S: Storage, A: Accounts<Store = S>> NetbootServer<S, A> {
    /// Applies a new configuration to the running server; `accounts`
    /// serves FTP logins from now on. Leases that still fit the new pools,
    /// each client's plan progress (by hardware address), running TFTP
    /// transfers and open FTP sessions carry on. What a running server
    /// cannot change in place (listening addresses, the BOOTP interface,
    /// DHCP versus proxyDHCP, starting or stopping a protocol) is kept and
    /// named in [`Reconfigured::needs_restart`].
    /// The BOOTP part is checked first: when it is invalid (a pool outside
    /// its subnet, a duplicate host) nothing changes and the error is
    /// returned. Drain as after any input: a dropped lease is an event, and
    /// changed leases are saved.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: NetbootConfig,
        accounts: A,
    ) -> Result<Reconfigured, ConfigError> {
        self.now = now;
        let mut out = Reconfigured::default();
        let mut dropped = Vec::new();
        // What the sockets hold cannot change in place: the PXE socket
        // comes with proxyDHCP, each local subnet's with its interface.
        let kept = match (self.bootp.as_ref(), config.bootp.as_ref()) {
            (Some(b), Some(setup)) if setup.config.proxy != b.server.config().proxy => {
                Some("bootp mode")
            }
            (Some(b), Some(setup))
                if !setup
                    .config
                    .local_subnets()
                    .eq(b.server.config().local_subnets()) =>
            {
                Some("bootp subnet interfaces")
            }
            _ => None,
        };
        match (self.bootp.as_mut(), config.bootp) {
            (Some(b), Some(_)) if let Some(what) = kept => {
                // The BOOTP settings stay; the plan is still the new one.
                out.needs_restart.push(what);
                b.server
                    .policy_mut()
                    .reconfigure(config.profiles, config.reset);
            }
            (Some(b), Some(setup)) => {
                let slots = vec![LeaseSlot::EMPTY; pool_size(&setup.config)];
                b.server
                    .reconfigure(setup.config, setup.hosts, slots, |l| dropped.push(l.ip))?;
                let plan = b.server.policy_mut();
                plan.reconfigure(config.profiles, config.reset);
                let fixed: Vec<_> = b
                    .server
                    .hosts()
                    .iter()
                    .filter_map(|h| h.ip.map(|ip| (ip, h.hw)))
                    .collect();
                for (ip, hw) in fixed {
                    b.server.policy_mut().learn(now, ip, hw);
                }
                if setup.listen != b.listen && Some(setup.listen) != b.bound {
                    out.needs_restart.push("bootp listen");
                }
                let same_interface = match &setup.interface {
                    Some(i) => b.interface.as_ref() == Some(i),
                    None => b.interface.is_none(),
                };
                if !same_interface {
                    out.needs_restart.push("bootp interface");
                }
            }
            (None, Some(_)) | (Some(_), None) => out.needs_restart.push("bootp"),
            (None, None) => {}
        }
        match (self.tftp.as_mut(), config.tftp) {
            (Some(t), Some(c)) => {
                if !t.reconfigure(c) {
                    out.needs_restart.push("tftp listen");
                }
            }
            (None, Some(_)) | (Some(_), None) => out.needs_restart.push("tftp"),
            (None, None) => {}
        }
        match (self.ftp.as_mut(), config.ftp) {
            (Some(f), Some(c)) => {
                if !f.reconfigure(c, accounts) {
                    out.needs_restart.push("ftp listen");
                }
            }
            (None, Some(_)) | (Some(_), None) => out.needs_restart.push("ftp"),
            (None, None) => {}
        }
        out.dropped_leases = dropped.len();
        for ip in dropped {
            self.events.push_back(Event::LeaseDropped { ip });
        }
        self.pump(now);
        Ok(out)
    }
}
