//! TLS for every client connection (`https://`, `wss://`): one rustls configuration on the
//! ring provider (the server's), trusting the system's roots plus, with `--ca`, a private
//! CA's certificates. The same configuration serves reqwest (SSE, HTTP ingest, the API) and
//! the WebSocket transports, so a certificate is judged the same way whatever the route.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Why the TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("the CA file {0} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate(PathBuf),
    #[error("TLS set-up failed: {0}")]
    Setup(String),
}

/// What a client trusts: the system's root certificates, plus those of `ca_file` (PEM).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub ca_file: Option<PathBuf>,
}

impl TlsOptions {
    pub fn with_ca(ca_file: Option<PathBuf>) -> Self {
        TlsOptions { ca_file }
    }

    /// The rustls client configuration for these options.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut roots = RootCertStore::empty();
        // a system without a CA bundle still works with --ca; unreadable entries are skipped
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &self.ca_file {
            for cert in read_pem_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::CaFile { path: path.clone(), reason: e.to_string() })?;
            }
        }
        // the server's provider (ring: no C toolchain beyond cc); rustls marks it deprecated
        // only because it lacks the post-quantum key exchange
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// An HTTP client for `url` (and no proxy: the stream goes straight to the server, as
    /// the WebSocket transports do); for `https://`, with these options.
    pub fn http_client(&self, url: &str) -> Result<reqwest::Client, TlsError> {
        let builder = http_builder().no_proxy();
        let builder = if is_tls_url(url) {
            builder.tls_backend_preconfigured(ClientConfig::clone(&*self.client_config()?))
        } else {
            builder
        };
        builder.build().map_err(|e| TlsError::Setup(e.to_string()))
    }

    /// The WebSocket connector for `wss://` with these options.
    pub fn ws_connector(&self) -> Result<tokio_tungstenite::Connector, TlsError> {
        Ok(tokio_tungstenite::Connector::Rustls(self.client_config()?))
    }
}

/// Makes ring (the server's provider) the process's default rustls provider, once.
///
/// reqwest is built without a crypto provider of its own (its default would link aws-lc, C
/// code); it then takes the process default for every client it builds, TLS or not, and
/// panics if there is none. Every HTTP client of ondes is built after this.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // see client_config for why the deprecated function
        #[allow(deprecated)]
        let ring = tokio_rustls::rustls::crypto::ring::default_provider();
        // Err: another provider was installed first, which serves as well
        let _ = ring.install_default();
    });
}

/// A `reqwest` client builder, with the crypto provider installed (see
/// [`install_crypto_provider`]).
pub fn http_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// Whether `url` asks for TLS (`https://`, `wss://`).
pub fn is_tls_url(url: &str) -> bool {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("https" | "wss"))
}

/// An error and its causes in one line; a certificate the client does not trust says how
/// to fix it (the bare library message is `invalid peer certificate: UnknownIssuer`).
pub fn explain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
        text.push_str(
            " — the server's certificate is not signed by a CA this client trusts; pass --ca FILE \
             with the PEM certificate of the CA that signed it",
        );
    }
    text
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::CaFile { path: path.to_path_buf(), reason };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&pem).collect::<Result<_, _>>().map_err(|e| bad(format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let e = TlsOptions::with_ca(Some("/nonexistent/ca.pem".into())).client_config().unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = std::env::temp_dir().join(format!("ondes-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = TlsOptions::with_ca(Some(empty)).client_config().unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate(_)), "{e}");
    }

    #[test]
    fn the_system_roots_alone_make_a_configuration() {
        TlsOptions::default().client_config().expect("system roots");
        TlsOptions::default().http_client("https://example.com/").expect("an HTTP client");
        assert!(is_tls_url("WSS://host/x") && is_tls_url("https://h") && !is_tls_url("ws://h"));
    }
}
