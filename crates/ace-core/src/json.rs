//! The HTTP side: JSON (RFC 6749 §5.1, §5.2; RFC 7662 §2.2; RFC 9200 §5.3) and
//! `application/x-www-form-urlencoded` (RFC 6749 Appendix B; RFC 7662 §2.1) encodings of the
//! token, introspection and creation-hints messages.
//!
//! Names are the RFC 6749 / RFC 8693 / RFC 9200 / RFC 9201 parameter names. Value mapping:
//! * byte strings that RFC 9200 says are base64url in JSON (`cnonce`, §5.8.4.4) and the
//!   binary tokens (`access_token`, `refresh_token`) are base64url without padding;
//! * `client_secret` and `code` are OAuth text values; their bytes must be UTF-8;
//! * `grant_type`, `token_type`, `error` and `ace_profile` use their registered names
//!   (§5.8.4.3: "the textual representation ... for JSON-based interactions"); an
//!   unregistered integer is written as a JSON number;
//! * `ace_profile: ""` in a request asks for the profile (§5.8.4.3);
//! * `req_cnf`/`cnf`/`rs_cnf` are RFC 7800 objects: `{"kid": b64url}` or `{"jwk": {...}}`
//!   (kty `oct`, `EC` P-256, `OKP` Ed25519/X25519); in a form body the value is that JSON
//!   object as text (our choice);
//! * a binary `scope` has no JSON form here (AIF has its own JSON, RFC 9237 §4).
//!
//! Repeated parameters are refused ([`Error::DuplicateKey`]); unknown ones are ignored
//! (RFC 6749 §3.2, §5.1).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use ace_token::cnf::{CnfKey, PopKeyMaterial};
use ace_token::{
    AceProfile, Confirmation, KeyType, NumericDate, PopKey, PublicKey, Scope, SecretBytes,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value as Json};

use crate::consts::profile;
use crate::error::{Error, MapKey, Result};
use crate::msg::{
    CreationHints, ErrorCode, ErrorResponse, GrantType, IntrospectionRequest,
    IntrospectionResponse, TokenRequest, TokenResponse, TokenType, TokenTypeHint,
};

/// A JSON object whose members keep their order and duplicates.
struct Object(Vec<(String, Json)>);

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> core::result::Result<Object, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Object(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parameters by name, refusing repeats.
struct Params(Vec<(String, Json)>);

impl Params {
    fn new(entries: Vec<(String, Json)>) -> Result<Self> {
        let mut names: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w.first() == w.get(1)) {
            let name = w.first().copied().unwrap_or_default();
            return Err(Error::DuplicateKey(MapKey::Text(name.to_string())));
        }
        Ok(Self(entries))
    }

    fn take(&mut self, name: &str) -> Option<Json> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.swap_remove(i).1)
    }

    fn text(&mut self, name: &'static str) -> Result<Option<String>> {
        match self.take(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::WrongType {
                param: name,
                expected: "string",
            }),
        }
    }

    fn b64(&mut self, name: &'static str) -> Result<Option<Vec<u8>>> {
        self.text(name)?.map(|s| b64_decode(&s, name)).transpose()
    }
}

fn parse_json(bytes: &[u8]) -> Result<Params> {
    if bytes.len() > crate::consts::limits::MAX_MESSAGE_SIZE {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max: crate::consts::limits::MAX_MESSAGE_SIZE,
        });
    }
    let o: Object = serde_json::from_slice(bytes).map_err(|_| Error::MalformedJson)?;
    Params::new(o.0)
}

fn b64_decode(s: &str, param: &'static str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Error::InvalidValue(param))
}

fn b64(b: &[u8]) -> Json {
    Json::String(URL_SAFE_NO_PAD.encode(b))
}

fn utf8(b: &[u8], param: &'static str) -> Result<Json> {
    core::str::from_utf8(b)
        .map(|s| Json::String(s.into()))
        .map_err(|_| Error::Misuse(param))
}

fn profile_name(p: AceProfile) -> Json {
    match p.0 {
        profile::COAP_DTLS => Json::String("coap_dtls".into()),
        profile::COAP_OSCORE => Json::String("coap_oscore".into()),
        other => Json::from(other),
    }
}

