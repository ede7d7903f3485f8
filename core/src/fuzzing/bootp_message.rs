//! BOOTP/DHCP message and options parser: parse, read every option, emit,
//! re-parse, and check the round trip.

use crate::wire::bootp::{EmitError, Message, Repr};

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(msg) = Message::new_checked(data) else {
        return;
    };
    for code in 0..=255u8 {
        if let Some(v) = msg.get(code) {
            assert!(v.len() <= crate::wire::bootp::options::MAX_JOINED);
        }
    }
    let _ = (
        msg.message_type(),
        msg.requested_ip(),
        msg.client_arch(),
        msg.client_uuid(),
    );
    let _ = msg.ip_list(3).count();
    let repr = Repr::parse(msg.packet());
    let mut out = vec![0u8; repr.buffer_len()];
    match repr.emit(&mut out) {
        Ok(n) => {
            assert_eq!(n, repr.buffer_len());
            let again = Message::new_checked(&out[..n]).expect("emitted message parses");
            assert_eq!(Repr::parse(again.packet()).xid, repr.xid);
            let a: Vec<_> = msg.options().collect();
            let b: Vec<_> = again.options().collect();
            assert_eq!(a, b);
        }
        // Only a name filling its whole field (no room for the zero) is
        // refused.
        Err(EmitError::NameTooLong { len, .. }) => assert!(len == 64 || len == 128),
        Err(e) => panic!("{e}"),
    }
    // A too-small buffer is refused without being touched.
    let mut small = vec![0xA5u8; repr.buffer_len() - 1];
    assert!(repr.emit(&mut small).is_err());
    assert!(small.iter().all(|&b| b == 0xA5));
}
