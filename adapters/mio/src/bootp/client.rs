//! A blocking BOOTP/DHCP client: one call that broadcasts (or unicasts to a
//! server), waits with the core client's back-off, and returns the
//! assignment.

use std::io;

pub use netboot_std::client::bootp::{
    Assigned, Prepared, RequestError, RequestOptions, outcome, prepare,
};

/// Asks for an address and a boot file, blocking until answered or timed
/// out.
pub fn request(options: &RequestOptions) -> Result<Assigned, RequestError> {
    let Prepared {
        socket,
        mut client,
        clock,
    } = prepare(options)?;
    socket.set_nonblocking(false)?;
    let mut buf = [0u8; 1500];
    let mut recv = [0u8; 2048];
    loop {
        let now = clock.now();
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            socket.send_to(&buf[..t.len], t.destination)?;
        }
        while let Some(event) = client.poll_event() {
            if let Some(done) = outcome(&event) {
                return done;
            }
        }
        let Some(deadline) = client.poll_timeout() else {
            return Err(RequestError::TimedOut {
                attempts: options.attempts,
            });
        };
        let wait = clock.until(clock.now(), deadline);
        if wait.is_zero() {
            client.handle_timeout(clock.now());
            continue;
        }
        socket.set_read_timeout(Some(wait))?;
        match socket.recv_from(&mut recv) {
            Ok((n, from)) => client.handle_datagram(clock.now(), from, &recv[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                client.handle_timeout(clock.now())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}
