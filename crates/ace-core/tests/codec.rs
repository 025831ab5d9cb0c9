//! Round trips (proptest) for every message, and a negative test for every decode error.

use ace_core::{
    AceProfile, AuthzInfoRequest, AuthzInfoResponse, CoapCode, Confirmation, ContentFormat,
    CreationHints, Error, ErrorCode, ErrorResponse, GrantType, IntrospectionRequest,
    IntrospectionResponse, Label, MapKey, NumericDate, Scope, TokenRequest, TokenResponse,
    TokenType, TokenTypeHint, Value,
};
use proptest::prelude::*;

fn opt<T: core::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(s)
}
fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,12}"
}
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..12)
}
fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        text().prop_map(Scope::Text),
        bytes().prop_map(Scope::Binary)
    ]
}
fn cnf() -> impl Strategy<Value = Confirmation> {
    proptest::collection::vec(any::<u8>(), 1..8).prop_map(Confirmation::kid)
}
/// Extension entries with labels no message models (100..200 and text).
fn rest() -> impl Strategy<Value = Vec<(Label, Value)>> {
    proptest::collection::btree_map(
        prop_oneof![
            (100i64..200).prop_map(Label::Int),
            "x[a-z]{1,4}".prop_map(Label::Text)
        ],
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            bytes().prop_map(Value::Bytes)
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}
fn sorted(mut r: Vec<(Label, Value)>) -> Vec<(Label, Value)> {
    // Decoding keeps wire order, which is the deterministic order of the encoder.
    r.sort_by_key(|(l, _)| {
        let v = match l {
            Label::Int(i) => Value::from(*i),
            Label::Text(s) => Value::Text(s.clone()),
        };
        let mut b = Vec::new();
        coset::cbor::ser::into_writer(&v, &mut b).unwrap();
        b
    });
    r
}

prop_compose! {
    fn token_request()(
        grant_type in opt(any::<i64>().prop_map(GrantType)), client_id in opt(text()),
        client_secret in opt(bytes()), audience in opt(text()), scope in opt(scope()),
        req_cnf in opt(cnf()), ace_profile_requested in any::<bool>(), cnonce in opt(bytes()),
        code in opt(bytes()), redirect_uri in opt(text()), username in opt(text()),
        password in opt(text()), refresh_token in opt(bytes()), rest in rest(),
    ) -> TokenRequest {
        TokenRequest { grant_type, client_id, client_secret, audience, scope, req_cnf,
            ace_profile_requested, cnonce, code, redirect_uri, username, password,
            refresh_token, rest: sorted(rest) }
    }
}

prop_compose! {
    fn token_response()(
        access_token in bytes(), token_type in opt(any::<i64>().prop_map(TokenType)),
        expires_in in opt(any::<u64>()), refresh_token in opt(bytes()), scope in opt(scope()),
        state in opt(text()), ace_profile in opt(any::<i64>().prop_map(AceProfile)),
        cnf in opt(cnf()), rs_cnf in opt(cnf()), rest in rest(),
    ) -> TokenResponse {
        TokenResponse { access_token, token_type, expires_in, refresh_token, scope, state,
            ace_profile, cnf, rs_cnf, rest: sorted(rest) }
    }
}

fn date() -> impl Strategy<Value = NumericDate> {
    prop_oneof![
        any::<i64>().prop_map(NumericDate::Seconds),
        (-1e12f64..1e12).prop_map(NumericDate::Fractional)
    ]
}

prop_compose! {
    fn introspection_response()(
        active in any::<bool>(), iss in opt(text()), sub in opt(text()), aud in opt(text()),
        exp in opt(date()), nbf in opt(date()), iat in opt(date()), cti in opt(bytes()),
        scope in opt(scope()), client_id in opt(text()),
        token_type in opt(any::<i64>().prop_map(TokenType)), username in opt(text()),
        ace_profile in opt(any::<i64>().prop_map(AceProfile)), cnonce in opt(bytes()),
        exi in opt(any::<u64>()), cnf in opt(cnf()), rs_cnf in opt(cnf()), rest in rest(),
    ) -> IntrospectionResponse {
        IntrospectionResponse { active, iss, sub, aud, exp, nbf, iat, cti, scope, client_id,
            token_type, username, ace_profile, cnonce, exi, cnf, rs_cnf, rest: sorted(rest) }
    }
}

proptest! {
    #[test]
    fn token_request_cbor(r in token_request()) {
        prop_assert_eq!(TokenRequest::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn token_response_cbor(r in token_response()) {
        prop_assert_eq!(TokenResponse::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn error_response_cbor(
        e in any::<i64>(), d in opt(text()), u in opt(text()), rest in rest()
    ) {
        let r = ErrorResponse { error: ErrorCode(e), error_description: d, error_uri: u, rest: sorted(rest) };
        prop_assert_eq!(ErrorResponse::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn introspection_request_cbor(
        token in bytes(),
        hint in opt(prop_oneof![text().prop_map(TokenTypeHint::Text), any::<i64>().prop_map(TokenTypeHint::Int)]),
        client_id in opt(text()), rest in rest()
    ) {
        let r = IntrospectionRequest { token, token_type_hint: hint, client_id, rest: sorted(rest) };
        prop_assert_eq!(IntrospectionRequest::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn introspection_response_cbor(r in introspection_response()) {
        prop_assert_eq!(IntrospectionResponse::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn creation_hints_cbor(
        as_uri in opt(text()), kid in opt(bytes()), audience in opt(text()),
        scope in opt(scope()), cnonce in opt(bytes()), rest in rest()
    ) {
        let h = CreationHints { as_uri, kid, audience, scope, cnonce, rest: sorted(rest) };
        prop_assert_eq!(CreationHints::decode(&h.encode().unwrap()).unwrap(), h);
    }

    #[test]
    fn authz_info_cbor(token in proptest::collection::vec(any::<u8>(), 1..40), rest in rest()) {
        let raw = AuthzInfoRequest::Token(token.clone());
        prop_assert_eq!(AuthzInfoRequest::decode(Some(ContentFormat::CWT), &raw.encode().unwrap()).unwrap(), raw);
        let map = AuthzInfoRequest::Params { access_token: token, rest: sorted(rest.clone()) };
        let cf = map.content_format(ContentFormat::CWT);
        prop_assert_eq!(cf, ContentFormat::ACE_CBOR);
        prop_assert_eq!(AuthzInfoRequest::decode(Some(cf), &map.encode().unwrap()).unwrap(), map);
        let resp = AuthzInfoResponse { rest: sorted(rest) };
        prop_assert_eq!(AuthzInfoResponse::decode(&resp.encode().unwrap()).unwrap(), resp);
    }

    /// JSON and form: the values that have a JSON form (registered grant types, text
    /// scope, UTF-8 secrets and codes, no extensions).
    #[test]
    fn token_request_json_and_form(
        g in opt(0i64..4), client_id in opt(text()), secret in opt(text()),
        audience in opt(text()), scope in opt(text()), req_cnf in opt(cnf()),
        ace_profile_requested in any::<bool>(), cnonce in opt(bytes()), code in opt(text()),
        redirect_uri in opt(text()), username in opt(text()), password in opt(text()),
        refresh_token in opt(bytes()),
    ) {
        let r = TokenRequest {
            grant_type: g.map(GrantType), client_id, client_secret: secret.map(String::into_bytes),
            audience, scope: scope.map(Scope::Text), req_cnf, ace_profile_requested, cnonce,
            code: code.map(String::into_bytes), redirect_uri, username, password, refresh_token,
            rest: vec![],
        };
        prop_assert_eq!(TokenRequest::from_json(r.to_json().unwrap().as_bytes()).unwrap(), r.clone());
        prop_assert_eq!(TokenRequest::from_form(r.to_form().unwrap().as_bytes()).unwrap(), r);
    }

    #[test]
    fn token_response_json(
        access_token in bytes(), t in opt(1i64..3), expires_in in opt(any::<u64>()),
        refresh_token in opt(bytes()), scope in opt(text()), state in opt(text()),
        ace_profile in opt(prop_oneof![Just(1i64), Just(2), any::<i64>()]),
        cnf in opt(cnf()), rs_cnf in opt(cnf()),
    ) {
        let r = TokenResponse {
            access_token, token_type: t.map(TokenType), expires_in, refresh_token,
            scope: scope.map(Scope::Text), state, ace_profile: ace_profile.map(AceProfile),
            cnf, rs_cnf, rest: vec![],
        };
        prop_assert_eq!(TokenResponse::from_json(r.to_json().unwrap().as_bytes()).unwrap(), r);
    }

    #[test]
    fn error_response_json(e in 1i64..9, d in opt(text()), u in opt(text())) {
        let r = ErrorResponse { error: ErrorCode(e), error_description: d, error_uri: u, rest: vec![] };
        prop_assert_eq!(ErrorResponse::from_json(r.to_json().unwrap().as_bytes()).unwrap(), r);
    }

    /// No input makes a decoder panic.
    #[test]
    fn decoders_total(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = TokenRequest::decode(&b);
        let _ = TokenResponse::decode(&b);
        let _ = ErrorResponse::decode(&b);
        let _ = IntrospectionRequest::decode(&b);
        let _ = IntrospectionResponse::decode(&b);
        let _ = CreationHints::decode(&b);
        let _ = AuthzInfoRequest::decode(Some(ContentFormat::ACE_CBOR), &b);
        let _ = AuthzInfoResponse::decode(&b);
        let _ = TokenRequest::from_json(&b);
        let _ = TokenRequest::from_form(&b);
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn too_large() {
    let big = vec![0u8; ace_core::consts::limits::MAX_MESSAGE_SIZE + 1];
    assert_eq!(
        TokenRequest::decode(&big).unwrap_err(),
        Error::TooLarge {
            len: big.len(),
            max: ace_core::consts::limits::MAX_MESSAGE_SIZE
        }
    );
    assert!(matches!(
        CreationHints::decode_with_limit(&h("a0"), 0),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        AuthzInfoRequest::decode(None, &big),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        TokenRequest::from_json(&big),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn empty_payload() {
    assert_eq!(TokenRequest::decode(&[]).unwrap_err(), Error::EmptyPayload);
    assert_eq!(
        AuthzInfoRequest::decode(Some(ContentFormat::CWT), &[]).unwrap_err(),
        Error::EmptyPayload
    );
    assert_eq!(
        AuthzInfoResponse::decode(&[]).unwrap(),
        AuthzInfoResponse::default()
    );
}

#[test]
fn truncated_malformed_too_deep_trailing() {
    // map(2) with only one entry
    assert_eq!(
        TokenRequest::decode(&h("a20561")).unwrap_err(),
        Error::Truncated
    );
    // reserved additional info 28
    assert_eq!(
        TokenRequest::decode(&h("1c")).unwrap_err(),
        Error::MalformedCbor
    );
    // 300 nested arrays
    let deep: Vec<u8> = core::iter::repeat_n(0x81, 300).chain([0x00]).collect();
    assert_eq!(
        IntrospectionRequest::decode(&deep).unwrap_err(),
        Error::TooDeep
    );
    assert_eq!(
        ErrorResponse::decode(&h("a1181e0100")).unwrap_err(),
        Error::TrailingBytes
    );
}

#[test]
fn not_a_map_and_invalid_key() {
    assert_eq!(
        TokenResponse::decode(&h("80")).unwrap_err(),
        Error::NotAMap("token response")
    );
    assert_eq!(
        CreationHints::decode(&h("a14101f6")).unwrap_err(),
        Error::InvalidKey
    );
    // key beyond i64
    assert_eq!(
        CreationHints::decode(&h("a11bffffffffffffffff00")).unwrap_err(),
        Error::InvalidKey
    );
}

#[test]
fn duplicate_keys() {
    assert_eq!(
        TokenRequest::decode(&h("a2056161056162")).unwrap_err(),
        Error::DuplicateKey(MapKey::Int(5))
    );
    // duplicate unknown text keys are refused too
    assert_eq!(
        CreationHints::decode(&h("a2617801617801")).unwrap_err(),
        Error::DuplicateKey(MapKey::Text("x".into()))
    );
    assert_eq!(
        TokenRequest::from_json(br#"{"client_id":"a","client_id":"b"}"#).unwrap_err(),
        Error::DuplicateKey(MapKey::Text("client_id".into()))
    );
    assert_eq!(
        TokenRequest::from_form(b"scope=a&scope=b").unwrap_err(),
        Error::DuplicateKey(MapKey::Text("scope".into()))
    );
}

#[test]
fn wrong_types() {
    let wt = |param, expected| Error::WrongType { param, expected };
    assert_eq!(
        TokenRequest::decode(&h("a10501")).unwrap_err(),
        wt("audience", "text string")
    );
    assert_eq!(
        TokenRequest::decode(&h("a1182701")).unwrap_err(),
        wt("cnonce", "byte string")
    );
    assert_eq!(
        TokenRequest::decode(&h("a1182601")).unwrap_err(),
        wt("ace_profile", "null (in a request)")
    );
    assert_eq!(
        TokenRequest::decode(&h("a10901")).unwrap_err(),
        wt("scope", "text or byte string")
    );
    assert_eq!(
        TokenRequest::decode(&h("a1182140")).unwrap_err(),
        wt("grant_type", "integer")
    );
    assert_eq!(
        TokenRequest::decode(&h("a1181901")).unwrap_err(),
        wt("client_secret", "byte string")
    );
    assert_eq!(
        TokenResponse::decode(&h("a10161")).unwrap_err(),
        Error::Truncated
    );
    assert_eq!(
        TokenResponse::decode(&h("a1016161")).unwrap_err(),
        wt("access_token", "byte string")
    );
    assert_eq!(
        TokenResponse::decode(&h("a2014002f5")).unwrap_err(),
        wt("expires_in", "unsigned integer")
    );
    assert_eq!(
        IntrospectionResponse::decode(&h("a10a01")).unwrap_err(),
        wt("active", "true or false")
    );
    assert_eq!(
        IntrospectionResponse::decode(&h("a20af50440")).unwrap_err(),
        wt("exp", "integer or floating-point number")
    );
    assert_eq!(
        IntrospectionRequest::decode(&h("a20b40182140")).unwrap_err(),
        wt("token_type_hint", "text string or integer")
    );
    assert_eq!(
        ErrorResponse::decode(&h("a1181e6161")).unwrap_err(),
        wt("error", "integer")
    );
    assert_eq!(
        TokenRequest::from_json(br#"{"client_id":1}"#).unwrap_err(),
        wt("client_id", "string")
    );
    // client_secret as text is accepted (digest A.4 item 11)
    assert_eq!(
        TokenRequest::decode(&h("a118196161"))
            .unwrap()
            .client_secret,
        Some(b"a".to_vec())
    );
}

#[test]
fn integer_out_of_range_and_invalid_values() {
    assert_eq!(
        TokenResponse::decode(&h("a201400220")).unwrap_err(),
        Error::IntegerOutOfRange("expires_in")
    );
    assert_eq!(
        IntrospectionResponse::decode(&h("a20af5182820")).unwrap_err(),
        Error::IntegerOutOfRange("exi")
    );
    assert_eq!(
        TokenRequest::decode(&h("a118213bffffffffffffffff")).unwrap_err(),
        Error::IntegerOutOfRange("grant_type")
    );
    // NaN NumericDate
    assert_eq!(
        IntrospectionResponse::decode(&h("a20af504f97e00")).unwrap_err(),
        Error::InvalidValue("exp")
    );
    assert_eq!(
        TokenRequest::from_json(br#"{"cnonce":"***"}"#).unwrap_err(),
        Error::InvalidValue("cnonce")
    );
    assert_eq!(
        ErrorResponse::from_json(br#"{"error":"nope"}"#).unwrap_err(),
        Error::InvalidValue("error")
    );
}

#[test]
fn missing_parameters() {
    assert_eq!(
        TokenResponse::decode(&h("a0")).unwrap_err(),
        Error::MissingParameter("access_token")
    );
    assert_eq!(
        IntrospectionRequest::decode(&h("a0")).unwrap_err(),
        Error::MissingParameter("token")
    );
    assert_eq!(
        IntrospectionResponse::decode(&h("a0")).unwrap_err(),
        Error::MissingParameter("active")
    );
    assert_eq!(
        ErrorResponse::decode(&h("a0")).unwrap_err(),
        Error::MissingParameter("error")
    );
    assert_eq!(
        AuthzInfoRequest::decode(Some(ContentFormat::ACE_CBOR), &h("a0")).unwrap_err(),
        Error::MissingParameter("access_token")
    );
    assert_eq!(
        TokenResponse::from_json(b"{}").unwrap_err(),
        Error::MissingParameter("access_token")
    );
}

#[test]
fn cnf_errors_and_unsupported_pop_key() {
    // req_cnf {} : empty cnf
    assert!(matches!(
        TokenRequest::decode(&h("a104a0")).unwrap_err(),
        Error::InvalidCnf {
            param: "req_cnf",
            ..
        }
    ));
    // cnf: {1: {1: 2, -1: 2 (P-384), -2: h'01', -3: h'02'}}: a valid COSE_Key, unsupported curve
    let p384 = "a104a101a4010220022141012241 02".replace(' ', "");
    assert_eq!(
        TokenRequest::decode(&h(&p384)).unwrap_err(),
        Error::UnsupportedPopKey
    );
    // the same in a response's cnf is an invalid cnf, not an AS-side unsupported_pop_key
    let resp = format!("a2014008{}", &p384[4..]);
    assert!(matches!(
        TokenResponse::decode(&h(&resp)).unwrap_err(),
        Error::InvalidCnf { param: "cnf", .. }
    ));
    // JSON jwk of an unsupported type
    assert_eq!(
        TokenRequest::from_json(br#"{"req_cnf":{"jwk":{"kty":"RSA"}}}"#).unwrap_err(),
        Error::UnsupportedPopKey
    );
}

#[test]
fn grant_type_content_format_json_form() {
    assert_eq!(
        TokenRequest::from_form(b"grant_type=urn%3Aexample").unwrap_err(),
        Error::UnsupportedGrantType
    );
    assert_eq!(
        AuthzInfoRequest::decode(Some(ContentFormat::CBOR), b"x").unwrap_err(),
        Error::UnsupportedContentFormat(60)
    );
    assert_eq!(
        TokenRequest::from_json(b"[1]").unwrap_err(),
        Error::MalformedJson
    );
    assert_eq!(
        TokenRequest::from_json(b"{").unwrap_err(),
        Error::MalformedJson
    );
    assert_eq!(
        TokenRequest::from_form(b"a=%zz").unwrap_err(),
        Error::MalformedForm
    );
    assert_eq!(
        TokenRequest::from_form(b"a=%ff").unwrap_err(),
        Error::MalformedForm
    );
}

#[test]
fn misuse_on_encode() {
    let r = TokenRequest {
        rest: vec![(Label::Int(5), Value::from(1))],
        ..TokenRequest::default()
    };
    assert!(matches!(r.encode(), Err(Error::Misuse(_))));
    let r = TokenRequest {
        rest: vec![
            (Label::Int(100), Value::from(1)),
            (Label::Int(100), Value::from(2)),
        ],
        ..TokenRequest::default()
    };
    assert!(matches!(r.encode(), Err(Error::Misuse(_))));
    let r = TokenRequest {
        scope: Some(Scope::Binary(vec![1])),
        ..TokenRequest::default()
    };
    assert!(matches!(r.to_json(), Err(Error::Misuse(_))));
    assert!(matches!(
        ErrorResponse::new(ErrorCode(99)).to_json(),
        Err(Error::Misuse(_))
    ));
}

#[test]
fn every_error_maps_to_the_wire() {
    let cases = [
        (
            Error::TooLarge { len: 2, max: 1 },
            ErrorCode::INVALID_REQUEST,
        ),
        (Error::EmptyPayload, ErrorCode::INVALID_REQUEST),
        (Error::Truncated, ErrorCode::INVALID_REQUEST),
        (Error::MalformedCbor, ErrorCode::INVALID_REQUEST),
        (Error::TooDeep, ErrorCode::INVALID_REQUEST),
        (Error::TrailingBytes, ErrorCode::INVALID_REQUEST),
        (Error::NotAMap("x"), ErrorCode::INVALID_REQUEST),
        (Error::InvalidKey, ErrorCode::INVALID_REQUEST),
        (
            Error::DuplicateKey(MapKey::Int(1)),
            ErrorCode::INVALID_REQUEST,
        ),
        (
            Error::WrongType {
                param: "p",
                expected: "e",
            },
            ErrorCode::INVALID_REQUEST,
        ),
        (Error::IntegerOutOfRange("p"), ErrorCode::INVALID_REQUEST),
        (Error::InvalidValue("p"), ErrorCode::INVALID_REQUEST),
        (Error::MissingParameter("p"), ErrorCode::INVALID_REQUEST),
        (
            Error::InvalidCnf {
                param: "cnf",
                source: ace_token::DecodeError::Truncated,
            },
            ErrorCode::INVALID_REQUEST,
        ),
        (Error::UnsupportedPopKey, ErrorCode::UNSUPPORTED_POP_KEY),
        (
            Error::UnsupportedGrantType,
            ErrorCode::UNSUPPORTED_GRANT_TYPE,
        ),
        (
            Error::UnsupportedContentFormat(1),
            ErrorCode::INVALID_REQUEST,
        ),
        (Error::MalformedJson, ErrorCode::INVALID_REQUEST),
        (Error::MalformedForm, ErrorCode::INVALID_REQUEST),
    ];
    for (e, code) in cases {
        let w = e.to_wire();
        assert_eq!(w.code, CoapCode::BAD_REQUEST, "{e}");
        let body = w.body.unwrap();
        assert_eq!(body.error, code, "{e}");
        assert_eq!(body.coap_code(), CoapCode::BAD_REQUEST);
        // the body is the bare {30: code}, nothing else leaks (RFC 9200 §6.8)
        assert_eq!(
            body.encode().unwrap(),
            [0xa1, 0x18, 0x1e, u8::try_from(code.0).unwrap()]
        );
    }
    let w = Error::Misuse("x").to_wire();
    assert_eq!((w.code, w.body), (CoapCode::INTERNAL_SERVER_ERROR, None));
    assert_eq!(
        ErrorResponse::new(ErrorCode::INVALID_CLIENT).coap_code(),
        CoapCode::UNAUTHORIZED
    );
}

#[test]
fn json_shapes() {
    // RFC 6749 §4.4.2 style form request with RFC 9200 additions
    let r = TokenRequest::from_form(
        b"grant_type=client_credentials&client_id=c1&audience=rs1&scope=read+write&ace_profile=&unknown=1",
    )
    .unwrap();
    assert_eq!(r.effective_grant_type(), GrantType::CLIENT_CREDENTIALS);
    assert_eq!(r.scope, Some(Scope::Text("read write".into())));
    assert!(r.ace_profile_requested);
    let resp = TokenResponse {
        access_token: vec![0xd0, 0x83],
        token_type: Some(TokenType::POP),
        expires_in: Some(3600),
        ace_profile: Some(AceProfile::COAP_OSCORE),
        ..TokenResponse::default()
    };
    let j: serde_json::Value = serde_json::from_str(&resp.to_json().unwrap()).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"access_token":"0IM","token_type":"PoP","expires_in":3600,"ace_profile":"coap_oscore"})
    );
    // token_type is case-insensitive (RFC 6749 §5.1)
    let back = TokenResponse::from_json(br#"{"access_token":"0IM","token_type":"pop"}"#).unwrap();
    assert_eq!(back.token_type, Some(TokenType::POP));
    let e = ErrorResponse::new(ErrorCode::INCOMPATIBLE_ACE_PROFILES);
    assert_eq!(
        e.to_json().unwrap(),
        r#"{"error":"incompatible_ace_profiles"}"#
    );
}

#[test]
fn aif_scope_is_bytes() {
    use aif::rest::{LocalPart, RestAif, RestMethods};
    let aif = RestAif::new().with(LocalPart::new("/s/temp").unwrap(), RestMethods::GET);
    let scope = aif.to_scope_bytes().unwrap();
    let r = TokenRequest {
        scope: Some(Scope::Binary(scope.clone())),
        ..TokenRequest::default()
    };
    let back = TokenRequest::decode(&r.encode().unwrap()).unwrap();
    let Some(Scope::Binary(b)) = back.scope else {
        panic!("binary scope expected")
    };
    assert_eq!(RestAif::from_scope_bytes(&b).unwrap(), aif);
}

#[test]
fn coset_traits() {
    use coset::CborSerializable as _;
    let h0 = CreationHints {
        audience: Some("a".into()),
        ..CreationHints::default()
    };
    let bytes = h0.clone().to_vec().unwrap();
    assert_eq!(CreationHints::from_slice(&bytes).unwrap(), h0);
    assert!(CreationHints::from_slice(&[0xa1, 0x05, 0x61, b'a', 0x00]).is_err());
}

#[test]
fn authz_info_profile_params() {
    // RFC 9203 §4.1-style map: {1: h'..', 40: h'01..'} (nonce1 = 40 in RFC 9203)
    let req = AuthzInfoRequest::decode(Some(ContentFormat::ACE_CBOR), &h("a2014201021828420a0b"))
        .unwrap();
    assert_eq!(req.access_token(), [1, 2]);
    assert_eq!(req.param(40), Some(&Value::Bytes(vec![0x0a, 0x0b])));
    assert_eq!(AuthzInfoRequest::Token(vec![1]).param(40), None);
}

proptest! {
    #[test]
    fn introspection_request_form(token in bytes(), hint in opt(text()), client_id in opt(text())) {
        let r = IntrospectionRequest {
            token, token_type_hint: hint.map(TokenTypeHint::Text), client_id, rest: vec![],
        };
        prop_assert_eq!(IntrospectionRequest::from_form(r.to_form().unwrap().as_bytes()).unwrap(), r);
    }

    #[test]
    fn introspection_response_json(r in introspection_response()) {
        let r = IntrospectionResponse {
            scope: r.scope.filter(|s| matches!(s, Scope::Text(_))),
            token_type: r.token_type,
            rest: vec![],
            ..r
        };
        prop_assert_eq!(IntrospectionResponse::from_json(r.to_json().unwrap().as_bytes()).unwrap(), r);
    }

    #[test]
    fn creation_hints_json(
        as_uri in opt(text()), kid in opt(bytes()), audience in opt(text()),
        scope in opt(text()), cnonce in opt(bytes())
    ) {
        let h = CreationHints { as_uri, kid, audience, scope: scope.map(Scope::Text), cnonce, rest: vec![] };
        prop_assert_eq!(CreationHints::from_json(h.to_json().unwrap().as_bytes()).unwrap(), h);
    }
}

#[test]
fn introspection_and_hints_json_errors() {
    assert_eq!(
        IntrospectionRequest::from_form(b"client_id=x").unwrap_err(),
        Error::MissingParameter("token")
    );
    assert_eq!(
        IntrospectionRequest::from_form(b"token=%%").unwrap_err(),
        Error::MalformedForm
    );
    assert_eq!(
        IntrospectionRequest::from_form(b"token=AA&token=AB").unwrap_err(),
        Error::DuplicateKey(MapKey::Text("token".into()))
    );
    assert!(matches!(
        IntrospectionRequest {
            token_type_hint: Some(TokenTypeHint::Int(2)),
            ..IntrospectionRequest::new(vec![1])
        }
        .to_form(),
        Err(Error::Misuse(_))
    ));
    assert_eq!(
        IntrospectionResponse::from_json(b"{}").unwrap_err(),
        Error::MissingParameter("active")
    );
    assert_eq!(
        IntrospectionResponse::from_json(br#"{"active":1}"#).unwrap_err(),
        Error::WrongType {
            param: "active",
            expected: "boolean"
        }
    );
    assert_eq!(
        IntrospectionResponse::from_json(br#"{"active":true,"exp":"soon"}"#).unwrap_err(),
        Error::WrongType {
            param: "exp",
            expected: "number"
        }
    );
    assert_eq!(
        IntrospectionResponse::from_json(br#"{"active":true,"exi":-1}"#).unwrap_err(),
        Error::IntegerOutOfRange("exi")
    );
    // RFC 7662 §2.2 shape, with RFC 9200 names
    let j = IntrospectionResponse::from_json(
        br#"{"active":true,"scope":"read","ace_profile":"coap_dtls","iat":1563454000,"cnf":{"kid":"c29tZQ"}}"#,
    )
    .unwrap();
    assert_eq!(j.ace_profile, Some(AceProfile::COAP_DTLS));
    assert_eq!(j.iat, Some(NumericDate::Seconds(1_563_454_000)));
    assert_eq!(j.cnf.unwrap().kid, Some(b"some".to_vec()));
    assert_eq!(
        CreationHints::from_json(br#"{"kid":"!"}"#).unwrap_err(),
        Error::InvalidValue("kid")
    );
    let h = CreationHints {
        as_uri: Some("coaps://as".into()),
        ..CreationHints::default()
    };
    assert_eq!(h.to_json().unwrap(), r#"{"AS":"coaps://as"}"#);
}

/// Found by the `ace_core_token_request` fuzz target: an unknown parameter holding a bignum
/// (tag 3) over an indefinite-length byte string decoded to a value whose re-encoding decoded
/// to a different value, so re-encoding was not a fixed point.
#[test]
fn unknown_parameter_with_indefinite_bignum_reencodes_stably() {
    let data = h(
        "a2010020cececececececececece9f9fcececececececece636f64650900f76000cecececece\
                  809fc35fff0000242f000000840000000000000000000000cececececececececece9f9fcecece\
                  00ff000000000000000004fffff7ffff",
    );
    let once = TokenRequest::decode(&data).unwrap().encode().unwrap();
    let twice = TokenRequest::decode(&once).unwrap().encode().unwrap();
    assert_eq!(once, twice);
    // The indefinite bignum c3 5f ff (-1) re-encodes as the integer -1 (0x20).
    assert!(once.windows(4).any(|w| w == [0x80, 0x91, 0x20, 0x00]));
}
