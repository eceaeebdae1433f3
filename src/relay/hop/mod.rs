//! The WAN hop between two scistream gateways: TLS 1.3, bound to its session.
//!
//! The PROD session holds a [`HopIdentity`]: a self-signed certificate made for this session
//! and a random secret. Its owner hands the pair (a [`HopCredential`]) to the CONS session
//! through the user client. The CONS gateway accepts only the certificate whose SHA-256 it was
//! given, then sends the secret as the first bytes inside the channel; the PROD gateway connects
//! to the producer only once the secret matched. Everyone else gets a reset.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

use super::{copy, Counters, Traffic};
use stream::HopStream;

mod stream;

/// The PROD side of an admitted hop connection, and the CONS side of a dialled one.
pub(super) type Admitted<'a> = HopStream<server::TlsStream<&'a mut TcpStream>>;
pub(super) type Dialled<'a> = HopStream<client::TlsStream<&'a mut TcpStream>>;

/// Bytes of a secret and of a certificate fingerprint.
pub(crate) const CREDENTIAL_LEN: usize = 32;

/// Buffer per direction of the encrypted leg: a TLS record is 16 KiB, so this lets one read
/// fill many records and one write carry them.
const BUFFER: usize = 256 * 1024;

/// The secret a CONS gateway proves. `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HopSecret([u8; CREDENTIAL_LEN]);

impl fmt::Debug for HopSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl HopSecret {
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// What a CONS gateway needs to reach one PROD session: whom to trust, what to prove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HopCredential {
    pub(crate) certificate_sha256: [u8; CREDENTIAL_LEN],
    pub(crate) secret: HopSecret,
}

impl HopCredential {
    /// None unless both parts have the right length.
    pub(crate) fn from_parts(certificate_sha256: &[u8], secret: &[u8]) -> Option<Self> {
        Some(HopCredential {
            certificate_sha256: certificate_sha256.try_into().ok()?,
            secret: HopSecret(secret.try_into().ok()?),
        })
    }
}

/// The data-plane identity of one PROD session.
pub(crate) struct HopIdentity {
    acceptor: TlsAcceptor,
    credential: HopCredential,
}

impl HopIdentity {
    pub(crate) fn generate() -> Result<Arc<Self>, rustls::Error> {
        let generated = rcgen::generate_simple_self_signed(vec!["scistream-hop".to_string()])
            .map_err(|e| {
                rustls::Error::General(format!("could not generate a certificate: {e}"))
            })?;
        let cert = generated.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        let credential = HopCredential {
            certificate_sha256: Sha256::digest(&cert).into(),
            secret: HopSecret(rand::random()),
        };
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)?;
        // Each connection proves the secret anew; tickets for resumption would only cost bytes.
        config.send_tls13_tickets = 0;
        Ok(Arc::new(HopIdentity {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            credential,
        }))
    }

    pub(crate) fn credential(&self) -> &HopCredential {
        &self.credential
    }
}

/// How a CONS gateway reaches the PROD session it was given the credential of.
pub(crate) struct HopPin {
    connector: TlsConnector,
    secret: HopSecret,
}

impl HopPin {
    pub(crate) fn new(credential: HopCredential) -> Result<Arc<Self>, rustls::Error> {
        let provider = provider();
        let verifier = PinnedCertificate {
            sha256: credential.certificate_sha256,
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Arc::new(HopPin {
            connector: TlsConnector::from(Arc::new(config)),
            secret: credential.secret,
        }))
    }
}

/// ring's TLS 1.3 suites, AES-128-GCM first: both ends are ours, and 128-bit keys cost 10 AES
/// rounds per block instead of 14 for a margin that a session's lifetime does not need.
fn provider() -> rustls::crypto::CryptoProvider {
    let mut provider = ring::default_provider();
    provider.cipher_suites = vec![
        ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
        ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    provider
}

/// How a session's listeners treat the hop.
#[derive(Clone, Default)]
pub(crate) enum Hop {
    /// Plain TCP both ways, as SciStream 1.2 gateways relay.
    #[default]
    Plain,
    /// PROD: clients are CONS gateways that must prove this session's credential.
    Admit(Arc<HopIdentity>),
    /// CONS: targets are PROD listeners reached over TLS with this pin.
    Dial(Arc<HopPin>),
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hop::Plain => "Plain",
            Hop::Admit(_) => "Admit",
            Hop::Dial(_) => "Dial",
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
            .acceptor
            .accept(client)
            .await
            .map_err(Refusal::Handshake)?;
        let mut sent = [0u8; CREDENTIAL_LEN];
        tls.read_exact(&mut sent).await.map_err(Refusal::NoSecret)?;
        match bool::from(sent.ct_eq(&identity.credential.secret.0)) {
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
    pin: &HopPin,
    target: &str,
    timeout: Duration,
) -> io::Result<Dialled<'a>> {
    let proven = async {
        let name = server_name(target)?;
        let mut tls = pin.connector.connect(name, server).await?;
        tls.write_all(pin.secret.expose()).await?;
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

/// The name the handshake carries; the pin, not the name, decides whom to trust.
fn server_name(target: &str) -> io::Result<ServerName<'static>> {
    let host = target.rsplit_once(':').map_or(target, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("target {target}: {e}")))
}

/// The engine of the encrypted leg: user-space copies through rustls, counting payload bytes.
/// Kernel TLS (the TLS ULP) would let this leg splice again; this is the one place to add it.
pub(super) async fn relay<C, S>(
    client: &mut C,
    server: &mut S,
    counters: &Counters,
) -> (Traffic, io::Result<()>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    copy::relay(client, server, counters, BUFFER).await
}

/// Trusts exactly one certificate, and still checks that the peer holds its key.
#[derive(Debug)]
struct PinnedCertificate {
    sha256: [u8; CREDENTIAL_LEN],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen: [u8; CREDENTIAL_LEN] = Sha256::digest(end_entity).into();
        match bool::from(seen.ct_eq(&self.sha256)) {
            true => Ok(ServerCertVerified::assertion()),
            false => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("the hop speaks TLS 1.3 only".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::loopback::connected_pair;

    async fn attempt(identity: &HopIdentity, credential: HopCredential) -> Result<(), Refusal> {
        let (mut cons, mut prod) = connected_pair().await;
        let pin = HopPin::new(credential).unwrap();
        let dialled = async {
            // The PROD side may reset first: only its verdict matters here.
            let _ = dial(&mut cons, &pin, "127.0.0.1:1", Duration::from_secs(10)).await;
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
        let mut credential = identity.credential().clone();
        credential.secret.0[0] ^= 1;
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

    #[test]
    fn credentials_of_the_wrong_length_are_refused() {
        assert!(HopCredential::from_parts(&[0; 32], &[0; 31]).is_none());
        assert!(HopCredential::from_parts(&[0; 33], &[0; 32]).is_none());
        let credential = HopCredential::from_parts(&[1; 32], &[2; 32]).unwrap();
        assert!(!format!("{credential:?}").contains("2, 2"));
    }
}
