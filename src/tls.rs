//! TLS for the control channel: the server's identity (given, or generated once) and what a
//! client trusts.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// File names of the generated identity inside the config directory.
pub const GENERATED_CERT: &str = "server.crt";
const GENERATED_KEY: &str = "server.key";

/// Loads a PEM certificate and key given by the operator.
pub fn load_identity(cert: &Path, key: &Path) -> Result<ServerTlsConfig> {
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

/// What a client trusts: an explicit certificate, else the certificate a server generated on this
/// machine (in `config_dir`), else the system's roots.
pub fn client_config(server_cert: Option<&Path>, config_dir: &Path) -> Result<ClientTlsConfig> {
    let local = config_dir.join(GENERATED_CERT);
    let path = match server_cert {
        Some(path) => path,
        None if local.exists() => &local,
        None => return Ok(ClientTlsConfig::new().with_native_roots()),
    };
    let pem = fs::read(path)
        .with_context(|| format!("could not read server certificate {}", path.display()))?;
    Ok(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
}
