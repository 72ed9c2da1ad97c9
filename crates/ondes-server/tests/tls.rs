//! TLS end to end over loopback, with a private CA and certificates made at test time:
//! SSE over HTTPS, WebSocket over WSS, Icecast (Ogg) over TLS, a client that does not trust
//! the CA, and a certificate reload that new connections see while an open listener plays on.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ondes_server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

/// A private CA that signs certificates for `localhost` and 127.0.0.1.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { issuer: rcgen::Issuer::new(params, key), der: cert.der().clone() }
    }

    /// A leaf certificate and key as PEM, and the certificate's DER.
    fn leaf(&self, cn: &str) -> (String, String, CertificateDer<'static>) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        #[allow(deprecated)] // the same provider as the server's
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ondes-tls-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start_tls(dir: &std::path::Path, cert_pem: &str, key_pem: &str) -> RunningServer {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    common::start(&format!(
        "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n",
        cert.display(),
        key.display()
    ))
    .await
}

async fn connect(ca: &Ca, s: &RunningServer) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(s.addr).await?;
    ca.connector().connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

/// Sends a GET and reads until `needle` appears in what came back (head and body).
async fn get_until(io: &mut TlsStream<TcpStream>, path: &str, needle: &[u8]) -> Vec<u8> {
    io.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout_at(deadline, io.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {:?} within 5 s: {}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&got)
                )
            })
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[tokio::test]
async fn sse_websocket_and_icecast_over_tls() {
    let ca = Ca::new("ondes test CA");
    let (cert, key, _) = ca.leaf("ondes test server");
    let s = start_tls(&scratch("all"), &cert, &key).await;
    assert!(s.url().starts_with("https://"));

    let mut sse = connect(&ca, &s).await.unwrap();
    let got = get_until(&mut sse, "/api/audio/stream", b"event: audio-frame").await;
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    assert!(String::from_utf8_lossy(&got).contains("text/event-stream"));

    let mut ogg = connect(&ca, &s).await.unwrap();
    let got = get_until(&mut ogg, "/main.ogg", b"OggS").await;
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got[..200.min(got.len())]));

    let mut plain = connect(&ca, &s).await.unwrap();
    let got = get_until(&mut plain, "/api/time", b"server_time_us").await;
    assert!(got.starts_with(b"HTTP/1.1 200"));

    let tls = connect(&ca, &s).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(
        format!("wss://localhost:{}/api/audio/ws?rung=pcm16", s.addr.port()),
        tls,
    )
    .await
    .expect("WSS handshake");
    let mut text = 0;
    let mut binary = 0;
    while binary < 3 {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("WSS message")
            .unwrap()
            .unwrap()
        {
            Message::Text(_) => text += 1,
            Message::Binary(b) => {
                assert!(b.len() > 16);
                binary += 1;
            }
            _ => {}
        }
    }
    assert!(text >= 1, "the info message comes first");
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused_with_a_clear_error() {
    let ca = Ca::new("ondes test CA");
    let (cert, key, _) = ca.leaf("ondes test server");
    let s = start_tls(&scratch("wrong-ca"), &cert, &key).await;
    let stranger = Ca::new("some other CA");
    let Err(err) = connect(&stranger, &s).await else { panic!("the handshake must fail") };
    let text = err.to_string();
    assert!(text.contains("invalid peer certificate") && text.contains("UnknownIssuer"), "{text}");
    // a plain HTTP request to the TLS port gets nothing served, and the server goes on
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /api/time HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("server_time_us"));
    let mut ok = connect(&ca, &s).await.unwrap();
    get_until(&mut ok, "/api/time", b"server_time_us").await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_reloaded_certificate_is_served_to_new_connections_while_listeners_play_on() {
    let ca = Ca::new("ondes test CA");
    let dir = scratch("reload");
    let (cert1, key1, der1) = ca.leaf("first");
    let s = start_tls(&dir, &cert1, &key1).await;
    let mut listener = connect(&ca, &s).await.unwrap();
    assert_eq!(listener.get_ref().1.peer_certificates().unwrap()[0], der1);
    get_until(&mut listener, "/api/audio/stream", b"event: audio-frame").await;

    // a broken file is refused and the old certificate stays
    std::fs::write(dir.join("key.pem"), "not a key").unwrap();
    let e = s.reload_tls().unwrap_err().to_string();
    assert!(e.contains("server.tls_key"), "{e}");
    let again = connect(&ca, &s).await.unwrap();
    assert_eq!(again.get_ref().1.peer_certificates().unwrap()[0], der1);

    let (cert2, key2, der2) = ca.leaf("second");
    std::fs::write(dir.join("cert.pem"), cert2).unwrap();
    std::fs::write(dir.join("key.pem"), key2).unwrap();
    assert!(s.reload_tls().unwrap());
    let fresh = connect(&ca, &s).await.unwrap();
    assert_eq!(
        fresh.get_ref().1.peer_certificates().unwrap()[0],
        der2,
        "new connections get the new certificate"
    );
    // the listener opened before the reload still receives audio
    let mut buf = [0u8; 8192];
    let mut seen = Vec::new();
    while seen.windows(11).filter(|w| w == b"audio-frame").count() < 10 {
        let n = tokio::time::timeout(Duration::from_secs(5), listener.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the listener was dropped by the reload");
        seen.extend_from_slice(&buf[..n]);
    }
    s.shutdown().await;
}
