//! `ace token inspect`: pretty-prints a CWT or JWT and the checks that can be made on it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ace_token::cose::{CoseMessage, parse_token};
use ace_token::{
    Audience, Claims, CnfKey, KeySet, NumericDate, Policy, Scope, TokenKey, UnixTime, Validator,
};

use crate::CliError;

/// Reads the token: a file (binary, hex text or a JWT) or a hex string / JWT on the command
/// line.
pub(crate) fn read_token(arg: &str) -> Result<Vec<u8>, CliError> {
    let raw = if Path::new(arg).is_file() {
        std::fs::read(arg).map_err(|e| CliError::Runtime(format!("cannot read {arg}: {e}")))?
    } else {
        arg.as_bytes().to_vec()
    };
    let text = std::str::from_utf8(&raw).ok().map(str::trim);
    match text {
        Some(t) if t.starts_with("eyJ") => Ok(t.as_bytes().to_vec()),
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            hex::decode(t).map_err(|e| CliError::Usage(format!("not a token (hex: {e})")))
        }
        _ if Path::new(arg).is_file() => Ok(raw),
        _ => Err(CliError::Usage(format!(
            "{arg}: neither a file, hex, nor a JWT"
        ))),
    }
}

fn date(d: NumericDate) -> String {
    match d {
        NumericDate::Seconds(s) => s.to_string(),
        NumericDate::Fractional(f) => f.to_string(),
    }
}

fn cnf_summary(c: &ace_token::Confirmation) -> String {
    let mut s = String::new();
    match &c.key {
        Some(CnfKey::CoseKey(k)) => {
            let kind = if k.symmetric_key().is_some() {
                "symmetric key (not shown)"
            } else {
                "public key"
            };
            let _ = write!(s, "COSE_Key: {kind}");
            if let Some(kid) = &k.kid {
                let _ = write!(s, ", kid {}", hex::encode(kid));
            }
        }
        Some(CnfKey::Encrypted(e)) => {
            let _ = write!(s, "Encrypted_COSE_Key (kid {})", hex::encode(e.kid()));
        }
        Some(CnfKey::Osc(m)) => {
            let _ = write!(
                s,
                "OSCORE_Input_Material (id {}, secret not shown)",
                m.id.as_deref().map(hex::encode).unwrap_or_default()
            );
        }
        Some(_) => s.push_str("other key"),
        None => {}
    }
    if let Some(kid) = &c.kid {
        let _ = write!(s, "kid {}", hex::encode(kid));
    }
    s
}

/// The claims as lines of text (PoP key material is never printed).
pub(crate) fn describe_claims(c: &Claims) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = &c.iss {
        out.push(format!("iss         {v}"));
    }
    if let Some(v) = &c.sub {
        out.push(format!("sub         {v}"));
    }
    match &c.aud {
        Some(Audience::Single(a)) => out.push(format!("aud         {a}")),
        Some(Audience::Multiple(a)) => out.push(format!("aud         {}", a.join(", "))),
        _ => {}
    }
    for (name, d) in [("iat", c.iat), ("nbf", c.nbf), ("exp", c.exp)] {
        if let Some(d) = d {
            out.push(format!("{name:<11} {}", date(d)));
        }
    }
    if let Some(v) = c.exi {
        out.push(format!("exi         {v}"));
    }
    if let Some(v) = &c.cti {
        out.push(format!("cti         {}", hex::encode(v)));
    }
    match &c.scope {
        Some(Scope::Text(s)) => out.push(format!("scope       \"{s}\"")),
        Some(Scope::Binary(b)) => {
            out.push(format!("scope       h'{}' (binary/AIF)", hex::encode(b)))
        }
        _ => {}
    }
    if let Some(p) = c.ace_profile {
        out.push(format!("ace_profile {}", p.0));
    }
    if let Some(c) = &c.cnf {
        out.push(format!("cnf         {}", cnf_summary(c)));
    }
    if let Some(n) = &c.cnonce {
        out.push(format!("cnonce      {}", hex::encode(n)));
    }
    for (k, _) in &c.rest {
        out.push(format!("other claim {k:?}"));
    }
    out
}

fn time_checks(c: &Claims, now: UnixTime) -> Vec<String> {
    let mut out = Vec::new();
    match c.exp {
        Some(e) if e.is_reached_by(now) => out.push(format!("exp: EXPIRED (now {})", now.0)),
        Some(e) => out.push(format!(
            "exp: valid for {} more seconds",
            e.ceil_secs() - i128::from(now.0)
        )),
        None => out.push("exp: none (an RS requiring exp refuses it)".into()),
    }
    if let Some(n) = c.nbf
        && !n.is_reached_by(now)
    {
        out.push("nbf: NOT YET VALID".into());
    }
    out
}

