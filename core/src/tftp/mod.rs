//! tftp protocol machines.
