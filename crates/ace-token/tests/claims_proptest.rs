//! Property tests: the claims codec round-trips, is deterministic, and decoding arbitrary bytes
//! (claims or whole tokens) never panics.

use ace_token::testing;
use ace_token::{
    AceProfile, Audience, Claims, CnfKey, Confirmation, CryptoBackend, KeyType, Label, NumericDate,
    OscoreInputMaterial, Policy, PopKey, PrivateKey, PublicKey, RustCrypto, Scope, SecretBytes,
    UnixTime, Validator, Value,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

fn date() -> impl Strategy<Value = NumericDate> {
    prop_oneof![
        any::<i64>().prop_map(NumericDate::Seconds),
        (-1.0e12f64..1.0e12).prop_map(NumericDate::Fractional),
    ]
}

fn audience() -> impl Strategy<Value = Audience> {
    prop_oneof![
        ".{0,12}".prop_map(Audience::Single),
        vec(".{0,8}", 1..4).prop_map(Audience::Multiple),
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        ".{0,16}".prop_map(Scope::Text),
        bytes().prop_map(Scope::Binary)
    ]
}

fn pop_key() -> impl Strategy<Value = PopKey> {
    let material = prop_oneof![
        vec(any::<u8>(), 1..33).prop_map(|k| PopKey::symmetric(SecretBytes::new(k))),
        any::<[u8; 32]>().prop_filter_map("P-256 scalar in range", |d| {
            let sk = PrivateKey::from_bytes(KeyType::P256, &d).ok()?;
            Some(PopKey::public(
                CryptoBackend::public_key(&RustCrypto, &sk).ok()?,
            ))
        }),
        any::<[u8; 32]>().prop_map(|seed| {
            let sk = PrivateKey::from_bytes(KeyType::Ed25519, &seed).unwrap();
            PopKey::public(CryptoBackend::public_key(&RustCrypto, &sk).unwrap())
        }),
        any::<[u8; 32]>().prop_map(|x| PopKey::public(PublicKey::x25519(x))),
    ];
    (material, option::of(vec(any::<u8>(), 1..8)), any::<bool>()).prop_map(|(mut k, kid, alg)| {
        k.kid = kid;
        if alg {
            k = k.with_alg(ace_token::Algorithm::ES256);
        }
        k
    })
}

fn osc() -> impl Strategy<Value = OscoreInputMaterial> {
    (
        option::of(bytes()),
        option::of(any::<u64>()),
        option::of(vec(any::<u8>(), 1..32)),
        any::<bool>(),
        option::of(bytes()),
        option::of(bytes()),
    )
        .prop_map(
            |(id, version, ms, algs, salt, context_id)| OscoreInputMaterial {
                id,
                version,
                ms: ms.map(SecretBytes::new),
                hkdf: algs.then_some(coset::Algorithm::Assigned(
                    ace_token::Algorithm::HMAC_256_256,
                )),
                alg: algs.then(|| coset::Algorithm::Text("AES-CCM-16-64-128".into())),
                salt,
                context_id,
                rest: Vec::new(),
            },
        )
}

fn cnf() -> impl Strategy<Value = Confirmation> {
    let key = prop_oneof![
        Just(None),
        pop_key().prop_map(|k| Some(CnfKey::CoseKey(k))),
        osc().prop_map(|m| Some(CnfKey::Osc(m))),
    ];
    (key, option::of(bytes())).prop_filter_map("cnf must not be empty", |(key, kid)| {
        (key.is_some() || kid.is_some()).then_some(Confirmation {
            key,
            kid,
            rest: Vec::new(),
        })
    })
}

fn simple_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::Text),
        bytes().prop_map(Value::Bytes),
        any::<bool>().prop_map(Value::Bool),
    ]
}

/// Unknown claims in canonical key order (what decoding a canonical encoding yields).
fn rest() -> impl Strategy<Value = Vec<(Label, Value)>> {
    let int_keys = btree_map(
        (-1000i64..1000).prop_filter("not a modelled claim", |k| {
            !ace_token::claims::is_modelled(&Label::Int(*k))
        }),
        simple_value(),
        0..4,
    );
    let text_keys = btree_map("[a-z]{1,6}", simple_value(), 0..3);
    (int_keys, text_keys).prop_map(|(i, t)| {
        let mut v: Vec<(Label, Value)> = i
            .into_iter()
            .map(|(k, v)| (Label::Int(k), v))
            .chain(t.into_iter().map(|(k, v)| (Label::Text(k), v)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    })
}

prop_compose! {
    fn claims()(
        iss in option::of(".{0,12}"),
        sub in option::of(".{0,12}"),
        aud in option::of(audience()),
        exp in option::of(date()),
        nbf in option::of(date()),
        iat in option::of(date()),
        cti in option::of(bytes()),
        cnf in option::of(cnf()),
        scope in option::of(scope()),
        ace_profile in option::of(any::<i64>().prop_map(AceProfile)),
        cnonce in option::of(bytes()),
        exi in option::of(any::<u64>()),
        rest in rest(),
    ) -> Claims {
        Claims { iss, sub, aud, exp, nbf, iat, cti, cnf, scope, ace_profile, cnonce, exi, rest }
    }
}

proptest! {
    #[test]
    fn claims_roundtrip(c in claims()) {
        let bytes = c.to_cbor().unwrap();
        let back = Claims::from_cbor(&bytes).unwrap();
        prop_assert_eq!(&back, &c);
        // Deterministic: encoding the decoded set gives the same bytes.
        prop_assert_eq!(back.to_cbor().unwrap(), bytes);
    }

    #[test]
    fn claims_decoder_never_panics(data in vec(any::<u8>(), 0..256)) {
        let _ = Claims::from_cbor(&data);
    }

    #[test]
    fn validator_never_panics_and_mutations_never_validate(flip in 0usize..400, bit in 0u8..8, data in vec(any::<u8>(), 0..128)) {
        let keys = testing::key_set().unwrap();
        let v = Validator::new(Policy::new("rs1"));
        let _ = v.validate(&data, UnixTime(1_700_000_000), &keys, &RustCrypto);
        // Flipping any single bit of a valid MACed token makes it fail.
        let now = UnixTime(1_700_000_000);
        let token = ace_token::Issuer::new(&RustCrypto)
            .mac0(&testing::claims_for(now), ace_token::Algorithm::HMAC_256_64, &testing::from_hex(testing::HMAC_KEY), None)
            .unwrap();
        let mut t = token.clone();
        let i = flip % t.len();
        t[i] ^= 1 << bit;
        prop_assert!(v.validate(&t, now, &keys, &RustCrypto).is_err(), "mutated byte {} bit {}", i, bit);
    }
}
