//! The AS over HTTPS (axum + rustls, self-signed certificate): `/token` with form, JSON and
//! CBOR bodies, HTTP Basic client authentication, `/introspect`.

use std::sync::Arc;
use std::time::Duration;

use ace_core::{Confirmation, IntrospectionRequest, Scope, TokenRequest, TokenResponse};
use ace_server::AsService;
use ace_server::http::{self, HttpClients, TlsListener};
use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey};
use ace_token::{PopKey, RustCrypto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

const LIMIT: Duration = Duration::from_secs(20);

struct Https {
    addr: std::net::SocketAddr,
    connector: tokio_rustls::TlsConnector,
}

impl Https {
    async fn post(
        &self,
        path: &str,
        content_type: &str,
        auth: Option<(&str, &[u8])>,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = self.connector.connect(name, tcp).await.unwrap();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some((id, secret)) = auth {
            // RFC 6749 §2.3.1: form-urlencoded id and secret, then base64.
            let enc = |b: &[u8]| b.iter().map(|x| format!("%{x:02X}")).collect::<String>();
            let raw = format!("{}:{}", enc(id.as_bytes()), enc(secret));
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
            head.push_str(&format!("Authorization: Basic {b64}\r\n"));
        }
        head.push_str("\r\n");
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(body).await.unwrap();
        let mut resp = Vec::new();
        let _ = tls.read_to_end(&mut resp).await;
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head, resp[split + 4..].to_vec())
    }
}

/// The AS of these tests: the deployment's registry and policy with COSE_Sign1 tokens bound
/// to a client P-256 key (`ace_server::local::as_engine`; the loopback deployment itself
/// uses the OSCORE profile, whose material has no JSON encoding yet).
struct TestAs {
    as_service: AsService,
    client_secret: Vec<u8>,
}

async fn setup() -> (TestAs, Https) {
    let signing_key = PrivateKey::generate(KeyType::P256, &mut ace_token::crypto::os_rng());
    let client_secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let local = TestAs {
        as_service: AsService::new(ace_server::local::as_engine(
            &signing_key,
            &client_secret,
            3600,
            "temp:r led:r counter:r",
            Box::new(ace_core::MemoryTokenStore::new()),
        )),
        client_secret,
    };
    let (cert, key) = http::self_signed(&["localhost"]).unwrap();
    let tls = http::server_config(cert.clone(), key).unwrap();
    let listener = TlsListener::bind("127.0.0.1:0".parse().unwrap(), tls)
        .await
        .unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let clients = HttpClients::new()
        .with("client1", &local.client_secret)
        .with("rs1", b"rs1-secret");
    let router = http::router(local.as_service.clone(), clients);
    tokio::spawn(http::serve(listener, router, std::future::pending()));
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert))
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    (local, Https { addr, connector })
}

fn token_request() -> TokenRequest {
    let key = PrivateKey::generate(KeyType::P256, &mut ace_token::crypto::os_rng());
    let public = RustCrypto.public_key(&key).unwrap();
    TokenRequest {
        audience: Some("rs1".into()),
        scope: Some(Scope::Text("temp:r".into())),
        req_cnf: Some(Confirmation::cose_key(PopKey::public(public))),
        ..TokenRequest::default()
    }
}

#[tokio::test]
async fn token_with_form_json_and_cbor_bodies() {
    tokio::time::timeout(LIMIT, async {
        let (local, https) = setup().await;
        let secret = local.client_secret.clone();

        // Form body, HTTP Basic.
        let form = token_request().to_form().unwrap();
        let (status, head, body) = https
            .post(
                "/token",
                "application/x-www-form-urlencoded",
                Some(("client1", &secret)),
                form.as_bytes(),
            )
            .await;
        assert_eq!(status, 200, "{head} {}", String::from_utf8_lossy(&body));
        assert!(
            head.to_ascii_lowercase()
                .contains("cache-control: no-store")
        );
        let t1 = TokenResponse::from_json(&body).unwrap();

        // JSON body, credentials in the body.
        let mut req = token_request();
        req.client_id = Some("client1".into());
        req.client_secret = Some(secret.clone());
        let (status, _, body) = https
            .post(
                "/token",
                "application/json",
                None,
                req.to_json().unwrap().as_bytes(),
            )
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let t2 = TokenResponse::from_json(&body).unwrap();
        assert_ne!(t1.access_token, t2.access_token);

        // CBOR body, HTTP Basic: CBOR response.
        let cbor = token_request().encode().unwrap();
        let (status, head, body) = https
            .post(
                "/token",
                "application/ace+cbor",
                Some(("client1", &secret)),
                &cbor,
            )
            .await;
        assert_eq!(status, 200);
        assert!(head.contains("application/ace+cbor"));
        let t3 = TokenResponse::decode(&body).unwrap();

        // Introspection by the RS (Basic), form body (RFC 7662).
        let ireq = IntrospectionRequest::new(t3.access_token.clone())
            .to_form()
            .unwrap();
        let (status, _, body) = https
            .post(
                "/introspect",
                "application/x-www-form-urlencoded",
                Some(("rs1", b"rs1-secret")),
                ireq.as_bytes(),
            )
            .await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["active"], serde_json::Value::Bool(true), "{v}");
        // The client may not introspect: 403.
        let (status, _, _) = https
            .post(
                "/introspect",
                "application/x-www-form-urlencoded",
                Some(("client1", &secret)),
                ireq.as_bytes(),
            )
            .await;
        assert_eq!(status, 403);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn token_refusals_over_https() {
    tokio::time::timeout(LIMIT, async {
        let (local, https) = setup().await;
        let form = token_request().to_form().unwrap();
        // Wrong Basic secret: 401 invalid_client with WWW-Authenticate.
        let (status, head, body) = https
            .post(
                "/token",
                "application/x-www-form-urlencoded",
                Some(("client1", b"wrong")),
                form.as_bytes(),
            )
            .await;
        assert_eq!(status, 401);
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: basic")
        );
        assert!(String::from_utf8_lossy(&body).contains("invalid_client"));
        // No credentials at all: 401 from the engine.
        let (status, _, _) = https
            .post(
                "/token",
                "application/x-www-form-urlencoded",
                None,
                form.as_bytes(),
            )
            .await;
        assert_eq!(status, 401);
        // Scope not granted: 400 invalid_scope.
        let mut req = token_request();
        req.scope = Some(Scope::Text("big:r".into()));
        let (status, _, body) = https
            .post(
                "/token",
                "application/json",
                Some(("client1", &local.client_secret)),
                req.to_json().unwrap().as_bytes(),
            )
            .await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("invalid_scope"));
        // Unknown media type: 415; introspection without credentials: 401.
        let (status, _, _) = https.post("/token", "text/plain", None, b"x").await;
        assert_eq!(status, 415);
        let (status, _, _) = https
            .post(
                "/introspect",
                "application/x-www-form-urlencoded",
                None,
                b"token=AA",
            )
            .await;
        assert_eq!(status, 401);
    })
    .await
    .unwrap();
}
