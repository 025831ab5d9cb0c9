//! How stored values become column values and back.
//!
//! Structured values use the existing codecs: `cnf` as its CBOR map
//! ([`Confirmation::to_value`]), PoP keys as COSE_Key ([`PopKey::to_cose_key`]), AIF-REST
//! permissions as AIF CBOR, public keys as the [`PopBinding`] encoding (key-type tag ‖ SEC1
//! uncompressed / OKP `x`). Small records this crate owns (token formats, issue options,
//! lists) are CBOR arrays written here. Integers are SQLite INTEGERs (checked conversion from
//! `u64`).

use ace_core::{ClientCredential, GrantType, KeyEncryption, PopBinding, TokenFormat};
use ace_token::{
    AceProfile, Algorithm, Confirmation, HeaderPlacement, IssueOptions, KeyType, PopKey,
    PrivateKey, PublicKey, Scope, SecretBytes, Tagging, UnixTime,
};
use aif::RestAif;
use coset::cbor::value::Value;
use coset::iana::EnumI64 as _;
use coset::{CborSerializable as _, CoseKey};

use crate::error::{Error, Result};

/// `u64` → SQLite INTEGER.
pub(crate) fn to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::OutOfRange(what))
}

/// SQLite INTEGER → `u64`.
pub(crate) fn to_u64(v: i64, what: &'static str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(what))
}

/// A time as INTEGER, clamped to `i64::MAX` (for comparisons only).
pub(crate) fn clamp_time(t: UnixTime) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

/// Scope kind column value: 0 text, 1 binary.
pub(crate) fn scope_to_columns(s: &Scope) -> (i64, Vec<u8>) {
    match s {
        Scope::Text(t) => (0, t.as_bytes().to_vec()),
        Scope::Binary(b) => (1, b.clone()),
    }
}

pub(crate) fn scope_from_columns(kind: i64, bytes: Vec<u8>) -> Result<Scope> {
    match kind {
        0 => String::from_utf8(bytes)
            .map(Scope::Text)
            .map_err(|_| Error::Corrupt("text scope")),
        1 => Ok(Scope::Binary(bytes)),
        _ => Err(Error::Corrupt("scope kind")),
    }
}

pub(crate) fn value_to_bytes(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(v, &mut out).map_err(|_| Error::Unencodable("cbor"))?;
    Ok(out)
}

pub(crate) fn value_from_bytes(b: &[u8], what: &'static str) -> Result<Value> {
    coset::cbor::de::from_reader(b).map_err(|_| Error::Corrupt(what))
}

/// `cnf` as its CBOR map; the empty confirmation (which the `cnf` codec refuses) as `None`.
/// **Secret**: may contain a symmetric PoP key.
pub(crate) fn cnf_to_bytes(c: &Confirmation) -> Result<Option<Vec<u8>>> {
    if *c == Confirmation::default() {
        return Ok(None);
    }
    let v = c.to_value().map_err(|_| Error::Unencodable("cnf"))?;
    value_to_bytes(&v).map(Some)
}

pub(crate) fn cnf_from_bytes(b: Option<Vec<u8>>) -> Result<Confirmation> {
    match b {
        None => Ok(Confirmation::default()),
        Some(b) => Confirmation::from_value(value_from_bytes(&b, "cnf")?)
            .map_err(|_| Error::Corrupt("cnf")),
    }
}

/// A PoP key as COSE_Key bytes. **Secret** for symmetric keys.
pub(crate) fn pop_key_to_bytes(k: &PopKey) -> Result<Vec<u8>> {
    k.to_cose_key()
        .to_vec()
        .map_err(|_| Error::Unencodable("COSE_Key"))
}

pub(crate) fn pop_key_from_bytes(b: &[u8]) -> Result<PopKey> {
    let k = CoseKey::from_slice(b).map_err(|_| Error::Corrupt("COSE_Key"))?;
    PopKey::from_cose_key(k).map_err(|_| Error::Corrupt("COSE_Key"))
}

pub(crate) fn permissions_to_bytes(p: &RestAif) -> Result<Vec<u8>> {
    p.to_cbor().map_err(|_| Error::Unencodable("AIF"))
}

pub(crate) fn permissions_from_bytes(b: &[u8]) -> Result<RestAif> {
    RestAif::from_cbor(b).map_err(|_| Error::Corrupt("AIF"))
}

/// Binding columns: kind 0 = `kid`, 1 = raw public key.
pub(crate) fn binding_to_columns(b: &PopBinding) -> (i64, &[u8]) {
    match b {
        PopBinding::Kid(k) => (0, k),
        PopBinding::RawPublicKey(k) => (1, k),
    }
}

