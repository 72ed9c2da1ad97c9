//! TLS (rustls): HTTPS, WSS and Icecast over TLS on the server's one port, with the
//! certificate and key read from PEM files (`server.tls_cert`, `server.tls_key`) and read
//! again on [`Tls::reload`] (SIGHUP in `ondes serve`).
//!
//! A reload swaps the certificate that *new* handshakes get; connections already open keep
//! theirs and are not dropped (listeners play on). A reload that fails — a missing file, a
//! key that does not match the certificate — keeps the old certificate and says why.
//!
//! Over TLS every request is served by hyper (SSE and Ogg listeners as streamed bodies): the
//! feed writers write plain TCP sockets, which a TLS connection is not.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls_cert '{path}': {message}")]
    Cert { path: PathBuf, message: String },
    #[error("server.tls_key '{path}': {message}")]
    Key { path: PathBuf, message: String },
    #[error("server.tls_key does not belong to server.tls_cert: {0}")]
    Mismatch(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The server's TLS: the acceptor and the certificate it presents.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    cert: Arc<ReloadableCert>,
}

/// Makes ring the process's default rustls provider, once: reqwest (the HTTP engine of
/// text to speech) is built without a provider of its own, so as not to link aws-lc (C
/// code), and takes the process default for every client it builds, TLS or not.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // deprecated only for lacking post-quantum key exchange (see Tls::load)
        #[allow(deprecated)]
        let ring = tokio_rustls::rustls::crypto::ring::default_provider();
        // Err: another provider was installed first, which serves as well
        let _ = ring.install_default();
    });
}

impl Tls {
    /// Reads the PEM files and builds the acceptor (HTTP/1.1 by ALPN).
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        // ring: deprecated in rustls for lacking post-quantum key exchange, which only the
        // aws-lc-rs provider (a large C/CMake build) has; classical TLS 1.2/1.3 is what
        // browsers, players and ffmpeg negotiate with a streaming server today
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let current = read_pair(cert, key, &provider)?;
        let resolver = Arc::new(ReloadableCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider: provider.clone(),
            current: RwLock::new(Arc::new(current)),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), cert: resolver })
    }

    /// Reads the certificate and key again; new handshakes get them, open connections are
    /// left alone. On error the previous certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = read_pair(&self.cert.cert, &self.cert.key, &self.cert.provider)?;
        *self.cert.current.write() = Arc::new(pair);
        Ok(())
    }
}

/// The certificate new handshakes get, swapped by [`Tls::reload`].
#[derive(Debug)]
struct ReloadableCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_err = |message: String| TlsError::Cert { path: cert.to_path_buf(), message };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(pem_error(e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(pem_error(e)))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE block in the file (PEM expected)".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key { path: key.to_path_buf(), message: pem_error(e) })?;
    CertifiedKey::from_der(chain, key_der, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch(e.to_string()),
        other => TlsError::Key { path: key.to_path_buf(), message: other.to_string() },
    })
}

fn pem_error(e: tokio_rustls::rustls::pki_types::pem::Error) -> String {
    use tokio_rustls::rustls::pki_types::pem::Error as E;
    match e {
        E::Io(io) => io.to_string(),
        E::NoItemsFound => "no PEM block of the expected kind in the file".into(),
        other => format!("not valid PEM ({other:?})"),
    }
}
