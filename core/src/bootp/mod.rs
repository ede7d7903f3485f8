//! bootp protocol machines.