/// Options of `ace token inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// A token file (binary CBOR, hex text or a JWT) or the token as hex / JWT text.
    pub(crate) token: String,
    /// Verify with this P-256 public COSE_Key (e.g. the AS's `.pub.cose`).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Expected audience for the checks.
    #[arg(long)]
    pub(crate) audience: Option<String>,
    /// Expected issuer for the checks.
    #[arg(long)]
    pub(crate) issuer: Option<String>,
}

/// Runs `ace token inspect`; returns the text to print and whether every check passed.
pub(crate) fn inspect(args: &InspectArgs) -> Result<(String, bool), CliError> {
    let bytes = read_token(&args.token)?;
    let now = UnixTime::now();
    let mut out = String::new();
    let mut ok = true;
    if ace_token::jwt::looks_like_jwt(&bytes) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut parts = text.split('.');
        let _ = writeln!(out, "JWT (JWS compact), {} bytes", bytes.len());
        for name in ["header", "payload"] {
            let seg = parts.next().unwrap_or_default();
            let decoded =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, seg)
                    .map_err(|e| CliError::Runtime(format!("JWT {name}: {e}")))?;
            let mut v: serde_json::Value = serde_json::from_slice(&decoded)
                .map_err(|e| CliError::Runtime(format!("JWT {name}: {e}")))?;
            if let Some(cnf) = v.get_mut("cnf").and_then(|c| c.get_mut("jwk"))
                && let Some(k) = cnf.get_mut("k")
            {
                *k = serde_json::Value::String("<not shown>".into());
            }
            let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
            let _ = writeln!(out, "{name}: {pretty}");
        }
        let _ = writeln!(
            out,
            "checks: signature not verified (JWT verification: use the RS)"
        );
        return Ok((out, true));
    }
    let (wrapping, msg) =
        parse_token(&bytes).map_err(|e| CliError::Runtime(format!("not a CWT: {e}")))?;
    let (kind, payload) = match &msg {
        CoseMessage::Sign1(m) => ("COSE_Sign1", m.payload.clone()),
        CoseMessage::Mac0(m) => ("COSE_Mac0", m.payload.clone()),
        CoseMessage::Encrypt0(_) => ("COSE_Encrypt0", None),
        _ => ("COSE", None),
    };
    let _ = writeln!(
        out,
        "CWT, {} bytes: {}{}{}",
        bytes.len(),
        if wrapping.cwt_tag { "61(" } else { "" },
        kind,
        if wrapping.cwt_tag { ")" } else { "" },
    );
    let p = &msg.protected().header;
    let _ = writeln!(
        out,
        "protected   alg {:?}, kid {}",
        p.alg,
        hex::encode(&p.key_id)
    );
    let u = msg.unprotected();
    let _ = writeln!(
        out,
        "unprotected {}",
        if u.is_empty() {
            "empty (RFC 9770 form)".to_owned()
        } else {
            format!("{u:?}")
        }
    );
    let claims = payload.and_then(|p| Claims::from_cbor(&p).ok());
    match &claims {
        Some(c) => {
            for line in describe_claims(c) {
                let _ = writeln!(out, "{line}");
            }
            for line in time_checks(c, now) {
                ok &= !line.contains("EXPIRED") && !line.contains("NOT YET");
                let _ = writeln!(out, "check: {line}");
            }
        }
        None if kind == "COSE_Encrypt0" => {
            let _ = writeln!(
                out,
                "claims: encrypted (only the RS holding the key can read them)"
            );
        }
        None => {
            ok = false;
            let _ = writeln!(out, "claims: payload is not a CWT claims set");
        }
    }
    if let Some(key_path) = &args.key {
        let public = crate::keys::read_p256_public(key_path)?;
        let mut policy = Policy::new(args.audience.clone().unwrap_or_default());
        if args.audience.is_none() {
            policy.audiences = Vec::new();
        }
        if let Some(iss) = &args.issuer {
            policy = policy.with_issuer(iss.clone());
        }
        let keys = KeySet::new().with(TokenKey::public(public).with_kid(p.key_id.clone()));
        match Validator::new(policy).validate(&bytes, now, &keys, &ace_token::RustCrypto) {
            Ok(_) => {
                let _ = writeln!(out, "check: signature and claims OK");
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "check: FAILED: {e}");
            }
        }
    } else {
        let _ = writeln!(out, "check: signature not verified (pass --key)");
    }
    Ok((out, ok))
}