pub(crate) fn binding_from_columns(kind: i64, bytes: Vec<u8>) -> Result<PopBinding> {
    match kind {
        0 => Ok(PopBinding::Kid(bytes)),
        1 => Ok(PopBinding::RawPublicKey(bytes)),
        _ => Err(Error::Corrupt("binding kind")),
    }
}

/// A public key as its [`PopBinding`] bytes (tag ‖ SEC1 uncompressed or OKP `x`): one
/// canonical encoding, so equal keys have equal bytes (used to look clients up by key).
pub(crate) fn public_key_to_bytes(pk: &PublicKey) -> Result<Vec<u8>> {
    match PopBinding::from_public_key(pk) {
        Some(PopBinding::RawPublicKey(b)) => Ok(b),
        _ => Err(Error::Unencodable("public key type")),
    }
}

pub(crate) fn public_key_from_bytes(b: &[u8]) -> Result<PublicKey> {
    let (tag, rest) = b.split_first().ok_or(Error::Corrupt("public key"))?;
    let okp = |kt: KeyType| -> Result<PublicKey> {
        PublicKey::okp(kt, rest).map_err(|_| Error::Corrupt("public key"))
    };
    match tag {
        1 => PublicKey::p256_from_sec1(rest).map_err(|_| Error::Corrupt("public key")),
        6 => okp(KeyType::Ed25519),
        4 => okp(KeyType::X25519),
        _ => Err(Error::Corrupt("public key type")),
    }
}

/// Key types by their COSE curve numbers (P-256 1, X25519 4, Ed25519 6).
pub(crate) fn key_type_to_i64(k: KeyType) -> Result<i64> {
    match k {
        KeyType::P256 => Ok(1),
        KeyType::X25519 => Ok(4),
        KeyType::Ed25519 => Ok(6),
        _ => Err(Error::Unencodable("key type")),
    }
}

pub(crate) fn key_type_from_i64(v: i64) -> Result<KeyType> {
    match v {
        1 => Ok(KeyType::P256),
        4 => Ok(KeyType::X25519),
        6 => Ok(KeyType::Ed25519),
        _ => Err(Error::Corrupt("key type")),
    }
}

fn int(v: i64) -> Value {
    Value::Integer(v.into())
}

fn as_int(v: &Value, what: &'static str) -> Result<i64> {
    match v {
        Value::Integer(i) => i64::try_from(*i).map_err(|_| Error::Corrupt(what)),
        _ => Err(Error::Corrupt(what)),
    }
}

fn as_bytes(v: Value, what: &'static str) -> Result<Vec<u8>> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(Error::Corrupt(what)),
    }
}

fn opt_bytes(v: Option<&[u8]>) -> Value {
    v.map_or(Value::Null, |b| Value::Bytes(b.to_vec()))
}

fn as_opt_bytes(v: Value, what: &'static str) -> Result<Option<Vec<u8>>> {
    match v {
        Value::Null => Ok(None),
        v => as_bytes(v, what).map(Some),
    }
}

fn as_array(b: &[u8], what: &'static str) -> Result<Vec<Value>> {
    match value_from_bytes(b, what)? {
        Value::Array(a) => Ok(a),
        _ => Err(Error::Corrupt(what)),
    }
}

fn alg_from(v: &Value) -> Result<Algorithm> {
    Algorithm::from_i64(as_int(v, "algorithm")?).ok_or(Error::Corrupt("algorithm"))
}

/// A list of integers (grant types, profiles, key types) as a CBOR array.
pub(crate) fn ints_to_bytes(v: impl IntoIterator<Item = i64>) -> Result<Vec<u8>> {
    value_to_bytes(&Value::Array(v.into_iter().map(int).collect()))
}

pub(crate) fn ints_from_bytes(b: &[u8], what: &'static str) -> Result<Vec<i64>> {
    as_array(b, what)?.iter().map(|v| as_int(v, what)).collect()
}

/// A list of strings as a CBOR array.
pub(crate) fn texts_to_bytes(v: &[String]) -> Result<Vec<u8>> {
    value_to_bytes(&Value::Array(
        v.iter().map(|s| Value::Text(s.clone())).collect(),
    ))
}

pub(crate) fn texts_from_bytes(b: &[u8], what: &'static str) -> Result<Vec<String>> {
    as_array(b, what)?
        .into_iter()
        .map(|v| match v {
            Value::Text(s) => Ok(s),
            _ => Err(Error::Corrupt(what)),
        })
        .collect()
}

pub(crate) fn grant_types_to_bytes(g: &[GrantType]) -> Result<Vec<u8>> {
    ints_to_bytes(g.iter().map(|g| g.0))
}

pub(crate) fn grant_types_from_bytes(b: &[u8]) -> Result<Vec<GrantType>> {
    Ok(ints_from_bytes(b, "grant types")?
        .into_iter()
        .map(GrantType)
        .collect())
}

