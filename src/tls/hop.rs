//! The TLS of the hop (the CONS gateway -> PROD gateway leg): TLS 1.3 only, bound to one
//! session.
//!
//! The PROD session holds a [`HopIdentity`]: a self-signed certificate made for this session
//! and a random secret. Its owner hands the pair (a [`HopCredential`]) to the CONS session
//! through the user client. The CONS gateway's [`HopDialer`] trusts only the certificate whose
//! SHA-256 it was given ([`PinnedFingerprint`]: no names, no dates, no authority), then proves
//! the secret inside the channel. How the relay runs this is `relay::hop`'s.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Bytes of a secret and of a certificate fingerprint.
pub(crate) const CREDENTIAL_LEN: usize = 32;

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

    /// Whether `sent` is this secret, compared in constant time.
    pub(crate) fn is(&self, sent: &[u8; CREDENTIAL_LEN]) -> bool {
        sent.ct_eq(&self.0).into()
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

/// The data-plane identity of one PROD session: the TLS server side of its hop, and the
/// credential that admits a CONS gateway.
pub(crate) struct HopIdentity {
    acceptor: TlsAcceptor,
    credential: HopCredential,
    certificate: Vec<u8>,
    key: Vec<u8>,
}

impl HopIdentity {
    pub(crate) fn generate() -> Result<Arc<Self>, rustls::Error> {
        let generated = rcgen::generate_simple_self_signed(vec!["scistream-hop".to_string()])
            .map_err(|e| {
                rustls::Error::General(format!("could not generate a certificate: {e}"))
            })?;
        let certificate = generated.cert.der().to_vec();
        let key = generated.signing_key.serialize_der();
        Self::from_parts(certificate, key, &rand::random::<[u8; CREDENTIAL_LEN]>())
    }

    /// The identity made of a certificate (DER), its PKCS#8 private key (DER) and a secret,
    /// as [`parts`](Self::parts) gave them: how a restarted server takes back a session's.
    pub(crate) fn from_parts(
        certificate: Vec<u8>,
        key: Vec<u8>,
        secret: &[u8],
    ) -> Result<Arc<Self>, rustls::Error> {
        let credential = HopCredential::from_parts(&Sha256::digest(&certificate), secret)
            .ok_or_else(|| rustls::Error::General("a hop secret of the wrong length".into()))?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certificate.clone())],
                PrivateKeyDer::Pkcs8(key.clone().into()),
            )?;
        // Each connection proves the secret anew; tickets for resumption would only cost bytes.
        config.send_tls13_tickets = 0;
        Ok(Arc::new(HopIdentity {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            credential,
            certificate,
            key,
        }))
    }

    pub(crate) fn credential(&self) -> &HopCredential {
        &self.credential
    }

    /// The certificate (DER) and private key (PKCS#8 DER): what a restart needs besides the
    /// secret.
    pub(crate) fn parts(&self) -> (&[u8], &[u8]) {
        (&self.certificate, &self.key)
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// How a CONS gateway reaches the PROD session whose credential it was given: a TLS client
/// that trusts only that session's certificate, and the secret to prove once connected.
pub(crate) struct HopDialer {
    connector: TlsConnector,
    /// What it was made from: the secret it proves, and what a restart makes it again from.
    credential: HopCredential,
}

impl HopDialer {
    pub(crate) fn new(credential: HopCredential) -> Result<Arc<Self>, rustls::Error> {
        let provider = provider();
        let verifier = PinnedFingerprint {
            sha256: credential.certificate_sha256,
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Arc::new(HopDialer {
            connector: TlsConnector::from(Arc::new(config)),
            credential,
        }))
    }

    pub(crate) fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    pub(crate) fn secret(&self) -> &HopSecret {
        &self.credential.secret
    }

    pub(crate) fn credential(&self) -> &HopCredential {
        &self.credential
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

/// Trusts exactly one certificate, by its SHA-256 fingerprint, and still checks that the peer
/// holds its key. Unlike the control channel's [`CertificateFile`](super::CertificateFile), it
/// checks no name and no dates: the fingerprint is the whole trust.
#[derive(Debug)]
struct PinnedFingerprint {
    sha256: [u8; CREDENTIAL_LEN],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedFingerprint {
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

    #[test]
    fn credentials_of_the_wrong_length_are_refused() {
        assert!(HopCredential::from_parts(&[0; 32], &[0; 31]).is_none());
        assert!(HopCredential::from_parts(&[0; 33], &[0; 32]).is_none());
        let credential = HopCredential::from_parts(&[1; 32], &[2; 32]).unwrap();
        assert!(!format!("{credential:?}").contains("2, 2"));
    }

    #[test]
    fn a_secret_is_only_itself() {
        let secret = HopSecret([7; CREDENTIAL_LEN]);
        assert!(secret.is(&[7; CREDENTIAL_LEN]));
        let mut other = [7; CREDENTIAL_LEN];
        other[CREDENTIAL_LEN - 1] ^= 1;
        assert!(!secret.is(&other));
    }
}