fn profile_from(v: Json) -> Result<AceProfile> {
    match v {
        Json::String(s) if s == "coap_dtls" => Ok(AceProfile::COAP_DTLS),
        Json::String(s) if s == "coap_oscore" => Ok(AceProfile::COAP_OSCORE),
        Json::Number(n) => n
            .as_i64()
            .map(AceProfile)
            .ok_or(Error::IntegerOutOfRange("ace_profile")),
        _ => Err(Error::InvalidValue("ace_profile")),
    }
}

fn scope_json(s: &Scope) -> Result<Json> {
    match s {
        Scope::Text(t) => Ok(Json::String(t.clone())),
        Scope::Binary(_) => Err(Error::Misuse("binary scope has no JSON form")),
    }
}

fn jwk_b64(o: &Map<String, Json>, name: &'static str) -> Result<Vec<u8>> {
    match o.get(name) {
        Some(Json::String(s)) => b64_decode(s, "jwk"),
        _ => Err(Error::InvalidValue("jwk")),
    }
}

/// RFC 7800 `cnf` object → [`Confirmation`].
fn cnf_from_json(v: Json, param: &'static str) -> Result<Confirmation> {
    let Json::Object(o) = v else {
        return Err(Error::WrongType {
            param,
            expected: "object",
        });
    };
    let mut out = Confirmation::default();
    for (name, v) in o {
        match (name.as_str(), v) {
            ("kid", Json::String(s)) => out.kid = Some(b64_decode(&s, param)?),
            ("jwk", Json::Object(jwk)) => {
                let kty = jwk.get("kty").and_then(Json::as_str).unwrap_or_default();
                let crv = jwk.get("crv").and_then(Json::as_str).unwrap_or_default();
                let material = match (kty, crv) {
                    ("oct", _) => PopKeyMaterial::Symmetric(SecretBytes::new(jwk_b64(&jwk, "k")?)),
                    ("EC", "P-256") => PopKeyMaterial::Public(
                        PublicKey::p256_from_coordinates(
                            &jwk_b64(&jwk, "x")?,
                            &jwk_b64(&jwk, "y")?,
                        )
                        .map_err(|_| Error::InvalidValue("jwk"))?,
                    ),
                    ("OKP", "Ed25519" | "X25519") => {
                        let kind = if crv == "Ed25519" {
                            KeyType::Ed25519
                        } else {
                            KeyType::X25519
                        };
                        PopKeyMaterial::Public(
                            PublicKey::okp(kind, &jwk_b64(&jwk, "x")?)
                                .map_err(|_| Error::InvalidValue("jwk"))?,
                        )
                    }
                    _ => return Err(Error::UnsupportedPopKey),
                };
                let mut key = match material {
                    PopKeyMaterial::Symmetric(k) => PopKey::symmetric(k),
                    PopKeyMaterial::Public(k) => PopKey::public(k),
                    _ => return Err(Error::UnsupportedPopKey),
                };
                if let Some(Json::String(kid)) = jwk.get("kid") {
                    key.kid = Some(b64_decode(kid, "jwk")?);
                }
                out.key = Some(CnfKey::CoseKey(key));
            }
            ("kid" | "jwk", _) => {
                return Err(Error::WrongType {
                    param,
                    expected: "RFC 7800 member",
                });
            }
            _ => return Err(Error::InvalidValue(param)),
        }
    }
    if out.key.is_none() && out.kid.is_none() {
        return Err(Error::InvalidValue(param));
    }
    Ok(out)
}