pub(crate) fn profiles_to_bytes(p: &[AceProfile]) -> Result<Vec<u8>> {
    ints_to_bytes(p.iter().map(|p| p.0))
}

pub(crate) fn profiles_from_bytes(b: &[u8]) -> Result<Vec<AceProfile>> {
    Ok(ints_from_bytes(b, "profiles")?
        .into_iter()
        .map(AceProfile)
        .collect())
}

/// Credential columns: kind 0 = secret (**secret**), 1 = PSK identity, 2 = raw public key.
pub(crate) fn credential_to_columns(c: &ClientCredential) -> Result<(i64, Vec<u8>)> {
    match c {
        ClientCredential::Secret(s) => Ok((0, s.expose().to_vec())),
        ClientCredential::PskIdentity(i) => Ok((1, i.clone())),
        ClientCredential::RawPublicKey(pk) => Ok((2, public_key_to_bytes(pk)?)),
        _ => Err(Error::Unencodable("client credential kind")),
    }
}

pub(crate) fn credential_from_columns(kind: i64, value: Vec<u8>) -> Result<ClientCredential> {
    match kind {
        0 => Ok(ClientCredential::Secret(SecretBytes::new(value))),
        1 => Ok(ClientCredential::PskIdentity(value)),
        2 => Ok(ClientCredential::RawPublicKey(public_key_from_bytes(
            &value,
        )?)),
        _ => Err(Error::Corrupt("credential kind")),
    }
}

/// A token format as `[kind, alg, key, kid]` (`Sign1`: `[0, alg, key type, d, kid]`,
/// `Reference`: `[3, len]`). **Secret**: holds the AS signing key or the key shared with
/// the RS.
pub(crate) fn token_format_to_bytes(f: &TokenFormat) -> Result<Vec<u8>> {
    let v = match f {
        TokenFormat::Sign1 { alg, key, kid } => vec![
            int(0),
            int(alg.to_i64()),
            int(key_type_to_i64(key.key_type())?),
            Value::Bytes(key.expose().to_vec()),
            opt_bytes(kid.as_deref()),
        ],
        TokenFormat::Mac0 { alg, key, kid } => vec![
            int(1),
            int(alg.to_i64()),
            Value::Bytes(key.expose().to_vec()),
            opt_bytes(kid.as_deref()),
        ],
        TokenFormat::Encrypt0 { alg, key, kid } => vec![
            int(2),
            int(alg.to_i64()),
            Value::Bytes(key.expose().to_vec()),
            opt_bytes(kid.as_deref()),
        ],
        TokenFormat::Reference { len } => {
            vec![int(3), int(to_i64(*len as u64, "reference length")?)]
        }
        _ => return Err(Error::Unencodable("token format")),
    };
    value_to_bytes(&Value::Array(v))
}

pub(crate) fn token_format_from_bytes(b: &[u8]) -> Result<TokenFormat> {
    const W: &str = "token format";
    let a = as_array(b, W)?;
    let mut it = a.into_iter();
    let mut next = || it.next().ok_or(Error::Corrupt(W));
    let kind = as_int(&next()?, W)?;
    let f = match kind {
        0 => {
            let alg = alg_from(&next()?)?;
            let kt = key_type_from_i64(as_int(&next()?, W)?)?;
            let d = as_bytes(next()?, W)?;
            let key = PrivateKey::from_bytes(kt, &d).map_err(|_| Error::Corrupt(W))?;
            let kid = as_opt_bytes(next()?, W)?;
            TokenFormat::Sign1 { alg, key, kid }
        }
        1 | 2 => {
            let alg = alg_from(&next()?)?;
            let key = SecretBytes::new(as_bytes(next()?, W)?);
            let kid = as_opt_bytes(next()?, W)?;
            if kind == 1 {
                TokenFormat::Mac0 { alg, key, kid }
            } else {
                TokenFormat::Encrypt0 { alg, key, kid }
            }
        }
        3 => {
            let len = usize::try_from(as_int(&next()?, W)?).map_err(|_| Error::Corrupt(W))?;
            TokenFormat::Reference { len }
        }
        _ => return Err(Error::Corrupt(W)),
    };
    if it.next().is_some() {
        return Err(Error::Corrupt(W));
    }
    Ok(f)
}

