//! The async BOOTP/DHCP client: one future that broadcasts (or unicasts),
//! waits with the core client's back-off, and resolves with the assignment.

use async_std::net::UdpSocket;
use futures_lite::future;
use netboot_std::client::bootp::{Assigned, Prepared, RequestError, RequestOptions, Step, prepare};

/// Asks for an address and a boot file; resolves when answered or timed
/// out (after `options.attempts` requests with the core client's back-off).
///
/// ```
/// use netboot_async_std::bootp::{request, BootpServer, RequestOptions};
/// use netboot_core::bootp::{HwAddr, server::ServerConfig};
///
/// let mut config = ServerConfig::new("127.0.0.1".parse().unwrap(), "255.0.0.0".parse().unwrap());
/// config.net.pool = Some(("127.0.0.100".parse().unwrap(), "127.0.0.109".parse().unwrap()));
/// async_std::task::block_on(async {
///     let server = BootpServer::new(config).listen("127.0.0.1:0".parse().unwrap()).spawn().unwrap();
///     let mut options = RequestOptions::new(HwAddr::ethernet([2, 0, 0, 0, 0, 8]));
///     options.dhcp = true;
///     options.server = Some(server.local_addr());
///     options.client_port = 0;
///     let got = request(&options).await.unwrap();
///     assert_eq!((got.ip.to_string(), got.dhcp), ("127.0.0.100".to_string(), true));
///     server.shutdown().await.unwrap();
/// });
/// ```
pub async fn request(options: &RequestOptions) -> Result<Assigned, RequestError> {
    let Prepared {
        socket,
        mut exchange,
    } = prepare(options)?;
    let socket = UdpSocket::from(socket);
    let mut recv = [0u8; 2048];
    loop {
        let wait = match exchange.step() {
            Step::Send(bytes, to) => {
                socket.send_to(bytes, to).await?;
                continue;
            }
            Step::Done(done) => return done,
            Step::Wait(wait) => wait,
        };
        let got = future::or(async { Some(socket.recv_from(&mut recv).await) }, async {
            async_io::Timer::after(wait).await;
            None
        })
        .await;
        match got {
            Some(Ok((n, from))) => exchange.received(from, &recv[..n]),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Some(Err(e)) => return Err(e.into()),
            None => exchange.timed_out(),
        }
    }
}
