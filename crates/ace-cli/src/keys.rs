//! Key files: COSE_Key (RFC 9052 §7) in CBOR, as written by `ace keys generate`.

use std::path::Path;

use ace_token::RustCrypto;
use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey, PublicKey, SecretBytes};
use coset::iana::{self, EnumI64};
use coset::{CborSerializable, CoseKey, CoseKeyBuilder, KeyType as CoseKty, Label};

use crate::CliError;

/// What `ace keys generate` can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyKind {
    /// ECDSA P-256 (ES256) key pair: private COSE_Key + `.pub` public COSE_Key.
    P256,
    /// 16 random bytes as a symmetric COSE_Key (token MAC/encryption keys, OSCORE Master
    /// Secrets, client secrets).
    Symmetric,
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| CliError::Runtime(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))
}

/// The COSE_Key of a P-256 private key (with its public part).
pub(crate) fn p256_private_cose(key: &PrivateKey, kid: Option<&[u8]>) -> Result<CoseKey, CliError> {
    let public = RustCrypto
        .public_key(key)
        .map_err(|e| CliError::Runtime(format!("key: {e}")))?;
    let (x, y) = public
        .p256_coordinates()
        .ok_or_else(|| CliError::Runtime("not a P-256 key".into()))?;
    let mut b = CoseKeyBuilder::new_ec2_priv_key(
        iana::EllipticCurve::P_256,
        x.to_vec(),
        y.to_vec(),
        key.expose().to_vec(),
    )
    .algorithm(iana::Algorithm::ES256);
    if let Some(kid) = kid {
        b = b.key_id(kid.to_vec());
    }
    Ok(b.build())
}

/// The COSE_Key of a P-256 public key.
pub(crate) fn p256_public_cose(
    public: &PublicKey,
    kid: Option<&[u8]>,
) -> Result<CoseKey, CliError> {
    let (x, y) = public
        .p256_coordinates()
        .ok_or_else(|| CliError::Runtime("not a P-256 key".into()))?;
    let mut b = CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, x.to_vec(), y.to_vec())
        .algorithm(iana::Algorithm::ES256);
    if let Some(kid) = kid {
        b = b.key_id(kid.to_vec());
    }
    Ok(b.build())
}

/// `ace keys generate`: writes the key file(s), refusing to overwrite.
pub(crate) fn generate(
    kind: KeyKind,
    out: &Path,
    kid: Option<&str>,
) -> Result<Vec<String>, CliError> {
    let mut rng = ace_token::crypto::os_rng();
    let kid = kid.map(str::as_bytes);
    match kind {
        KeyKind::P256 => {
            let key = PrivateKey::generate(KeyType::P256, &mut rng);
            let public = RustCrypto
                .public_key(&key)
                .map_err(|e| CliError::Runtime(format!("key: {e}")))?;
            let pub_path = out.with_extension("pub.cose");
            let private = p256_private_cose(&key, kid)?
                .to_vec()
                .map_err(|e| CliError::Runtime(format!("encode: {e}")))?;
            let public = p256_public_cose(&public, kid)?
                .to_vec()
                .map_err(|e| CliError::Runtime(format!("encode: {e}")))?;
            write_new(out, &private)?;
            write_new(&pub_path, &public)?;
            Ok(vec![
                out.display().to_string(),
                pub_path.display().to_string(),
            ])
        }
        KeyKind::Symmetric => {
            let k = SecretBytes::generate(16, &mut rng);
            let mut b = CoseKeyBuilder::new_symmetric_key(k.expose().to_vec());
            if let Some(kid) = kid {
                b = b.key_id(kid.to_vec());
            }
            let bytes = b
                .build()
                .to_vec()
                .map_err(|e| CliError::Runtime(format!("encode: {e}")))?;
            write_new(out, &bytes)?;
            Ok(vec![out.display().to_string()])
        }
    }
}

/// Reads a COSE_Key file.
///
/// # Errors
/// [`CliError::Config`] for a missing or undecodable file.
pub(crate) fn read_cose_key(path: &Path) -> Result<CoseKey, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::KeyFile(format!("cannot read key file {}: {e}", path.display())))?;
    CoseKey::from_slice(&bytes)
        .map_err(|e| CliError::KeyFile(format!("{} is not a COSE_Key: {e}", path.display())))
}

fn param(key: &CoseKey, label: i64) -> Option<&[u8]> {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .and_then(|(_, v)| v.as_bytes().map(Vec::as_slice))
}

fn is_p256(key: &CoseKey) -> bool {
    key.kty == CoseKty::Assigned(iana::KeyType::EC2)
        && key.params.iter().any(|(l, v)| {
            *l == Label::Int(iana::Ec2KeyParameter::Crv.to_i64())
                && v.as_integer() == Some(iana::EllipticCurve::P_256.to_i64().into())
        })
}

/// A P-256 private key from a COSE_Key file.
pub(crate) fn read_p256_private(path: &Path) -> Result<PrivateKey, CliError> {
    let key = read_cose_key(path)?;
    let bad = || CliError::KeyFile(format!("{}: not a P-256 private COSE_Key", path.display()));
    if !is_p256(&key) {
        return Err(bad());
    }
    let d = param(&key, iana::Ec2KeyParameter::D.to_i64()).ok_or_else(bad)?;
    PrivateKey::from_bytes(KeyType::P256, d).map_err(|_| bad())
}

/// A P-256 public key from a COSE_Key file (a private key file works too).
pub(crate) fn read_p256_public(path: &Path) -> Result<PublicKey, CliError> {
    let key = read_cose_key(path)?;
    let bad = || CliError::KeyFile(format!("{}: not a P-256 COSE_Key", path.display()));
    if !is_p256(&key) {
        return Err(bad());
    }
    let x = param(&key, iana::Ec2KeyParameter::X.to_i64()).ok_or_else(bad)?;
    let y = param(&key, iana::Ec2KeyParameter::Y.to_i64()).ok_or_else(bad)?;
    PublicKey::p256_from_coordinates(x, y).map_err(|_| bad())
}

/// The bytes `k` of a symmetric COSE_Key file.
pub(crate) fn read_symmetric(path: &Path) -> Result<Vec<u8>, CliError> {
    let key = read_cose_key(path)?;
    let bad = || CliError::KeyFile(format!("{}: not a symmetric COSE_Key", path.display()));
    if key.kty != CoseKty::Assigned(iana::KeyType::Symmetric) {
        return Err(bad());
    }
    param(&key, iana::SymmetricKeyParameter::K.to_i64())
        .map(<[u8]>::to_vec)
        .ok_or_else(bad)
}