/// [`Confirmation`] → RFC 7800 `cnf` object.
fn cnf_to_json(c: &Confirmation) -> Result<Json> {
    if !c.rest.is_empty() {
        return Err(Error::Misuse("cnf method without a JSON form"));
    }
    let mut o = Map::new();
    if let Some(kid) = &c.kid {
        o.insert("kid".into(), b64(kid));
    }
    match &c.key {
        None => {}
        Some(CnfKey::CoseKey(k)) => {
            let mut jwk = Map::new();
            match &k.material {
                PopKeyMaterial::Symmetric(s) => {
                    jwk.insert("kty".into(), "oct".into());
                    jwk.insert("k".into(), b64(s.expose()));
                }
                PopKeyMaterial::Public(pk) => match (pk.p256_coordinates(), pk.okp_x()) {
                    (Some((x, y)), _) => {
                        jwk.insert("kty".into(), "EC".into());
                        jwk.insert("crv".into(), "P-256".into());
                        jwk.insert("x".into(), b64(x));
                        jwk.insert("y".into(), b64(y));
                    }
                    (None, Some(x)) => {
                        let crv = if pk.key_type() == KeyType::Ed25519 {
                            "Ed25519"
                        } else {
                            "X25519"
                        };
                        jwk.insert("kty".into(), "OKP".into());
                        jwk.insert("crv".into(), crv.into());
                        jwk.insert("x".into(), b64(x));
                    }
                    (None, None) => return Err(Error::Misuse("key without a JWK form")),
                },
                _ => return Err(Error::Misuse("key without a JWK form")),
            }
            if let Some(kid) = &k.kid {
                jwk.insert("kid".into(), b64(kid));
            }
            if k.alg.is_some() || !k.key_ops.is_empty() {
                return Err(Error::Misuse("COSE alg/key_ops have no JWK mapping here"));
            }
            o.insert("jwk".into(), Json::Object(jwk));
        }
        Some(_) => return Err(Error::Misuse("cnf method without a JSON form")),
    }
    Ok(Json::Object(o))
}

fn to_string(o: Map<String, Json>) -> String {
    Json::Object(o).to_string()
}

impl TokenRequest {
    fn from_params(mut p: Params, form: bool) -> Result<Self> {
        let mut out = Self::default();
        if let Some(g) = p.take("grant_type") {
            out.grant_type = Some(match g {
                Json::String(s) => GrantType::from_name(&s).ok_or(Error::UnsupportedGrantType)?,
                _ => {
                    return Err(Error::WrongType {
                        param: "grant_type",
                        expected: "string",
                    });
                }
            });
        }
        out.client_id = p.text("client_id")?;
        out.client_secret = p.text("client_secret")?.map(String::into_bytes);
        out.audience = p.text("audience")?;
        out.scope = p.text("scope")?.map(Scope::Text);
        if let Some(v) = p.take("req_cnf") {
            let v = match (form, v) {
                (true, Json::String(s)) => {
                    serde_json::from_str(&s).map_err(|_| Error::WrongType {
                        param: "req_cnf",
                        expected: "JSON object",
                    })?
                }
                (_, v) => v,
            };
            out.req_cnf = Some(cnf_from_json(v, "req_cnf")?);
        }
        match p.take("ace_profile") {
            None => {}
            Some(Json::String(s)) if s.is_empty() => out.ace_profile_requested = true,
            Some(_) => {
                return Err(Error::WrongType {
                    param: "ace_profile",
                    expected: "empty string",
                });
            }
        }
        out.cnonce = p.b64("cnonce")?;
        out.code = p.text("code")?.map(String::into_bytes);
        out.redirect_uri = p.text("redirect_uri")?;
        out.username = p.text("username")?;
        out.password = p.text("password")?;
        out.refresh_token = p.b64("refresh_token")?;
        Ok(out)
    }

