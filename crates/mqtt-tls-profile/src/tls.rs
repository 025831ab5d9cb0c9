//! rustls configurations for TLS client authentication (RFC 9431 §2.2.1:
//! `TLS:Known(RPK/Cert) + MQTT:ace`): the broker's server configuration with optional or
//! required client certificates verified against configured CAs (rustls
//! `WebPkiClientVerifier`), and a client configuration that presents a certificate.
//!
//! Raw public keys (RFC 7250, `TLS:Known-RPK`): [`ClientCerts::RawPublicKeys`] makes the
//! broker require a client raw public key (a DER SubjectPublicKeyInfo) from a configured set;
//! [`client_tls_with_raw_key`] presents one. rustls 0.23 supports this for TLS 1.3 only, and a
//! listener that requires raw public keys refuses X.509 client certificates and
//! certificate-less clients (rustls negotiates one client certificate type per verifier).
//!
//! A client certificate or raw public key only authenticates the TLS peer: authorization
//! still comes from the token (a client with a certificate and no token gets the anonymous
//! scope, if anonymous clients are allowed; with a token, the token's scope).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// Whether and how the broker asks for client certificates.
#[derive(Debug, Clone, Default)]
pub enum ClientCerts {
    /// No client certificates (`TLS:Anon`).
    #[default]
    None,
    /// Asked for; a client without one is accepted, a certificate that does not chain to
    /// one of these CAs (DER) fails the handshake.
    Optional(Vec<Vec<u8>>),
    /// Required, chaining to one of these CAs (DER); otherwise the handshake fails.
    Required(Vec<Vec<u8>>),
    /// A raw public key (RFC 7250, TLS 1.3) required, one of these DER
    /// SubjectPublicKeyInfos; otherwise the handshake fails.
    RawPublicKeys(Vec<Vec<u8>>),
}

/// Accepts the raw public keys (RFC 7250) of a fixed set: the client's TLS 1.3
/// CertificateVerify is checked with the presented key.
#[derive(Debug)]
struct KnownRawKeys {
    keys: Vec<Vec<u8>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for KnownRawKeys {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> core::result::Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        // A public key: no secret, so no constant-time comparison is needed.
        if self
            .keys
            .iter()
            .any(|k| k.as_slice() == end_entity.as_ref())
        {
            Ok(rustls::server::danger::ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> core::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "raw public keys need TLS 1.3".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> core::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &rustls::pki_types::SubjectPublicKeyInfoDer::from(cert.as_ref()),
            dss,
            &self.algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls(what: &str, e: impl core::fmt::Display) -> Error {
    Error::Transport(format!("{what}: {e}"))
}

fn roots(cas: &[Vec<u8>]) -> Result<Arc<rustls::RootCertStore>> {
    let mut store = rustls::RootCertStore::empty();
    for ca in cas {
        store
            .add(CertificateDer::from(ca.clone()))
            .map_err(|e| tls("client CA", e))?;
    }
    if store.is_empty() {
        return Err(Error::Transport("client CA: no certificate".into()));
    }
    Ok(Arc::new(store))
}

/// The trust anchors (DER) a client checks the broker's certificate against.
fn trust_anchors(roots: &[Vec<u8>]) -> Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(CertificateDer::from(r.clone()))
            .map_err(|e| tls("trust anchor", e))?;
    }
    Ok(store)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client: &ClientCerts,
) -> Result<Arc<rustls::ServerConfig>> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("TLS", e))?;
    let builder = match client {
        ClientCerts::None => builder.with_no_client_auth(),
        ClientCerts::RawPublicKeys(keys) => {
            if keys.is_empty() {
                return Err(Error::Transport("raw public keys: none configured".into()));
            }
            builder.with_client_cert_verifier(Arc::new(KnownRawKeys {
                keys: keys.clone(),
                algorithms: provider().signature_verification_algorithms,
            }))
        }
        ClientCerts::Optional(cas) | ClientCerts::Required(cas) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots(cas)?,
                provider(),
            );
            let verifier = if matches!(client, ClientCerts::Optional(_)) {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| tls("client CA", e))?)
        }
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls("certificate", e))?;
    // RFC 9431 §2.2.3: TLS 1.2 with the Extended Master Secret only.
    cfg.require_ems = true;
    Ok(Arc::new(cfg))
}

