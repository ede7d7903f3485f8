//! ftp protocol machines.
