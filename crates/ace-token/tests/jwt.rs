//! JWT front end: RFC 7515 / RFC 8037 vectors, one negative test per check, the same policy
//! outcome as CWTs for the same claims, and an issue → validate property test.

#![cfg(feature = "jwt")]

use ace_token::jwt::{Jws, JwsAlgorithm};
use ace_token::testing::{self, from_hex};
use ace_token::{
    AceProfile, Algorithm, Audience, ClaimsBuilder, Confirmation, Error, Issuer, JwtIssuer, KeySet,
    KeyType, Label, NumericDate, Policy, PopKey, PrivateKey, ProofOfPossession, ProtectionKind,
    PublicKey, RustCrypto, Scope, SecretBytes, TokenKey, UnixTime, Validator, Value,
    crypto::MacBackend,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

const NOW: UnixTime = UnixTime(1_700_000_000);
const HS_KEY: [u8; 32] = [0x42; 32];

fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

fn keys() -> KeySet {
    testing::key_set()
        .unwrap()
        .with(TokenKey::symmetric(HS_KEY.to_vec()).with_kid(*b"hs"))
}

fn policy() -> Policy {
    Policy::new("rs1").with_issuer("as")
}

fn validate(token: &[u8]) -> Result<ace_token::ValidatedToken, Error> {
    Validator::new(policy()).validate_jwt(token, NOW, &keys(), &RustCrypto)
}

/// A JWS with arbitrary header and payload text, HMACed with `HS_KEY`.
fn forge(header: &str, payload: &str) -> String {
    forge_bytes(header.as_bytes(), payload.as_bytes())
}

fn forge_bytes(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let tag = RustCrypto
        .mac(Algorithm::HMAC_256_256, &HS_KEY, input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(&tag))
}

const GOOD_CLAIMS: &str = r#"{"iss":"as","aud":"rs1","exp":1700003600,"nbf":1699999990}"#;
const GOOD_HEADER: &str = r#"{"alg":"HS256","kid":"hs"}"#;

// ---------------------------------------------------------------------------------------------
// Vectors
// ---------------------------------------------------------------------------------------------

const A1: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const A1_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const A3: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const RFC8037_A4: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
/// Before the examples' `exp` (1300819380).
const RFC_NOW: UnixTime = UnixTime(1_300_819_000);

fn joe_policy() -> Policy {
    let mut p = Policy::new("unused").with_issuer("joe").with_clock_skew(0);
    p.audiences.clear();
    p
}

fn check_joe(v: &ace_token::ValidatedToken) {
    let c = v.claims();
    assert_eq!(c.iss.as_deref(), Some("joe"));
    assert_eq!(c.exp, Some(NumericDate::Seconds(1_300_819_380)));
    assert_eq!(
        c.other(&Label::Text("http://example.com/is_root".into())),
        Some(&Value::Bool(true))
    );
    assert_eq!(v.protection(), ProtectionKind::Jws);
}

#[test]
fn rfc7515_a1_hs256() {
    let keys = KeySet::new().with(TokenKey::symmetric(unb64(A1_K)));
    let v = Validator::new(joe_policy())
        .validate_jwt(A1.as_bytes(), RFC_NOW, &keys, &RustCrypto)
        .unwrap();
    check_joe(&v);
    assert_eq!(v.algorithms(), [Algorithm::HMAC_256_256]);
    assert_eq!(
        Validator::new(joe_policy())
            .validate_jwt(A1.as_bytes(), UnixTime(1_300_819_380), &keys, &RustCrypto)
            .unwrap_err(),
        Error::Expired
    );
}

#[test]
fn rfc7515_a3_es256() {
    let pk = PublicKey::p256_from_coordinates(&unb64(A3_X), &unb64(A3_Y)).unwrap();
    let keys = KeySet::new().with(TokenKey::public(pk));
    let v = Validator::new(joe_policy())
        .validate_jwt(A3.as_bytes(), RFC_NOW, &keys, &RustCrypto)
        .unwrap();
    check_joe(&v);
    assert_eq!(v.algorithms(), [Algorithm::ES256]);
}

#[test]
fn rfc8037_a4_eddsa() {
    // The RFC 8037 key is the RFC 8032 TEST 1 key.
    assert_eq!(unb64(RFC8037_D), from_hex(testing::ED25519_SEED));
    assert_eq!(unb64(RFC8037_X), from_hex(testing::ED25519_PUB));
    let jws = Jws::parse(RFC8037_A4.as_bytes()).unwrap();
    assert_eq!(jws.header().alg, JwsAlgorithm::EdDSA);
    assert_eq!(jws.payload(), b"Example of Ed25519 signing");
    jws.verify_signature(&testing::ed25519_public().unwrap(), &RustCrypto)
        .unwrap();
    // Ed25519 is deterministic: our backend reproduces the RFC signature.
    let sig = ace_token::SignBackend::sign(
        &RustCrypto,
        Algorithm::EdDSA,
        &testing::ed25519_private().unwrap(),
        jws.signing_input(),
    )
    .unwrap();
    assert_eq!(b64(&sig), RFC8037_A4.rsplit('.').next().unwrap());
    // Its payload is not a claims set, so it is not a JWT.
    let keys = KeySet::new().with(TokenKey::public(testing::ed25519_public().unwrap()));
    assert_eq!(
        Validator::new(joe_policy())
            .validate_jwt(RFC8037_A4.as_bytes(), RFC_NOW, &keys, &RustCrypto)
            .unwrap_err(),
        Error::Malformed(ace_token::DecodeError::InvalidJson)
    );
    // A wrong key does not verify.
    assert_eq!(
        jws.verify_signature(&testing::es256_public().unwrap(), &RustCrypto),
        Err(Error::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------------
// Issuing
// ---------------------------------------------------------------------------------------------

#[test]
fn issue_and_validate_each_algorithm() {
    let claims = testing::claims_for(NOW);
    let issuer = JwtIssuer::new(&RustCrypto);
    let es = testing::es256_private().unwrap();
    let ed = testing::ed25519_private().unwrap();
    for (token, alg) in [
        (
            issuer.hs256(&claims, &HS_KEY, Some("hs")).unwrap(),
            Algorithm::HMAC_256_256,
        ),
        (
            issuer.es256(&claims, &es, Some("es256")).unwrap(),
            Algorithm::ES256,
        ),
        (
            issuer.eddsa(&claims, &ed, Some("ed25519")).unwrap(),
            Algorithm::EdDSA,
        ),
        (
            issuer.clone().at_jwt().eddsa(&claims, &ed, None).unwrap(),
            Algorithm::EdDSA,
        ),
    ] {
        assert!(ace_token::jwt::looks_like_jwt(token.as_bytes()));
        let v = validate(token.as_bytes()).unwrap();
        assert_eq!(v.claims(), &claims);
        assert_eq!(v.algorithms(), [alg]);
    }
    // Header layout.
    let t = issuer.hs256(&claims, &HS_KEY, Some("hs")).unwrap();
    let header = unb64(t.split('.').next().unwrap());
    assert_eq!(header, br#"{"alg":"HS256","kid":"hs","typ":"JWT"}"#);
    // Misuse: short HS256 key, key type vs algorithm.
    assert!(matches!(
        issuer.hs256(&claims, &[1; 16], None),
        Err(Error::Misuse(_))
    ));
    assert!(matches!(
        issuer.issue(
            &claims,
            JwsAlgorithm::HS256,
            ace_token::JwsKey::Private(&es),
            None
        ),
        Err(Error::Misuse(_))
    ));
    assert!(issuer.es256(&claims, &ed, None).is_err());
}

#[test]
fn mqtt_profile_claims() {
    // RFC 9431: scope = base64url (no padding) of the JSON AIF-MQTT array, handed out as is;
    // Ed25519 cnf as an OKP jwk (MQ-T17); ace_profile "mqtt_tls".
    let aif = br#"[["sensors/#",["pub","sub"]]]"#;
    let scope = b64(aif);
    let client = PrivateKey::generate(KeyType::Ed25519, &mut ace_token::crypto::os_rng());
    let client_pk = ace_token::CryptoBackend::public_key(&RustCrypto, &client).unwrap();
    let claims = ClaimsBuilder::new()
        .issuer("as")
        .audience("rs1")
        .expiration(NOW.saturating_add(60))
        .scope(Scope::Text(scope.clone()))
        .ace_profile(AceProfile::MQTT_TLS)
        .cnf(Confirmation::cose_key(PopKey::public(client_pk.clone())))
        .build();
    let token = JwtIssuer::new(&RustCrypto)
        .es256(&claims, &testing::es256_private().unwrap(), Some("es256"))
        .unwrap();
    let payload = String::from_utf8(unb64(token.split('.').nth(1).unwrap())).unwrap();
    assert!(payload.contains(r#""ace_profile":"mqtt_tls""#), "{payload}");
    assert!(
        payload.contains(r#""cnf":{"jwk":{"crv":"Ed25519","kty":"OKP","x":"#),
        "{payload}"
    );
    assert!(payload.contains(&format!(r#""scope":"{scope}""#)));
    let v = validate(token.as_bytes()).unwrap();
    assert_eq!(v.claims().scope, Some(Scope::Text(scope.clone())));
    assert_eq!(unb64(&scope), aif);
    assert_eq!(v.pop_key().unwrap().public_key(), Some(&client_pk));
    assert_eq!(v.claims().ace_profile, Some(AceProfile::MQTT_TLS));
}

#[test]
fn cnf_kid_and_symmetric_jwk() {
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1700003600,"cnf":{"kid":"client-key"}}"#,
    );
    let v = validate(t.as_bytes()).unwrap();
    assert_eq!(
        v.pop(),
        Some(&ProofOfPossession::Kid(b"client-key".to_vec()))
    );
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1700003600,"cnf":{"jwk":{"kty":"oct","k":"AQID"}}}"#,
    );
    let v = validate(t.as_bytes()).unwrap();
    assert_eq!(
        v.pop_key().unwrap().symmetric_key(),
        Some(&SecretBytes::new(vec![1, 2, 3]))
    );
    // cnf with only an unsupported method (jwe) is refused, as in CWTs.
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1700003600,"cnf":{"jwe":"x.y.z.a.b"}}"#,
    );
    assert!(matches!(
        validate(t.as_bytes()),
        Err(Error::Malformed(ace_token::DecodeError::Invalid(_)))
    ));
}

#[test]
fn exi_uses_jti() {
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exi":600,"jti":"rs1\u0005"}"#,
    );
    let p = policy().with_required_claims(&[]).with_exi_rs_id(*b"rs1");
    let v = Validator::new(p.clone())
        .validate_jwt(t.as_bytes(), NOW, &keys(), &RustCrypto)
        .unwrap();
    assert_eq!(v.exi_cti().unwrap().seq, 5);
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exi":600,"jti":"rs2\u0005"}"#,
    );
    assert_eq!(
        Validator::new(p)
            .validate_jwt(t.as_bytes(), NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::ExiCtiMalformed
    );
}

/// The JWT and CWT front ends run the same claim checks: equal claims give equal outcomes.
#[test]
fn same_policy_outcome_as_cwt() {
    let base = || {
        ClaimsBuilder::new()
            .issuer("as")
            .audience("rs1")
            .expiration(NOW.saturating_add(100))
    };
    let cases = [
        base().build(),
        base().audience("rs2").build(),
        base().issuer("other").build(),
        base().expiration(NOW.saturating_sub(61)).build(),
        base().expiration(NOW.saturating_sub(59)).build(),
        base().not_before(NOW.saturating_add(61)).build(),
        ClaimsBuilder::new().issuer("as").audience("rs1").build(),
        ClaimsBuilder::new()
            .audience("rs1")
            .expiration(NOW.saturating_add(1))
            .build(),
        base()
            .audiences(vec!["x".into(), "rs1".into()])
            .expiration(NumericDate::Fractional(1_699_999_940.5))
            .build(),
    ];
    let v = Validator::new(policy());
    for claims in cases {
        let cwt = Issuer::new(&RustCrypto)
            .mac0(&claims, Algorithm::HMAC_256_256, &HS_KEY, Some(b"hs"))
            .unwrap();
        let jwt = JwtIssuer::new(&RustCrypto)
            .hs256(&claims, &HS_KEY, Some("hs"))
            .unwrap();
        let a = v
            .validate(&cwt, NOW, &keys(), &RustCrypto)
            .map(|t| t.into_claims());
        let b = v
            .validate_jwt(jwt.as_bytes(), NOW, &keys(), &RustCrypto)
            .map(|t| t.into_claims());
        assert_eq!(a, b, "{claims:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// One negative test per check
// ---------------------------------------------------------------------------------------------

fn malformed(r: Result<ace_token::ValidatedToken, Error>) -> ace_token::DecodeError {
    match r {
        Err(Error::Malformed(e)) => e,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn good_forgery_baseline_validates() {
    // The negative tests below change one thing of this token.
    validate(forge(GOOD_HEADER, GOOD_CLAIMS).as_bytes()).unwrap();
}

#[test]
fn bad_signature_and_tag() {
    let claims = testing::claims_for(NOW);
    let issuer = JwtIssuer::new(&RustCrypto);
    let flip = |t: &str| {
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut sig = unb64(sig);
        sig[3] ^= 1;
        format!("{input}.{}", b64(&sig))
    };
    let hs = issuer.hs256(&claims, &HS_KEY, Some("hs")).unwrap();
    assert_eq!(validate(flip(&hs).as_bytes()).unwrap_err(), Error::BadTag);
    let es = issuer
        .es256(&claims, &testing::es256_private().unwrap(), Some("es256"))
        .unwrap();
    assert_eq!(
        validate(flip(&es).as_bytes()).unwrap_err(),
        Error::BadSignature
    );
    let ed = issuer
        .eddsa(
            &claims,
            &testing::ed25519_private().unwrap(),
            Some("ed25519"),
        )
        .unwrap();
    assert_eq!(
        validate(flip(&ed).as_bytes()).unwrap_err(),
        Error::BadSignature
    );
    // Payload changed after signing.
    let mut parts: Vec<String> = hs.split('.').map(String::from).collect();
    parts[1] = b64(br#"{"iss":"as","aud":"rs1","exp":1800000000}"#);
    assert_eq!(
        validate(parts.join(".").as_bytes()).unwrap_err(),
        Error::BadTag
    );
    // A short HS256 key in the resolver is never used.
    let short = KeySet::new().with(TokenKey::symmetric(vec![7; 16]));
    let t = {
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256"}"#),
            b64(GOOD_CLAIMS.as_bytes())
        );
        let tag = RustCrypto
            .mac(Algorithm::HMAC_256_256, &[7; 16], input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(&tag))
    };
    assert_eq!(
        Validator::new(policy())
            .validate_jwt(t.as_bytes(), NOW, &short, &RustCrypto)
            .unwrap_err(),
        Error::BadTag
    );
}

#[test]
fn alg_none_and_unsupported() {
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(GOOD_CLAIMS.as_bytes())
    );
    assert_eq!(
        validate(none.as_bytes()).unwrap_err(),
        Error::AlgorithmNotAccepted(coset::Algorithm::Text("none".into()))
    );
    for alg in ["HS512", "RS256", "hs256", "Ed25519"] {
        let t = forge(&format!(r#"{{"alg":"{alg}"}}"#), GOOD_CLAIMS);
        assert_eq!(
            validate(t.as_bytes()).unwrap_err(),
            Error::AlgorithmNotAccepted(coset::Algorithm::Text(alg.into()))
        );
    }
    assert_eq!(
        validate(forge(r#"{"kid":"hs"}"#, GOOD_CLAIMS).as_bytes()).unwrap_err(),
        Error::MissingAlgorithm
    );
    assert!(matches!(
        malformed(validate(forge(r#"{"alg":1}"#, GOOD_CLAIMS).as_bytes())),
        ace_token::DecodeError::WrongType { .. }
    ));
}

#[test]
fn alg_not_accepted_by_policy() {
    let t = forge(GOOD_HEADER, GOOD_CLAIMS);
    let p = policy().with_algorithms(&[Algorithm::ES256, Algorithm::HMAC_256_64]);
    assert_eq!(
        Validator::new(p)
            .validate_jwt(t.as_bytes(), NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::AlgorithmNotAccepted(coset::Algorithm::Assigned(Algorithm::HMAC_256_256))
    );
}

#[test]
fn crit_is_refused() {
    let t = forge(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, GOOD_CLAIMS);
    assert_eq!(
        validate(t.as_bytes()).unwrap_err(),
        Error::UnknownCriticalHeader(Label::Text("exp".into()))
    );
    for crit in ["[]", r#""exp""#, "[1]"] {
        let t = forge(&format!(r#"{{"alg":"HS256","crit":{crit}}}"#), GOOD_CLAIMS);
        malformed(validate(t.as_bytes()));
    }
    // RFC 7797 unencoded payloads need crit; b64:false alone is refused too.
    malformed(validate(
        forge(r#"{"alg":"HS256","b64":false}"#, GOOD_CLAIMS).as_bytes(),
    ));
}

#[test]
fn typ_and_cty() {
    for typ in ["JWT", "at+jwt", "application/at+jwt"] {
        let t = forge(&format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#), GOOD_CLAIMS);
        validate(t.as_bytes()).unwrap();
    }
    for typ in ["dpop+jwt", "JOSE", "secevent+jwt"] {
        let t = forge(&format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#), GOOD_CLAIMS);
        malformed(validate(t.as_bytes()));
    }
    let t = forge(r#"{"alg":"HS256","cty":"JWT"}"#, GOOD_CLAIMS);
    assert_eq!(
        validate(t.as_bytes()).unwrap_err(),
        Error::NestingNotAllowed
    );
    let t = forge(r#"{"alg":"HS256","cty":"json"}"#, GOOD_CLAIMS);
    malformed(validate(t.as_bytes()));
}

#[test]
fn wrong_audience_issuer_and_missing_claims() {
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":["rs2","rs3"],"exp":1700003600}"#,
    );
    assert_eq!(validate(t.as_bytes()).unwrap_err(), Error::AudienceMismatch);
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"evil","aud":"rs1","exp":1700003600}"#,
    );
    assert_eq!(validate(t.as_bytes()).unwrap_err(), Error::IssuerMismatch);
    let t = forge(GOOD_HEADER, r#"{"iss":"as","aud":"rs1"}"#);
    assert_eq!(
        validate(t.as_bytes()).unwrap_err(),
        Error::MissingClaim(Label::Int(4))
    );
    let t = forge(GOOD_HEADER, r#"{"iss":"as","exp":1700003600}"#);
    assert_eq!(
        validate(t.as_bytes()).unwrap_err(),
        Error::MissingClaim(Label::Int(3))
    );
    // A text claim required by name is found in `rest`.
    let p = policy().with_required_claims(&[Label::Text("client_id".into())]);
    let t = forge(GOOD_HEADER, GOOD_CLAIMS);
    assert_eq!(
        Validator::new(p.clone())
            .validate_jwt(t.as_bytes(), NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::MissingClaim(Label::Text("client_id".into()))
    );
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1700003600,"client_id":"c"}"#,
    );
    Validator::new(p)
        .validate_jwt(t.as_bytes(), NOW, &keys(), &RustCrypto)
        .unwrap();
}

#[test]
fn expired_and_not_yet_valid_at_the_skew_boundaries() {
    // Skew 60 s: valid while now < exp + 60; valid when now + 60 >= nbf.
    let exp = |e: u64| {
        forge(
            GOOD_HEADER,
            &format!(r#"{{"iss":"as","aud":"rs1","exp":{e}}}"#),
        )
    };
    validate(exp(NOW.0 - 59).as_bytes()).unwrap();
    assert_eq!(
        validate(exp(NOW.0 - 60).as_bytes()).unwrap_err(),
        Error::Expired
    );
    let nbf = |n: u64| {
        forge(
            GOOD_HEADER,
            &format!(r#"{{"iss":"as","aud":"rs1","exp":1800000000,"nbf":{n}}}"#),
        )
    };
    validate(nbf(NOW.0 + 60).as_bytes()).unwrap();
    assert_eq!(
        validate(nbf(NOW.0 + 61).as_bytes()).unwrap_err(),
        Error::NotYetValid
    );
    // Fractional dates compare by their ceiling, as in CWTs.
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1699999940.5}"#,
    );
    validate(t.as_bytes()).unwrap();
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1699999939.5}"#,
    );
    assert_eq!(validate(t.as_bytes()).unwrap_err(), Error::Expired);
}

#[test]
fn unknown_key() {
    let t = forge(r#"{"alg":"HS256","kid":"nobody"}"#, GOOD_CLAIMS);
    assert_eq!(validate(t.as_bytes()).unwrap_err(), Error::UnknownKey);
    // A key bound to issuer "as" is not offered for a token claiming another issuer.
    let bound = KeySet::new().with(TokenKey::symmetric(HS_KEY.to_vec()).with_issuer("as"));
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"other","aud":"rs1","exp":1700003600}"#,
    );
    let mut p = policy();
    p.issuers.clear();
    assert_eq!(
        Validator::new(p)
            .validate_jwt(t.as_bytes(), NOW, &bound, &RustCrypto)
            .unwrap_err(),
        Error::UnknownKey
    );
}

#[test]
fn base64_padding_and_segments() {
    let good = forge(GOOD_HEADER, GOOD_CLAIMS);
    let parts: Vec<&str> = good.split('.').collect();
    // `{"alg":"HS256","kid":"hs"}` is 26 bytes: its base64url has a partial last quantum.
    assert_ne!(parts[0].len() % 4, 0);
    let padded = format!("{}==.{}.{}", parts[0], parts[1], parts[2]);
    assert_eq!(
        malformed(validate(padded.as_bytes())),
        ace_token::DecodeError::InvalidBase64
    );
    for bad in [
        format!("{}.{}*.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}+", parts[0], parts[1], parts[2]),
        format!("{} .{}.{}", parts[0], parts[1], parts[2]),
        format!("{good}\n"),
        format!("{good} "),
        // Non-zero trailing bits: a 32-byte tag is 43 characters whose last one carries two
        // zero bits; setting one gives a non-canonical encoding of the same bytes.
        {
            const ALPHABET: &str =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut s = parts[2].to_string();
            assert_eq!(s.len(), 43);
            let idx = ALPHABET.find(s.pop().unwrap()).unwrap();
            assert_eq!(idx & 3, 0);
            s.push(ALPHABET.as_bytes()[idx | 1] as char);
            format!("{}.{}.{s}", parts[0], parts[1])
        },
    ] {
        assert_eq!(
            malformed(validate(bad.as_bytes())),
            ace_token::DecodeError::InvalidBase64,
            "{bad:?}"
        );
    }
    for bad in [
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.{}", parts[2]),
        format!("{good}."),
        // JWE compact (five segments).
        format!(
            "{}.{}.{}.{}.{}",
            parts[0], parts[1], parts[2], parts[1], parts[2]
        ),
        String::new(),
    ] {
        assert_eq!(
            malformed(validate(bad.as_bytes())),
            ace_token::DecodeError::Invalid("JWS compact: not three segments"),
            "{bad:?}"
        );
    }
}

#[test]
fn duplicate_members() {
    let t = forge(r#"{"alg":"HS256","alg":"HS256"}"#, GOOD_CLAIMS);
    assert_eq!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::DuplicateKey
    );
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1700003600,"exp":1800000000}"#,
    );
    assert_eq!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::DuplicateKey
    );
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":1700003600,"cnf":{"jwk":{"kty":"oct","k":"AQ","k":"Ag"}}}"#,
    );
    assert_eq!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::DuplicateKey
    );
}

#[test]
fn not_utf8_not_json_trailing_json() {
    let t = forge_bytes(
        b"{\"alg\":\"HS256\",\"x\":\"\xff\"}",
        GOOD_CLAIMS.as_bytes(),
    );
    assert_eq!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::InvalidUtf8
    );
    let t = forge_bytes(GOOD_HEADER.as_bytes(), b"{\"iss\":\"\xc3\x28\"}");
    assert_eq!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::InvalidUtf8
    );
    for payload in [
        format!("{GOOD_CLAIMS}x"),
        format!("{GOOD_CLAIMS}{{}}"),
        String::new(),
        "[1]".into(),
    ] {
        let t = forge(GOOD_HEADER, &payload);
        assert!(
            matches!(validate(t.as_bytes()), Err(Error::Malformed(_))),
            "{payload}"
        );
    }
    let t = forge(&format!("{GOOD_HEADER} x"), GOOD_CLAIMS);
    assert_eq!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::InvalidJson
    );
    // Wrongly typed registered claims.
    let t = forge(
        GOOD_HEADER,
        r#"{"iss":"as","aud":"rs1","exp":"1700003600"}"#,
    );
    assert!(matches!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::WrongType { what: "exp", .. }
    ));
}

#[test]
fn wrong_signature_length() {
    let good = forge(GOOD_HEADER, GOOD_CLAIMS);
    let (input, sig) = good.rsplit_once('.').unwrap();
    let sig = unb64(sig);
    for s in [&sig[..31], &[sig.as_slice(), &[0]].concat()[..], &[][..]] {
        let t = format!("{input}.{}", b64(s));
        assert_eq!(
            malformed(validate(t.as_bytes())),
            ace_token::DecodeError::Invalid("JWS signature length")
        );
    }
    // An ES256 header with an HS256-sized signature.
    let t = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"ES256"}"#),
        b64(GOOD_CLAIMS.as_bytes()),
        b64(&[0; 32])
    );
    assert_eq!(
        malformed(validate(t.as_bytes())),
        ace_token::DecodeError::Invalid("JWS signature length")
    );
}

#[test]
fn oversized() {
    let t = forge(GOOD_HEADER, GOOD_CLAIMS);
    let p = policy().with_max_size(t.len() - 1);
    assert_eq!(
        Validator::new(p)
            .validate_jwt(t.as_bytes(), NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::TooLarge {
            size: t.len(),
            max: t.len() - 1
        }
    );
    let p = policy().with_max_size(t.len());
    Validator::new(p)
        .validate_jwt(t.as_bytes(), NOW, &keys(), &RustCrypto)
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Property: issue → validate gives the same claims
// ---------------------------------------------------------------------------------------------

mod prop {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::option;
    use proptest::prelude::*;

    fn date_after(now: UnixTime) -> impl Strategy<Value = NumericDate> {
        let n = i64::try_from(now.0).unwrap();
        prop_oneof![
            (1i64..1_000_000_000).prop_map(move |d| NumericDate::Seconds(n + d)),
            (1.0f64..1.0e9).prop_map(move |d| NumericDate::Fractional(n as f64 + d)),
        ]
    }

    fn date_before(now: UnixTime) -> impl Strategy<Value = NumericDate> {
        let n = i64::try_from(now.0).unwrap();
        prop_oneof![
            any::<i64>().prop_map(move |d| NumericDate::Seconds(d.min(n))),
            (-1.0e12f64..1.0e9).prop_map(NumericDate::Fractional),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1.0e300f64..1.0e300).prop_map(Value::Float),
            ".{0,10}".prop_map(Value::Text),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Array),
                btree_map(".{0,6}", inner, 0..4).prop_map(|m| Value::Map(
                    m.into_iter().map(|(k, v)| (Value::Text(k), v)).collect()
                )),
            ]
        })
    }

    fn pop_key() -> impl Strategy<Value = PopKey> {
        let material = prop_oneof![
            vec(any::<u8>(), 1..33).prop_map(|k| PopKey::symmetric(SecretBytes::new(k))),
            any::<[u8; 32]>().prop_filter_map("P-256 scalar in range", |d| {
                let sk = PrivateKey::from_bytes(KeyType::P256, &d).ok()?;
                Some(PopKey::public(
                    ace_token::CryptoBackend::public_key(&RustCrypto, &sk).ok()?,
                ))
            }),
            any::<[u8; 32]>().prop_map(|seed| {
                let sk = PrivateKey::from_bytes(KeyType::Ed25519, &seed).unwrap();
                PopKey::public(ace_token::CryptoBackend::public_key(&RustCrypto, &sk).unwrap())
            }),
            any::<[u8; 32]>().prop_map(|x| PopKey::public(PublicKey::x25519(x))),
        ];
        let alg = prop_oneof![
            Just(None),
            Just(Some(Algorithm::ES256)),
            Just(Some(Algorithm::EdDSA)),
            Just(Some(Algorithm::HMAC_256_256)),
        ];
        (material, option::of(".{1,8}"), alg, any::<bool>()).prop_map(|(mut k, kid, alg, ops)| {
            k.kid = kid.map(String::into_bytes);
            if let Some(a) = alg {
                k = k.with_alg(a);
            }
            if ops {
                k.key_ops.insert(coset::KeyOperation::Assigned(
                    coset::iana::KeyOperation::Verify,
                ));
            }
            k
        })
    }

    fn cnf() -> impl Strategy<Value = Confirmation> {
        prop_oneof![
            pop_key().prop_map(Confirmation::cose_key),
            ".{1,8}".prop_map(|k: String| Confirmation::kid(k.into_bytes())),
        ]
    }

    prop_compose! {
        fn claims()(
            iss in option::of(".{0,12}"),
            sub in option::of(".{0,12}"),
            aud in prop_oneof![
                ".{0,8}".prop_map(Audience::Single),
                vec(".{0,8}", 1..4).prop_map(Audience::Multiple),
            ],
            exp in option::of(date_after(NOW)),
            nbf in option::of(date_before(NOW)),
            iat in option::of(date_before(NOW)),
            cti in option::of(".{0,12}"),
            cnf in option::of(cnf()),
            scope in option::of(".{0,16}"),
            profile in option::of(1i64..=5),
            cnonce in option::of(vec(any::<u8>(), 0..16)),
            rest in btree_map("x-.{0,6}", json_value(), 0..4),
        ) -> ace_token::Claims {
            ace_token::Claims {
                iss,
                sub,
                aud: Some(aud),
                exp,
                nbf,
                iat,
                cti: cti.map(String::into_bytes),
                cnf,
                scope: scope.map(Scope::Text),
                ace_profile: profile.map(AceProfile),
                cnonce,
                exi: None,
                rest: rest.into_iter().map(|(k, v)| (Label::Text(k), v)).collect(),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn issue_then_validate(c in claims(), which in 0usize..3) {
            let mut p = Policy::new("x").with_required_claims(&[]);
            p.audiences.clear();
            let issuer = JwtIssuer::new(&RustCrypto);
            let token = match which {
                0 => issuer.hs256(&c, &HS_KEY, Some("hs")).unwrap(),
                1 => issuer.es256(&c, &testing::es256_private().unwrap(), Some("es256")).unwrap(),
                _ => issuer.eddsa(&c, &testing::ed25519_private().unwrap(), Some("ed25519")).unwrap(),
            };
            let v = Validator::new(p).validate_jwt(token.as_bytes(), NOW, &keys(), &RustCrypto).unwrap();
            prop_assert_eq!(v.claims(), &c);
            // The claims codec alone round-trips byte-exactly.
            let json = c.to_json().unwrap();
            prop_assert_eq!(ace_token::Claims::from_json(&json).unwrap().to_json().unwrap(), json);
        }

        #[test]
        fn arbitrary_input_never_validates(s in "[A-Za-z0-9_.-]{0,200}", bytes in vec(any::<u8>(), 0..200)) {
            prop_assert!(validate(s.as_bytes()).is_err());
            prop_assert!(validate(&bytes).is_err());
            // The claims decoder alone: whatever decodes re-encodes to a fixed point.
            if let Ok(c) = ace_token::Claims::from_json(&bytes) {
                let json = c.to_json().unwrap();
                prop_assert_eq!(ace_token::Claims::from_json(&json).unwrap(), c);
            }
        }
    }
}
