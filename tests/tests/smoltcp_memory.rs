//! The memory figures of `docs/embedding.md`, measured with
//! `core::mem::size_of` of the firmware adapter's actual types (on the
//! host; the thumbv7em figures are checked against the same bounds at
//! compile time by `netboot_smoltcp::memory`).

use netboot_smoltcp::{Bootp, Lease, SliceStore, TftpGet, memory};

#[test]
fn firmware_state_fits_the_documented_bounds() {
    let figures = [
        ("Bootp", std::mem::size_of::<Bootp>(), memory::BOOTP),
        (
            "TftpGet<SliceStore>",
            std::mem::size_of::<TftpGet<SliceStore<'static>>>(),
            memory::TFTP_GET,
        ),
        (
            "SliceStore",
            std::mem::size_of::<SliceStore<'static>>(),
            memory::SLICE_STORE,
        ),
        ("Lease", std::mem::size_of::<Lease>(), 256),
        (
            "netboot_core::tftp::Transfer",
            std::mem::size_of::<netboot_core::tftp::Transfer>(),
            memory::TFTP_GET,
        ),
    ];
    for (name, size, bound) in figures {
        println!("{name}: {size} bytes (bound {bound})");
        assert!(
            size <= bound,
            "{name} is {size} bytes, over {bound}: update docs/embedding.md and netboot_smoltcp::memory"
        );
    }
    assert_eq!(memory::BOOTP_POLL_STACK, 576);
}
