//! BOOTP/DHCP messages and options (RFC 951, RFC 2131, RFC 2132).
