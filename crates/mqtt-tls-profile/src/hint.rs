//! The `ace_as_hint` CONNACK User Property (RFC 9431 §2.4.1; MQ-082, MQ-T9, MQV-10).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// AS Request Creation Hints sent in a failing CONNACK (RFC 9200 §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsHint {
    /// `AS`: the AS URI (mandatory in RFC 9431).
    pub as_uri: String,
    /// `audience`.
    pub audience: Option<String>,
    /// `kid` (written base64url without padding, MQ-T9).
    pub kid: Option<Vec<u8>>,
    /// `cnonce` (written base64url without padding, MQ-T9).
    pub cnonce: Option<Vec<u8>>,
    /// `scope` (the base64url AIF-MQTT text of the JSON form).
    pub scope: Option<String>,
}

impl AsHint {
    /// A hint naming only the AS.
    #[must_use]
    pub fn new(as_uri: impl Into<String>) -> Self {
        Self {
            as_uri: as_uri.into(),
            ..Self::default()
        }
    }

    /// Sets `audience`.
    #[must_use]
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Sets `cnonce`.
    #[must_use]
    pub fn with_cnonce(mut self, cnonce: impl Into<Vec<u8>>) -> Self {
        self.cnonce = Some(cnonce.into());
        self
    }

    /// Sets `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Vec<u8>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The JSON object text: members in the order `AS`, `audience`, `kid`, `cnonce`, `scope`,
    /// compact (MQV-10).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |name: &str, value: &str| {
            parts.push(format!(
                "{}:{}",
                serde_json::Value::from(name),
                serde_json::Value::from(value)
            ));
        };
        push("AS", &self.as_uri);
        if let Some(a) = &self.audience {
            push("audience", a);
        }
        if let Some(k) = &self.kid {
            push("kid", &URL_SAFE_NO_PAD.encode(k));
        }
        if let Some(c) = &self.cnonce {
            push("cnonce", &URL_SAFE_NO_PAD.encode(c));
        }
        if let Some(s) = &self.scope {
            push("scope", s);
        }
        format!("{{{}}}", parts.join(","))
    }
}
