//! TLS, in one home: the control channel's here (the server's identity, given or generated
//! once, and what a client trusts), the hop's in `hop`.
//!
//! Two ways of trusting a certificate, never mixed: a control client trusts a
//! `CertificateFile` (the certificates in `--server-cert`, names and dates checked, or any
//! certificate they sign) or the system's roots; a CONS gateway trusts one hop certificate by
//! its SHA-256 fingerprint alone (`hop::PinnedFingerprint`).

use std::fs;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use hyper_util::rt::TokioIo;
use sha2::Digest;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::{verify_server_name, WebPkiServerVerifier};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};
use tonic::codegen::http::Uri;
use tonic::transport::{Identity, ServerTlsConfig};

use crate::address::{Host, HostPort};

pub(crate) mod hop;

/// File names of the generated identity inside the config directory.
pub const GENERATED_CERT: &str = "server.crt";
const GENERATED_KEY: &str = "server.key";

/// Loads a PEM certificate and key given by the operator.
pub(crate) fn load_identity(cert: &Path, key: &Path) -> Result<ServerTlsConfig> {
    let cert_pem = fs::read(cert)
        .with_context(|| format!("could not read TLS certificate {}", cert.display()))?;
    let key_pem =
        fs::read(key).with_context(|| format!("could not read TLS key {}", key.display()))?;
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem)))
}

/// Loads the self-signed identity in `dir`, generating it first if it does not exist.
/// Returns the TLS config and the certificate path that clients should trust.
pub fn generated_identity(dir: &Path, names: &[String]) -> Result<(ServerTlsConfig, PathBuf)> {
    let cert = dir.join(GENERATED_CERT);
    let key = dir.join(GENERATED_KEY);
    if !cert.exists() || !key.exists() {
        generate(&cert, &key, names)?;
    }
    Ok((load_identity(&cert, &key)?, cert))
}

fn generate(cert: &Path, key: &Path, names: &[String]) -> Result<()> {
    let dir = cert.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let generated = rcgen::generate_simple_self_signed(names.to_vec())
        .context("could not generate a self-signed certificate")?;
    write_new(key, generated.signing_key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert, generated.cert.pem().as_bytes(), 0o644)
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("could not write {}", path.display()))
}

/// A TLS connection to a control server, as the gRPC channel reads and writes it.
pub(crate) type TlsIo = TokioIo<TlsStream<TcpStream>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a client trusts, and how it dials: TCP, then a TLS handshake whose failure says why.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    /// The certificate file trusted, if any (else the system's roots).
    trusted_file: Option<PathBuf>,
}

/// What a client trusts: an explicit certificate, else the certificate a server generated on this
/// machine (in `config_dir`), else the system's roots.
pub(crate) fn client_config(server_cert: Option<&Path>, config_dir: &Path) -> Result<ClientTls> {
    let local = config_dir.join(GENERATED_CERT);
    let path = match server_cert {
        Some(path) => path,
        None if local.exists() => &local,
        None => return ClientTls::new(system_verifier()?, None),
    };
    ClientTls::new(
        Arc::new(CertificateFile::load(path)?),
        Some(path.to_owned()),
    )
}

fn system_verifier() -> Result<Arc<dyn ServerCertVerifier>> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots.into(), provider())
        .build()
        .context(
            "could not load this machine's trusted root certificates: pass the server's \
             certificate with --server-cert PEM",
        )?;
    Ok(verifier)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(ring::default_provider())
}

impl ClientTls {
    fn new(
        verifier: Arc<dyn ServerCertVerifier>,
        trusted_file: Option<PathBuf>,
    ) -> Result<ClientTls> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(ClientTls {
            config: Arc::new(config),
            trusted_file,
        })
    }

    /// What a gRPC channel to `server` dials each connection with
    /// (`Endpoint::connect_with_connector`): the channel's URI names the same server.
    pub(crate) fn connector(
        self,
        server: HostPort,
    ) -> impl tower::Service<
        Uri,
        Response = TlsIo,
        Error = BoxError,
        Future = impl Future<Output = Result<TlsIo, BoxError>> + Send,
    > + Send
           + 'static {
        tower::service_fn(move |_: Uri| {
            let (tls, server) = (self.clone(), server.clone());
            async move { tls.dial(&server).await }
        })
    }

    /// Opens TCP to `server` and runs the TLS handshake, naming the server by its host.
    async fn dial(&self, server: &HostPort) -> Result<TlsIo, BoxError> {
        let name = server_name(&server.host)?;
        let tcp = server.connect().await?;
        tcp.set_nodelay(true)?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| HandshakeError::from_io(e, self.trusted_file.as_deref()))?;
        Ok(TokioIo::new(tls))
    }
}

