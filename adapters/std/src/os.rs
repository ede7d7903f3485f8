//! What the operating system tells the runtimes that no protocol machine may
//! ask for itself: a network interface's hardware address, a random seed and
//! the wall clock.

use std::io;

use netboot_core::bootp::HwAddr;

/// The hardware address of a network interface (Linux: from sysfs).
///
/// ```
/// let lo = netboot_std::os::interface_hw_addr("lo").unwrap();
/// assert_eq!(lo.to_string(), "00:00:00:00:00:00");
/// ```
pub fn interface_hw_addr(interface: &str) -> io::Result<HwAddr> {
    if interface.contains('/') || interface.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an interface name",
        ));
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/address"))
        .map_err(|e| io::Error::new(e.kind(), format!("interface {interface}: {e}")))?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("interface {interface} has no hardware address"),
        )
    })
}

/// A seed for the core's PRNG from the OS (`/dev/urandom`), falling back to
/// the clock and process id.
pub fn os_seed() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_le_bytes(bytes);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}

/// Seconds since the Unix epoch, by the wall clock (0 if the clock is set
/// before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
