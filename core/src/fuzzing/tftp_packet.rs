//! TFTP packet parser: parse, emit, parse again; the two parses must agree
//! and the emitted length must be what `buffer_len` promised.

use crate::tftp::options::Request;
use crate::wire::tftp::Packet;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(packet) = Packet::parse(data) else {
        return;
    };
    let mut buf = vec![0u8; packet.buffer_len()];
    let len = packet.emit(&mut buf).expect("buffer_len is enough");
    assert_eq!(len, packet.buffer_len());
    let again = Packet::parse(&buf[..len]).expect("emitted packets parse");
    assert_eq!(again, packet);
    // A buffer one byte short is refused and left untouched.
    if len > 0 {
        let mut short = vec![0xA5u8; len - 1];
        assert!(packet.emit(&mut short).is_err());
        assert!(short.iter().all(|&b| b == 0xA5));
    }
    // Option lists never panic the negotiation layer either.
    if let Packet::Rrq { options, .. } | Packet::Wrq { options, .. } | Packet::Oack { options } =
        packet
        && let Ok(req) = Request::parse(options)
    {
        let encoded = req.encode();
        assert_eq!(Request::parse(encoded.options()), Ok(req));
    }
}
