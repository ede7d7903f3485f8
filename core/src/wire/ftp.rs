//! FTP command and reply lines (RFC 959).
