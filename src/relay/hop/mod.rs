//! The hop, as the relay runs it: the CONS gateway -> PROD gateway leg of a session, TLS 1.3
//! and bound to its session, whose TLS (the session's [`HopIdentity`], the CONS side's
//! [`HopDialer`]) is `tls::hop`'s.
//!
//! A session's [`HopMode`] says what its listeners do: relay in clear, admit only the CONS
//! gateway that proves the credential (PROD), or dial the targets over the encrypted hop
//! (CONS). The CONS gateway sends the secret as the first bytes inside the channel; the PROD
//! gateway connects to the producer only once the secret matched. Everyone else gets a reset.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{client, server};

use super::copy::{self, Sizing};
use super::{SessionShared, Traffic};
use crate::address::HostPort;
use crate::tls::hop::CREDENTIAL_LEN;
pub(crate) use crate::tls::hop::{HopDialer, HopIdentity};
use crate::tls::server_name;
use stream::HopStream;

mod stream;

/// The PROD side of an admitted hop connection, and the CONS side of a dialled one.
pub(super) type Admitted<'a> = HopStream<server::TlsStream<&'a mut TcpStream>>;
pub(super) type Dialled<'a> = HopStream<client::TlsStream<&'a mut TcpStream>>;

/// Buffers of the encrypted leg: a direction with bytes to move holds one TLS record's worth
/// (16 KiB), and grows its buffer up to 256 KiB while reads fill it, so that one read takes many
/// records and one write carries them, as far as [`BUFFER_BUDGET`] lends the growth. An idle
/// direction holds none: an idle encrypted connection costs its sockets and TLS state only.
const BUFFER_FLOOR: usize = 16 << 10;
const BUFFER_CEILING: usize = 256 << 10;
/// The growth all encrypted connections of a server may hold at once: 64 directions moving
/// bytes at full size, more than a gateway's cores encrypt at once. A direction whose
/// destination stops reading keeps what it holds until it drains, so this, not the number of
/// connections, bounds what stalled streams take.
pub(crate) const BUFFER_BUDGET: usize = 16 << 20;
/// What one encrypted connection may hold besides its sockets: a floor buffer per direction,
/// and its TLS state (rustls keeps up to 64 KiB of records waiting for the socket, and the
/// record being received).
pub(crate) const CONNECTION_MEMORY: usize = 2 * BUFFER_FLOOR + (64 << 10) + (18 << 10);

/// How a session's listeners treat the hop.
#[derive(Clone, Default)]
pub(crate) enum HopMode {
    /// Plain TCP both ways, as SciStream 1.2 gateways relay.
    #[default]
    Plain,
    /// PROD: clients are CONS gateways that must prove this session's credential.
    Admit(Arc<HopIdentity>),
    /// CONS: targets are PROD listeners reached over TLS with this dialer.
    Dial(Arc<HopDialer>),
}

impl fmt::Debug for HopMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HopMode::Plain => "Plain",
            HopMode::Admit(_) => "Admit",
            HopMode::Dial(_) => "Dial",
        })
    }
}

/// Why a client of a PROD listener was turned away.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    #[error("no TLS 1.3 handshake: {0}")]
    Handshake(io::Error),
    #[error("the session's secret was not sent: {0}")]
    NoSecret(io::Error),
    #[error("a wrong secret was sent")]
    WrongSecret,
    #[error("nothing proven within {0:?}")]
    TimedOut(Duration),
}

/// Runs the TLS handshake as the PROD side and checks the secret, within `timeout`.
pub(super) async fn admit<'a>(
    client: &'a mut TcpStream,
    identity: &HopIdentity,
    timeout: Duration,
) -> Result<Admitted<'a>, Refusal> {
    let proven = async {
        let mut tls = identity
            .acceptor()
            .accept(client)
            .await
            .map_err(Refusal::Handshake)?;
        let mut sent = [0u8; CREDENTIAL_LEN];
        tls.read_exact(&mut sent).await.map_err(Refusal::NoSecret)?;
        match identity.credential().secret.is(&sent) {
            true => Ok(HopStream::new(tls)),
            false => Err(Refusal::WrongSecret),
        }
    };
    tokio::time::timeout(timeout, proven)
        .await
        .unwrap_or(Err(Refusal::TimedOut(timeout)))
}

/// Runs the TLS handshake as the CONS side against `target` and proves the secret, within
/// `timeout` (a target that is no TLS server may never answer).
pub(super) async fn dial<'a>(
    server: &'a mut TcpStream,
    dialer: &HopDialer,
    target: &HostPort,
    timeout: Duration,
) -> io::Result<Dialled<'a>> {
    let proven = async {
        let name = server_name(&target.host).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("target {target}: {e}"))
        })?;
        let mut tls = dialer.connector().connect(name, server).await?;
        tls.write_all(dialer.secret().expose()).await?;
        tls.flush().await?;
        Ok(HopStream::new(tls))
    };
    tokio::time::timeout(timeout, proven)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no TLS handshake within {timeout:?}"),
            ))
        })
}

/// The engine of the encrypted leg: user-space copies through rustls, counting payload bytes.
/// Kernel TLS (the TLS ULP) would let this leg splice again; this is the one place to add it.
pub(super) async fn relay<C, S>(
    client: &mut C,
    server: &mut S,
    session: &SessionShared,
) -> (Traffic, io::Result<()>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let sizing = Sizing {
        floor: BUFFER_FLOOR,
        ceiling: BUFFER_CEILING,
        budget: Some(&session.capacity.buffers),
    };
    let buckets = session.buckets.as_ref();
    copy::relay(client, server, &session.counters, sizing, buckets).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::loopback::connected_pair;
    use crate::tls::hop::HopCredential;

    async fn attempt(identity: &HopIdentity, credential: HopCredential) -> Result<(), Refusal> {
        let (mut cons, mut prod) = connected_pair().await;
        let dialer = HopDialer::new(credential).unwrap();
        let target = HostPort::parse("127.0.0.1:1").unwrap();
        let dialled = async {
            // The PROD side may reset first: only its verdict matters here.
            let _ = dial(&mut cons, &dialer, &target, Duration::from_secs(10)).await;
        };
        let admitted = admit(&mut prod, identity, Duration::from_secs(10));
        let ((), admitted) = tokio::join!(dialled, admitted);
        admitted.map(drop)
    }

    #[tokio::test]
    async fn the_right_credential_is_admitted() {
        let identity = HopIdentity::generate().unwrap();
        attempt(&identity, identity.credential().clone())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused() {
        let identity = HopIdentity::generate().unwrap();
        let right = identity.credential();
        let mut secret = right.secret.expose().to_vec();
        secret[0] ^= 1;
        let credential = HopCredential::from_parts(&right.certificate_sha256, &secret).unwrap();
        let refused = attempt(&identity, credential).await.unwrap_err();
        assert!(matches!(refused, Refusal::WrongSecret), "{refused}");
    }

    /// A CONS gateway given another session's fingerprint never sends the secret.
    #[tokio::test]
    async fn a_certificate_that_is_not_pinned_is_not_trusted() {
        let identity = HopIdentity::generate().unwrap();
        let other = HopIdentity::generate().unwrap();
        let credential = HopCredential {
            certificate_sha256: other.credential().certificate_sha256,
            secret: identity.credential().secret.clone(),
        };
        let refused = attempt(&identity, credential).await.unwrap_err();
        assert!(
            matches!(refused, Refusal::Handshake(_) | Refusal::NoSecret(_)),
            "{refused}"
        );
    }
}