/// The broker's TLS configuration (ring, TLS 1.2 + 1.3, EMS required, no ALPN): `chain` (DER,
/// leaf first), its PKCS#8 DER `key`, and client certificates as `client` says.
///
/// # Errors
/// [`Error::Transport`] for an unusable certificate, key or CA.
pub fn broker_tls(
    chain: &[Vec<u8>],
    key_pkcs8: &[u8],
    client: &ClientCerts,
) -> Result<Arc<rustls::ServerConfig>> {
    let chain = chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
    server_config(chain, key, client)
}

/// [`broker_tls`] from PEM files: the certificate chain and the private key (PKCS#8, SEC1 or
/// PKCS#1); client authentication as `client` says (see [`certs_from_pem`],
/// [`public_key_from_pem`]).
///
/// # Errors
/// [`Error::Transport`] naming the file that is missing or unusable.
pub fn broker_tls_from_pem(
    cert: &Path,
    key: &Path,
    client: &ClientCerts,
) -> Result<Arc<rustls::ServerConfig>> {
    let chain = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(&key.display().to_string(), e))?;
    server_config(chain, key, client)
}

/// The certificates (DER) of a PEM file (e.g. the CAs of client certificates).
///
/// # Errors
/// [`Error::Transport`] naming the file if it is unreadable or holds no certificate.
pub fn certs_from_pem(path: &Path) -> Result<Vec<Vec<u8>>> {
    Ok(read_certs(path)?.into_iter().map(|c| c.to_vec()).collect())
}

/// The DER SubjectPublicKeyInfo of a PEM `PUBLIC KEY` file (a client raw public key).
///
/// # Errors
/// [`Error::Transport`] naming the file if it is unreadable or holds no public key.
pub fn public_key_from_pem(path: &Path) -> Result<Vec<u8>> {
    rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_file(path)
        .map(|k| k.to_vec())
        .map_err(|e| tls(&path.display().to_string(), e))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<core::result::Result<Vec<_>, _>>())
        .map_err(|e| tls(&path.display().to_string(), e))?;
    if certs.is_empty() {
        return Err(Error::Transport(format!(
            "{}: no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// A client TLS configuration (ring, TLS 1.2 + 1.3) trusting only `roots` (DER) and
/// presenting the certificate `chain` (DER, leaf first) with its PKCS#8 DER `key`.
///
/// # Errors
/// [`Error::Transport`] for an unusable root, certificate or key.
pub fn client_tls_with_cert(
    roots: &[Vec<u8>],
    chain: &[Vec<u8>],
    key_pkcs8: &[u8],
) -> Result<Arc<rustls::ClientConfig>> {
    let store = trust_anchors(roots)?;
    let chain = chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("TLS", e))?
        .with_root_certificates(store)
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls("client certificate", e))?;
    Ok(Arc::new(cfg))
}

/// The DER SubjectPublicKeyInfo of a PKCS#8 DER private key (what a client presents as its
/// raw public key, and what [`ClientCerts::RawPublicKeys`] lists).
///
/// # Errors
/// [`Error::Transport`] for a key rustls (ring) cannot use.
pub fn raw_public_key(key_pkcs8: &[u8]) -> Result<Vec<u8>> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
    let signer = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| tls("raw public key", e))?;
    signer
        .public_key()
        .map(|spki| spki.to_vec())
        .ok_or_else(|| Error::Transport("raw public key: no SubjectPublicKeyInfo".into()))
}

/// A client TLS configuration (ring, TLS 1.3 only) trusting only `roots` (DER) for the
/// broker's certificate and presenting the raw public key (RFC 7250) of the PKCS#8 DER `key`.
///
/// # Errors
/// [`Error::Transport`] for an unusable root or key.
pub fn client_tls_with_raw_key(
    roots: &[Vec<u8>],
    key_pkcs8: &[u8],
) -> Result<Arc<rustls::ClientConfig>> {
    let store = trust_anchors(roots)?;
    let spki = raw_public_key(key_pkcs8)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
    let signer = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| tls("raw public key", e))?;
    let certified = rustls::sign::CertifiedKey::new(vec![CertificateDer::from(spki)], signer);
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls("TLS", e))?
        .with_root_certificates(store)
        .with_client_cert_resolver(Arc::new(
            rustls::client::AlwaysResolvesClientRawPublicKeys::new(Arc::new(certified)),
        ));
    Ok(Arc::new(cfg))
}