/// The name a TLS handshake carries for `host`: its address, or its DNS name.
pub(crate) fn server_name(
    host: &Host,
) -> Result<ServerName<'static>, rustls::pki_types::InvalidDnsNameError> {
    match host {
        Host::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
        Host::Name(name) => ServerName::try_from(name.clone()),
    }
}

/// Trusts the server certificate(s) in a file (`--server-cert`) as they are, CA or not, with
/// names and dates still checked (as Python gRPC does); a server certificate signed by one of
/// them is verified as a chain to that CA.
#[derive(Debug)]
pub(crate) struct CertificateFile {
    certs: Vec<CertificateDer<'static>>,
    signed_by: Arc<WebPkiServerVerifier>,
}

impl CertificateFile {
    fn load(path: &Path) -> Result<CertificateFile> {
        let read = || format!("could not read server certificate {}", path.display());
        let certs = CertificateDer::pem_file_iter(path)
            .with_context(read)?
            .collect::<Result<Vec<_>, _>>()
            .with_context(read)?;
        anyhow::ensure!(
            !certs.is_empty(),
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----): pass the server's \
             certificate file with --server-cert",
            path.display()
        );
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(certs.iter().cloned());
        let signed_by = WebPkiServerVerifier::builder_with_provider(roots.into(), provider())
            .build()
            .with_context(|| {
                format!(
                    "{} holds no certificate usable to verify a server",
                    path.display()
                )
            })?;
        Ok(CertificateFile { certs, signed_by })
    }
}

impl ServerCertVerifier for CertificateFile {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.certs.iter().any(|c| c == end_entity) {
            let verified = self.signed_by.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
            // webpki says CaUsedAsEndEntity (an Other error) of a CA:TRUE certificate presented
            // as the server's own: not being one of the file's, it is simply not trusted.
            return verified.map_err(|err| match err {
                rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                    | CertificateError::BadSignature
                    | CertificateError::Other(_),
                ) => {
                    let outside = NotInFile(fingerprint(end_entity));
                    CertificateError::Other(OtherError(Arc::new(outside))).into()
                }
                err => err,
            });
        }
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        check_dates(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signed_by.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signed_by.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signed_by.supported_verify_schemes()
    }
}

/// The validity period check that chain verification would have made.
fn check_dates(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), CertificateError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| CertificateError::BadEncoding)?;
    let validity = parsed.validity();
    let at = |t: &x509_parser::time::ASN1Time| {
        UnixTime::since_unix_epoch(Duration::from_secs(t.timestamp().max(0) as u64))
    };
    let (not_before, not_after) = (at(&validity.not_before), at(&validity.not_after));
    if now > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after,
        });
    }
    if now < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        });
    }
    Ok(())
}

/// Why a TLS handshake with a control server failed, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error(
        "its TLS certificate is for {presented}, not {expected}: connect by a name the \
         certificate holds (--s2cs), or give the server a certificate for {expected} (openssl \
         req -x509 ... -addext subjectAltName=IP:ADDRESS,DNS:NAME)"
    )]
    WrongName { expected: String, presented: String },
    #[error(
        "its TLS certificate expired at {0}: the server needs a new certificate, and its clients \
         the new file for --server-cert"
    )]
    Expired(DateTime<Utc>),
    #[error(
        "its TLS certificate is not valid before {0}: check the clocks of this machine and of \
         the server"
    )]
    NotYetValid(DateTime<Utc>),
    #[error(
        "it presented a different TLS certificate (SHA-256 {presented}) than the one in \
         {}, and not one signed by it: pass the server's current certificate with \
         --server-cert (the server prints its path at start; `openssl x509 -noout -fingerprint \
         -sha256 -in FILE` shows a file's)", file.display()
    )]
    NotTrusted { file: PathBuf, presented: String },
    #[error(
        "its TLS certificate is not signed by an authority this machine trusts: pass the \
         server's certificate (or its CA's) with --server-cert PEM"
    )]
    Untrusted,
    #[error(
        "it does not speak TLS (a plaintext server: `scistream server --no-tls` or \
         `s2cs --ssl=False`): talk to it with --no-tls"
    )]
    Plaintext,
    #[error(
        "it closed the connection during the TLS handshake: it is at its limit of control \
         connections (try again later; its operator can raise --max-control-connections and \
         --max-control-connections-per-ip), or it does not speak TLS (then use --no-tls)"
    )]
    HungUp,
    #[error("TLS handshake failed: {0}")]
    Other(rustls::Error),
}