/// Issue options as `[tagging, headers, external_aad]` (tagging: 0 CWT, 1 COSE, 2 none;
/// headers: 0 all protected, 1 kid and IV unprotected).
pub(crate) fn issue_options_to_bytes(o: &IssueOptions) -> Result<Vec<u8>> {
    let tagging = match o.tagging {
        Tagging::Cwt => 0,
        Tagging::Cose => 1,
        Tagging::Untagged => 2,
        _ => return Err(Error::Unencodable("tagging")),
    };
    let headers = match o.headers {
        HeaderPlacement::AllProtected => 0,
        HeaderPlacement::KidAndIvUnprotected => 1,
        _ => return Err(Error::Unencodable("header placement")),
    };
    value_to_bytes(&Value::Array(vec![
        int(tagging),
        int(headers),
        Value::Bytes(o.external_aad.clone()),
    ]))
}

pub(crate) fn issue_options_from_bytes(b: &[u8]) -> Result<IssueOptions> {
    const W: &str = "issue options";
    let a = as_array(b, W)?;
    let [t, h, aad]: [Value; 3] = a.try_into().map_err(|_| Error::Corrupt(W))?;
    let tagging = match as_int(&t, W)? {
        0 => Tagging::Cwt,
        1 => Tagging::Cose,
        2 => Tagging::Untagged,
        _ => return Err(Error::Corrupt(W)),
    };
    let headers = match as_int(&h, W)? {
        0 => HeaderPlacement::AllProtected,
        1 => HeaderPlacement::KidAndIvUnprotected,
        _ => return Err(Error::Corrupt(W)),
    };
    Ok(IssueOptions {
        tagging,
        headers,
        external_aad: as_bytes(aad, W)?,
    })
}

/// A key-encryption key as `[alg, key, kid]`. **Secret**.
pub(crate) fn kek_to_bytes(k: &KeyEncryption) -> Result<Vec<u8>> {
    value_to_bytes(&Value::Array(vec![
        int(k.alg.to_i64()),
        Value::Bytes(k.key.expose().to_vec()),
        opt_bytes(k.kid.as_deref()),
    ]))
}

pub(crate) fn kek_from_bytes(b: &[u8]) -> Result<KeyEncryption> {
    const W: &str = "key encryption";
    let a = as_array(b, W)?;
    let [alg, key, kid]: [Value; 3] = a.try_into().map_err(|_| Error::Corrupt(W))?;
    Ok(KeyEncryption {
        alg: alg_from(&alg)?,
        key: SecretBytes::new(as_bytes(key, W)?),
        kid: as_opt_bytes(kid, W)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        assert!(matches!(
            token_format_from_bytes(&[0x80]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            token_format_from_bytes(&[0xff]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            issue_options_from_bytes(&[0x82, 0x00, 0x00]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(public_key_from_bytes(&[]), Err(Error::Corrupt(_))));
        assert!(matches!(
            public_key_from_bytes(&[9, 1, 2]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            scope_from_columns(2, vec![]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            scope_from_columns(0, vec![0xff]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            binding_from_columns(5, vec![]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(to_u64(-1, "x"), Err(Error::Corrupt(_))));
        assert!(matches!(to_i64(u64::MAX, "x"), Err(Error::OutOfRange(_))));
        assert_eq!(clamp_time(UnixTime(u64::MAX)), i64::MAX);
    }

    #[test]
    fn token_formats_and_options_round_trip() {
        let kid = Some(b"k".to_vec());
        let formats = [
            TokenFormat::Mac0 {
                alg: Algorithm::HMAC_256_64,
                key: SecretBytes::from_slice(&[1; 32]),
                kid: kid.clone(),
            },
            TokenFormat::Encrypt0 {
                alg: Algorithm::AES_CCM_16_64_128,
                key: SecretBytes::from_slice(&[2; 16]),
                kid: None,
            },
            TokenFormat::Sign1 {
                alg: Algorithm::EdDSA,
                key: PrivateKey::from_bytes(KeyType::Ed25519, &[3; 32]).unwrap(),
                kid,
            },
            TokenFormat::Reference { len: 16 },
        ];
        for f in &formats {
            let b = token_format_to_bytes(f).unwrap();
            let back = token_format_from_bytes(&b).unwrap();
            // TokenFormat has no PartialEq: compare the re-encoding.
            assert_eq!(token_format_to_bytes(&back).unwrap(), b);
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(f),
                "{f:?}"
            );
        }
        let o = IssueOptions {
            tagging: Tagging::Cose,
            headers: HeaderPlacement::KidAndIvUnprotected,
            external_aad: vec![1, 2],
        };
        assert_eq!(
            issue_options_from_bytes(&issue_options_to_bytes(&o).unwrap()).unwrap(),
            o
        );
        let kek = KeyEncryption {
            alg: Algorithm::A128GCM,
            key: SecretBytes::from_slice(&[4; 16]),
            kid: Some(b"kek".to_vec()),
        };
        let back = kek_from_bytes(&kek_to_bytes(&kek).unwrap()).unwrap();
        assert_eq!((back.alg, back.key, back.kid), (kek.alg, kek.key, kek.kid));
    }
}
