//! TFTP packets (RFC 1350, RFC 2347).
