//! A blocking BOOTP/DHCP client: one call that broadcasts (or unicasts to a
//! server), waits with the core client's back-off, and returns the
//! assignment.

use std::io;

use netboot_std::client::bootp::Step;
pub use netboot_std::client::bootp::{
    Assigned, Prepared, RequestError, RequestOptions, outcome, prepare,
};

/// Asks for an address and a boot file, blocking until answered or timed
/// out.
pub fn request(options: &RequestOptions) -> Result<Assigned, RequestError> {
    let Prepared {
        socket,
        mut exchange,
    } = prepare(options)?;
    socket.set_nonblocking(false)?;
    let mut recv = [0u8; 2048];
    loop {
        match exchange.step() {
            Step::Send(bytes, to) => drop(socket.send_to(bytes, to)?),
            Step::Done(done) => return done,
            Step::Wait(wait) => {
                socket.set_read_timeout(Some(wait))?;
                match socket.recv_from(&mut recv) {
                    Ok((n, from)) => exchange.received(from, &recv[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        exchange.timed_out()
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}
