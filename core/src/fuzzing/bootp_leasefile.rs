//! The BOOTP lease-file line parser on arbitrary text: never panics, and a
//! lease it accepts writes back to a line that parses to the same lease.

use crate::bootp::leasefile::{parse_lease, write_lease};
use crate::time::Instant;

/// Runs one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let now = Instant::from_secs(1_000);
    let unix = 1_700_000_000;
    for line in text.lines().take(1_000) {
        let Ok(Some(lease)) = parse_lease(line, now, unix) else {
            continue;
        };
        let mut again = String::new();
        write_lease(&mut again, &lease, now, unix).unwrap();
        let back = parse_lease(&again, now, unix).unwrap().unwrap();
        assert_eq!(
            (back.ip, back.hw, back.client, back.state),
            (lease.ip, lease.hw, lease.client, lease.state)
        );
    }
}