    /// Decodes a JSON token request.
    ///
    /// # Errors
    /// [`Error::MalformedJson`], [`Error::DuplicateKey`], [`Error::WrongType`],
    /// [`Error::UnsupportedGrantType`] for an unregistered grant type name,
    /// [`Error::InvalidValue`] for bad base64url, the `cnf` errors.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        Self::from_params(parse_json(bytes)?, false)
    }

    /// Decodes an `application/x-www-form-urlencoded` token request (RFC 6749 Appendix B).
    ///
    /// # Errors
    /// [`Error::MalformedForm`], and as [`Self::from_json`].
    pub fn from_form(body: &[u8]) -> Result<Self> {
        Self::from_params(parse_form(body)?, true)
    }

    fn to_params(&self) -> Result<Vec<(&'static str, Json)>> {
        if !self.rest.is_empty() {
            return Err(Error::Misuse("extension parameters have no JSON names"));
        }
        let mut o: Vec<(&'static str, Json)> = Vec::new();
        if let Some(g) = self.grant_type {
            o.push((
                "grant_type",
                g.name()
                    .ok_or(Error::Misuse("unregistered grant_type"))?
                    .into(),
            ));
        }
        let mut text = |n, v: &Option<String>| {
            if let Some(s) = v {
                o.push((n, Json::String(s.clone())));
            }
        };
        text("client_id", &self.client_id);
        text("audience", &self.audience);
        text("redirect_uri", &self.redirect_uri);
        text("username", &self.username);
        text("password", &self.password);
        if let Some(s) = &self.client_secret {
            o.push(("client_secret", utf8(s, "client_secret is not UTF-8")?));
        }
        if let Some(s) = &self.scope {
            o.push(("scope", scope_json(s)?));
        }
        if let Some(c) = &self.req_cnf {
            o.push(("req_cnf", cnf_to_json(c)?));
        }
        if self.ace_profile_requested {
            o.push(("ace_profile", Json::String(String::new())));
        }
        if let Some(s) = &self.cnonce {
            o.push(("cnonce", b64(s)));
        }
        if let Some(s) = &self.code {
            o.push(("code", utf8(s, "code is not UTF-8")?));
        }
        if let Some(s) = &self.refresh_token {
            o.push(("refresh_token", b64(s)));
        }
        Ok(o)
    }

    /// Encodes as JSON.
    ///
    /// # Errors
    /// [`Error::Misuse`] for values without a JSON form (binary scope, non-UTF-8
    /// `client_secret`/`code`, unregistered grant type, extension parameters, encrypted or
    /// OSCORE `cnf`).
    pub fn to_json(&self) -> Result<String> {
        Ok(to_string(
            self.to_params()?
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect(),
        ))
    }

    /// Encodes as `application/x-www-form-urlencoded`.
    ///
    /// # Errors
    /// As [`Self::to_json`].
    pub fn to_form(&self) -> Result<String> {
        Ok(form_string(self.to_params()?))
    }
}

fn parse_form(body: &[u8]) -> Result<Params> {
    let max = crate::consts::limits::MAX_MESSAGE_SIZE;
    if body.len() > max {
        return Err(Error::TooLarge {
            len: body.len(),
            max,
        });
    }
    let mut entries = Vec::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, |b| *b == b'=');
        let name = form_decode(it.next().unwrap_or_default())?;
        let value = form_decode(it.next().unwrap_or_default())?;
        entries.push((name, Json::String(value)));
    }
    Params::new(entries)
}

fn form_string(params: Vec<(&'static str, Json)>) -> String {
    let mut out = String::new();
    for (k, v) in params {
        let v = match v {
            Json::String(s) => s,
            other => other.to_string(),
        };
        if !out.is_empty() {
            out.push('&');
        }
        form_encode(k, &mut out);
        out.push('=');
        form_encode(&v, &mut out);
    }
    out
}

fn form_decode(b: &[u8]) -> Result<String> {
    let mut out = Vec::with_capacity(b.len());
    let mut it = b.iter();
    while let Some(&c) = it.next() {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: Option<&u8>| -> Result<u8> {
                    let c = *c.ok_or(Error::MalformedForm)?;
                    (c as char)
                        .to_digit(16)
                        .and_then(|d| u8::try_from(d).ok())
                        .ok_or(Error::MalformedForm)
                };
                let hi = hex(it.next())?;
                let lo = hex(it.next())?;
                out.push(hi << 4 | lo);
            }
            c => out.push(c),
        }
    }
    String::from_utf8(out).map_err(|_| Error::MalformedForm)
}

fn form_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                out.push('%');
                out.push(
                    HEX.get(usize::from(b >> 4))
                        .copied()
                        .map_or('0', char::from),
                );
                out.push(
                    HEX.get(usize::from(b & 0xf))
                        .copied()
                        .map_or('0', char::from),
                );
            }
        }
    }
}

