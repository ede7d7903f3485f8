//! The provisioning plan: which boot stage each client gets next.
