//! Certificates made with openssl, as upstream's docs and sites make them.

use std::path::Path;
use std::process::Command;

/// upstream's quick recipe: a self-signed certificate that OpenSSL 3 marks CA:TRUE, written as
/// `dir/NAME.crt` and `dir/NAME.key`.
pub fn openssl_self_signed(dir: &Path, name: &str, cn: &str, san: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "365",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName={san}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// A CA (`dir/ca.crt`) and a server certificate it signed (`dir/NAME.crt`, `dir/NAME.key`).
pub fn openssl_ca_signed(dir: &Path, name: &str, san: &str) {
    openssl_self_signed(dir, "ca", "test CA", "DNS:ca.invalid");
    openssl_signed_by_ca(dir, name, san);
}

/// A certificate and key (`dir/NAME.crt`, `dir/NAME.key`) signed by the CA already in `dir`
/// (`ca.crt`, `ca.key`), without an extended key usage: good for a server or a client.
pub fn openssl_signed_by_ca(dir: &Path, name: &str, san: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), format!("subjectAltName={san}\n")).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