impl TokenResponse {
    /// Encodes as JSON (RFC 6749 §5.1 with RFC 9200/9201 additions).
    ///
    /// # Errors
    /// [`Error::Misuse`] for values without a JSON form.
    pub fn to_json(&self) -> Result<String> {
        if !self.rest.is_empty() {
            return Err(Error::Misuse("extension parameters have no JSON names"));
        }
        let mut o = Map::new();
        o.insert("access_token".into(), b64(&self.access_token));
        if let Some(t) = self.token_type {
            o.insert(
                "token_type".into(),
                t.name().map_or_else(|| Json::from(t.0), Json::from),
            );
        }
        if let Some(x) = self.expires_in {
            o.insert("expires_in".into(), Json::from(x));
        }
        if let Some(s) = &self.refresh_token {
            o.insert("refresh_token".into(), b64(s));
        }
        if let Some(s) = &self.scope {
            o.insert("scope".into(), scope_json(s)?);
        }
        if let Some(s) = &self.state {
            o.insert("state".into(), Json::String(s.clone()));
        }
        if let Some(p) = self.ace_profile {
            o.insert("ace_profile".into(), profile_name(p));
        }
        if let Some(c) = &self.cnf {
            o.insert("cnf".into(), cnf_to_json(c)?);
        }
        if let Some(c) = &self.rs_cnf {
            o.insert("rs_cnf".into(), cnf_to_json(c)?);
        }
        Ok(to_string(o))
    }

    /// Decodes a JSON token response.
    ///
    /// # Errors
    /// [`Error::MalformedJson`], [`Error::DuplicateKey`], [`Error::WrongType`],
    /// [`Error::MissingParameter`] without `access_token`, [`Error::InvalidValue`].
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut p = parse_json(bytes)?;
        let mut out = Self {
            access_token: p
                .b64("access_token")?
                .ok_or(Error::MissingParameter("access_token"))?,
            ..Self::default()
        };
        out.token_type = match p.take("token_type") {
            None => None,
            Some(Json::String(s)) => {
                Some(TokenType::from_name(&s).ok_or(Error::InvalidValue("token_type"))?)
            }
            Some(Json::Number(n)) => Some(TokenType(
                n.as_i64().ok_or(Error::IntegerOutOfRange("token_type"))?,
            )),
            Some(_) => {
                return Err(Error::WrongType {
                    param: "token_type",
                    expected: "string",
                });
            }
        };
        out.expires_in = match p.take("expires_in") {
            None => None,
            Some(Json::Number(n)) => {
                Some(n.as_u64().ok_or(Error::IntegerOutOfRange("expires_in"))?)
            }
            Some(_) => {
                return Err(Error::WrongType {
                    param: "expires_in",
                    expected: "number",
                });
            }
        };
        out.refresh_token = p.b64("refresh_token")?;
        out.scope = p.text("scope")?.map(Scope::Text);
        out.state = p.text("state")?;
        out.ace_profile = p.take("ace_profile").map(profile_from).transpose()?;
        out.cnf = p.take("cnf").map(|v| cnf_from_json(v, "cnf")).transpose()?;
        out.rs_cnf = p
            .take("rs_cnf")
            .map(|v| cnf_from_json(v, "rs_cnf"))
            .transpose()?;
        Ok(out)
    }
}

impl ErrorResponse {
    /// Encodes as JSON (RFC 6749 §5.2: `error` is the text name).
    ///
    /// # Errors
    /// [`Error::Misuse`] for an unregistered error code or extension parameters.
    pub fn to_json(&self) -> Result<String> {
        if !self.rest.is_empty() {
            return Err(Error::Misuse("extension parameters have no JSON names"));
        }
        let mut o = Map::new();
        let name = self
            .error
            .name()
            .ok_or(Error::Misuse("unregistered error code"))?;
        o.insert("error".into(), name.into());
        if let Some(s) = &self.error_description {
            o.insert("error_description".into(), Json::String(s.clone()));
        }
        if let Some(s) = &self.error_uri {
            o.insert("error_uri".into(), Json::String(s.clone()));
        }
        Ok(to_string(o))
    }

    /// Decodes a JSON error response.
    ///
    /// # Errors
    /// [`Error::MalformedJson`], [`Error::DuplicateKey`], [`Error::WrongType`],
    /// [`Error::MissingParameter`], [`Error::InvalidValue`] for an unregistered error name.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut p = parse_json(bytes)?;
        let name = p.text("error")?.ok_or(Error::MissingParameter("error"))?;
        let mut out = Self::new(ErrorCode::from_name(&name).ok_or(Error::InvalidValue("error"))?);
        out.error_description = p.text("error_description")?;
        out.error_uri = p.text("error_uri")?;
        Ok(out)
    }
}

