//! A private CA and `ondes serve` over TLS with a certificate it signed, made at test time.

use std::path::PathBuf;
use std::process::Stdio;

use super::{Server, tmp};

/// A private CA (its PEM) and a certificate it signed for localhost and 127.0.0.1 (PEM
/// certificate and key).
pub fn private_ca() -> (String, String, String) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "ondes test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

/// `ondes serve` over TLS with `streams` (TOML `[[stream]]` tables) and extra environment
/// variables; the CA file that trusts it.
pub fn serve_tls(name: &str, streams: &str, env: &[(&str, &str)]) -> (Server, PathBuf) {
    let (ca, cert, key) = private_ca();
    let (ca_file, cert_file, key_file) =
        (tmp(&format!("{name}-ca.pem")), tmp(&format!("{name}-cert.pem")), tmp(&format!("{name}-key.pem")));
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let config = tmp(&format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{streams}",
            cert_file.display(),
            key_file.display()
        ),
    )
    .unwrap();
    let server =
        super::serve(&["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()], env, Stdio::null());
    assert!(server.url.starts_with("https://"), "the server says it serves TLS: {}", server.url);
    (server, ca_file)
}

/// `scheme://localhost:PORT` for the server (the certificate names localhost).
pub fn base(server: &Server, scheme: &str) -> String {
    let port = server.url.rsplit(':').next().unwrap().trim_end_matches('/');
    format!("{scheme}://localhost:{port}")
}