impl HandshakeError {
    /// Reads the cause out of tokio-rustls' I/O error; `trusted_file` is the certificate file
    /// trusted, if any.
    fn from_io(err: std::io::Error, trusted_file: Option<&Path>) -> BoxError {
        // A plaintext gRPC server answers HTTP/2 frames to a ClientHello (see from_tls); a
        // server at its connection cap closes the connection without a word (a reset when it
        // closes with the ClientHello unread).
        if matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ) {
            return Box::new(HandshakeError::HungUp);
        }
        match err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            Some(tls) => Box::new(HandshakeError::from_tls(tls.clone(), trusted_file)),
            None => Box::new(err),
        }
    }

    fn from_tls(err: rustls::Error, trusted_file: Option<&Path>) -> HandshakeError {
        let date =
            |t: UnixTime| DateTime::from_timestamp(t.as_secs() as i64, 0).unwrap_or_default();
        let certificate = match &err {
            rustls::Error::InvalidMessage(_) => return HandshakeError::Plaintext,
            rustls::Error::InvalidCertificate(certificate) => certificate,
            _ => return HandshakeError::Other(err),
        };
        match certificate {
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => HandshakeError::WrongName {
                expected: expected.to_str().into_owned(),
                presented: match presented.is_empty() {
                    true => "no host name or address (it has no subjectAltName)".into(),
                    false => presented
                        .iter()
                        .map(|n| subject_alt_name(n))
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            },
            CertificateError::ExpiredContext { not_after, .. } => {
                HandshakeError::Expired(date(*not_after))
            }
            CertificateError::NotValidYetContext { not_before, .. } => {
                HandshakeError::NotYetValid(date(*not_before))
            }
            CertificateError::Other(OtherError(other)) => {
                match (other.downcast_ref(), trusted_file) {
                    (Some(NotInFile(presented)), Some(path)) => HandshakeError::NotTrusted {
                        file: path.to_owned(),
                        presented: presented.clone(),
                    },
                    // CaUsedAsEndEntity, from the system roots' verifier: see CertificateFile.
                    _ => HandshakeError::Untrusted,
                }
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                HandshakeError::Untrusted
            }
            _ => HandshakeError::Other(err),
        }
    }
}

/// A server certificate neither in the trusted file nor signed by one there, by its
/// fingerprint.
#[derive(Debug, thiserror::Error)]
#[error("SHA-256 {0}")]
struct NotInFile(String);

/// The SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it (AB:CD:...).
fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = sha2::Sha256::digest(cert.as_ref());
    let bytes: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    bytes.join(":")
}

/// `IP:10.0.0.1` or `DNS:gw.example.org` (as openssl's subjectAltName syntax writes them) for
/// the names rustls reports as `IpAddress(10.0.0.1)` or `DnsName("gw.example.org")`.
fn subject_alt_name(reported: &str) -> String {
    let inner = |prefix: &str, suffix: &str| reported.strip_prefix(prefix)?.strip_suffix(suffix);
    if let Some(ip) = inner("IpAddress(", ")") {
        format!("IP:{ip}")
    } else if let Some(dns) = inner("DnsName(\"", "\")") {
        format!("DNS:{dns}")
    } else {
        reported.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_written_as_openssl_subject_alt_names() {
        assert_eq!(subject_alt_name("IpAddress(10.0.0.1)"), "IP:10.0.0.1");
        assert_eq!(
            subject_alt_name("DnsName(\"gw.example.org\")"),
            "DNS:gw.example.org"
        );
        assert_eq!(subject_alt_name("URI(x)"), "URI(x)");
    }
}