fn token_type_json(t: TokenType) -> Json {
    t.name().map_or_else(|| Json::from(t.0), Json::from)
}

fn token_type_from(v: Json) -> Result<TokenType> {
    match v {
        Json::String(s) => TokenType::from_name(&s).ok_or(Error::InvalidValue("token_type")),
        Json::Number(n) => n
            .as_i64()
            .map(TokenType)
            .ok_or(Error::IntegerOutOfRange("token_type")),
        _ => Err(Error::WrongType {
            param: "token_type",
            expected: "string",
        }),
    }
}

fn date_json(d: NumericDate) -> Json {
    match d {
        NumericDate::Seconds(s) => Json::from(s),
        NumericDate::Fractional(f) => Json::from(f),
    }
}

fn date_from(v: Json, param: &'static str) -> Result<NumericDate> {
    let Json::Number(n) = v else {
        return Err(Error::WrongType {
            param,
            expected: "number",
        });
    };
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Ok(NumericDate::Seconds(i)),
        (None, Some(f)) if f.is_finite() && !n.is_u64() => Ok(NumericDate::Fractional(f)),
        _ => Err(Error::IntegerOutOfRange(param)),
    }
}

fn uint_from(v: Json, param: &'static str) -> Result<u64> {
    match v {
        Json::Number(n) => n.as_u64().ok_or(Error::IntegerOutOfRange(param)),
        _ => Err(Error::WrongType {
            param,
            expected: "number",
        }),
    }
}

impl IntrospectionRequest {
    fn to_params(&self) -> Result<Vec<(&'static str, Json)>> {
        if !self.rest.is_empty() {
            return Err(Error::Misuse("extension parameters have no form names"));
        }
        let mut o = alloc::vec![("token", b64(&self.token))];
        match &self.token_type_hint {
            Some(TokenTypeHint::Text(s)) => o.push(("token_type_hint", Json::String(s.clone()))),
            Some(TokenTypeHint::Int(_)) => {
                return Err(Error::Misuse(
                    "integer token_type_hint has no form encoding",
                ));
            }
            None => {}
        }
        if let Some(s) = &self.client_id {
            o.push(("client_id", Json::String(s.clone())));
        }
        Ok(o)
    }

    /// Encodes as `application/x-www-form-urlencoded` (RFC 7662 §2.1; RFC 9200 §5.9.1 for
    /// HTTP). The binary token is base64url without padding.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an integer hint or extension parameters.
    pub fn to_form(&self) -> Result<String> {
        Ok(form_string(self.to_params()?))
    }

    /// Decodes an RFC 7662 §2.1 form body.
    ///
    /// # Errors
    /// [`Error::MalformedForm`], [`Error::DuplicateKey`], [`Error::MissingParameter`] without
    /// `token`, [`Error::InvalidValue`] for bad base64url.
    pub fn from_form(body: &[u8]) -> Result<Self> {
        let mut p = parse_form(body)?;
        Ok(Self {
            token: p.b64("token")?.ok_or(Error::MissingParameter("token"))?,
            token_type_hint: p.text("token_type_hint")?.map(TokenTypeHint::Text),
            client_id: p.text("client_id")?,
            rest: Vec::new(),
        })
    }
}

impl IntrospectionResponse {
    /// Encodes as JSON (RFC 7662 §2.2 with the RFC 9200 §5.9.2 / RFC 9201 additions; `cti`
    /// and `cnonce` base64url, `ace_profile` by name).
    ///
    /// # Errors
    /// [`Error::Misuse`] for values without a JSON form.
    pub fn to_json(&self) -> Result<String> {
        if !self.rest.is_empty() {
            return Err(Error::Misuse("extension parameters have no JSON names"));
        }
        let mut o = Map::new();
        o.insert("active".into(), Json::Bool(self.active));
        for (n, v) in [
            ("iss", &self.iss),
            ("sub", &self.sub),
            ("aud", &self.aud),
            ("client_id", &self.client_id),
            ("username", &self.username),
        ] {
            if let Some(s) = v {
                o.insert(n.into(), Json::String(s.clone()));
            }
        }
        for (n, d) in [("exp", self.exp), ("nbf", self.nbf), ("iat", self.iat)] {
            if let Some(d) = d {
                o.insert(n.into(), date_json(d));
            }
        }
        if let Some(s) = &self.cti {
            o.insert("cti".into(), b64(s));
        }
        if let Some(s) = &self.scope {
            o.insert("scope".into(), scope_json(s)?);
        }
        if let Some(t) = self.token_type {
            o.insert("token_type".into(), token_type_json(t));
        }
        if let Some(p) = self.ace_profile {
            o.insert("ace_profile".into(), profile_name(p));
        }
        if let Some(s) = &self.cnonce {
            o.insert("cnonce".into(), b64(s));
        }
        if let Some(x) = self.exi {
            o.insert("exi".into(), Json::from(x));
        }
        if let Some(c) = &self.cnf {
            o.insert("cnf".into(), cnf_to_json(c)?);
        }
        if let Some(c) = &self.rs_cnf {
            o.insert("rs_cnf".into(), cnf_to_json(c)?);
        }
        Ok(to_string(o))
    }

    /// Decodes a JSON introspection response.
    ///
    /// # Errors
    /// [`Error::MalformedJson`], [`Error::DuplicateKey`], [`Error::WrongType`],
    /// [`Error::MissingParameter`] without `active`, [`Error::InvalidValue`].
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut p = parse_json(bytes)?;
        let active = match p.take("active") {
            Some(Json::Bool(b)) => b,
            Some(_) => {
                return Err(Error::WrongType {
                    param: "active",
                    expected: "boolean",
                });
            }
            None => return Err(Error::MissingParameter("active")),
        };
        Ok(Self {
            active,
            iss: p.text("iss")?,
            sub: p.text("sub")?,
            aud: p.text("aud")?,
            exp: p.take("exp").map(|v| date_from(v, "exp")).transpose()?,
            nbf: p.take("nbf").map(|v| date_from(v, "nbf")).transpose()?,
            iat: p.take("iat").map(|v| date_from(v, "iat")).transpose()?,
            cti: p.b64("cti")?,
            scope: p.text("scope")?.map(Scope::Text),
            client_id: p.text("client_id")?,
            token_type: p.take("token_type").map(token_type_from).transpose()?,
            username: p.text("username")?,
            ace_profile: p.take("ace_profile").map(profile_from).transpose()?,
            cnonce: p.b64("cnonce")?,
            exi: p.take("exi").map(|v| uint_from(v, "exi")).transpose()?,
            cnf: p.take("cnf").map(|v| cnf_from_json(v, "cnf")).transpose()?,
            rs_cnf: p
                .take("rs_cnf")
                .map(|v| cnf_from_json(v, "rs_cnf"))
                .transpose()?,
            rest: Vec::new(),
        })
    }
}

impl CreationHints {
    /// Encodes as JSON (RFC 9200 §5.3: "a CBOR or JSON map"; names from Table 1; `kid` and
    /// `cnonce` base64url).
    ///
    /// # Errors
    /// [`Error::Misuse`] for a binary scope or extension parameters.
    pub fn to_json(&self) -> Result<String> {
        if !self.rest.is_empty() {
            return Err(Error::Misuse("extension parameters have no JSON names"));
        }
        let mut o = Map::new();
        if let Some(s) = &self.as_uri {
            o.insert("AS".into(), Json::String(s.clone()));
        }
        if let Some(s) = &self.kid {
            o.insert("kid".into(), b64(s));
        }
        if let Some(s) = &self.audience {
            o.insert("audience".into(), Json::String(s.clone()));
        }
        if let Some(s) = &self.scope {
            o.insert("scope".into(), scope_json(s)?);
        }
        if let Some(s) = &self.cnonce {
            o.insert("cnonce".into(), b64(s));
        }
        Ok(to_string(o))
    }

    /// Decodes JSON creation hints.
    ///
    /// # Errors
    /// [`Error::MalformedJson`], [`Error::DuplicateKey`], [`Error::WrongType`],
    /// [`Error::InvalidValue`].
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let mut p = parse_json(bytes)?;
        Ok(Self {
            as_uri: p.text("AS")?,
            kid: p.b64("kid")?,
            audience: p.text("audience")?,
            scope: p.text("scope")?.map(Scope::Text),
            cnonce: p.b64("cnonce")?,
            rest: Vec::new(),
        })
    }
}
