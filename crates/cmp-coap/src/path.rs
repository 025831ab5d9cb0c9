//! CMP URI paths: `/.well-known/cmp[/p/<label>][/<operation>]` (digest CMP-005, CMP-T5).

use crate::consts::{OPERATIONS, path};
use crate::error::{Error, Result};

/// Longest accepted profile label.
const MAX_LABEL: usize = 64;

/// A parsed CMP resource path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmpPath {
    /// The CA / certificate-profile label after `p/`.
    pub profile: Option<String>,
    /// The CoAP operation segment (`ir`, `cr`, `kur`, `p10`, `rr`, …).
    pub operation: Option<String>,
}

fn label_ok(s: &str) -> bool {
    // RFC 3986 unreserved characters only: the label is copied into an HTTP request line.
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        && s != "."
        && s != ".."
}

/// The HTTP operation segment (RFC 9483 §6.1) for a CoAP one.
#[must_use]
pub fn http_operation(coap_operation: &str) -> Option<&'static str> {
    OPERATIONS
        .iter()
        .find(|(c, _)| *c == coap_operation)
        .map(|(_, h)| *h)
}

impl CmpPath {
    /// Parses a CoAP path (`/a/b`, as [`ace_coap::Request::path`] gives it).
    ///
    /// # Errors
    /// [`Error::NotFound`] for anything but the base path, an optional `p/<label>` (label
    /// of RFC 3986 unreserved characters, at most 64) and an optional known operation.
    pub fn parse(p: &str) -> Result<Self> {
        let not_found = || Error::NotFound(p.chars().take(128).collect());
        let rest = p.strip_prefix(path::WELL_KNOWN_CMP).ok_or_else(not_found)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(not_found());
        }
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let mut out = Self::default();
        let mut it = segs.into_iter().peekable();
        if it.peek() == Some(&path::PROFILE_SEGMENT) {
            let _ = it.next();
            let label = it.next().ok_or_else(not_found)?;
            if !label_ok(label) {
                return Err(not_found());
            }
            out.profile = Some(label.to_owned());
        }
        if let Some(op) = it.next() {
            if http_operation(op).is_none() {
                return Err(not_found());
            }
            out.operation = Some(op.to_owned());
        }
        if it.next().is_some() {
            return Err(not_found());
        }
        Ok(out)
    }

    /// The CoAP path for this resource.
    #[must_use]
    pub fn to_coap_path(&self) -> String {
        let mut s = path::WELL_KNOWN_CMP.to_owned();
        if let Some(l) = &self.profile {
            s.push_str("/p/");
            s.push_str(l);
        }
        if let Some(o) = &self.operation {
            s.push('/');
            s.push_str(o);
        }
        s
    }

    /// The HTTP path at the upstream: `base` alone, or (with `map_suffix`) `base` followed
    /// by `p/<label>/` and the HTTP operation name (`ir` → `initialization`).
    #[must_use]
    pub fn to_http_path(&self, base: &str, map_suffix: bool) -> String {
        let mut s = base.to_owned();
        if !map_suffix {
            return s;
        }
        let mut push = |seg: &str| {
            if !s.ends_with('/') {
                s.push('/');
            }
            s.push_str(seg);
        };
        if let Some(l) = &self.profile {
            push("p");
            push(l);
        }
        if let Some(op) = self.operation.as_deref().and_then(http_operation) {
            push(op);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_label_and_operation() {
        assert_eq!(
            CmpPath::parse("/.well-known/cmp").unwrap(),
            CmpPath::default()
        );
        let p = CmpPath::parse("/.well-known/cmp/p/tls-server/ir").unwrap();
        assert_eq!(p.profile.as_deref(), Some("tls-server"));
        assert_eq!(p.operation.as_deref(), Some("ir"));
        assert_eq!(p.to_coap_path(), "/.well-known/cmp/p/tls-server/ir");
        assert_eq!(
            p.to_http_path("/.well-known/cmp", true),
            "/.well-known/cmp/p/tls-server/initialization"
        );
        assert_eq!(p.to_http_path("/pkix/", false), "/pkix/");
        let p = CmpPath::parse("/.well-known/cmp/p10").unwrap();
        assert_eq!(
            p.to_http_path("/.well-known/cmp/", true),
            "/.well-known/cmp/pkcs10"
        );
    }

    #[test]
    fn rejects_other_paths() {
        for p in [
            "/",
            "/.well-known/cmpx",
            "/.well-known/cmp/p",
            "/.well-known/cmp/p/a b",
            "/.well-known/cmp/p/..",
            "/.well-known/cmp/p/a\r\nHost: x",
            "/.well-known/cmp/unknown",
            "/.well-known/cmp/ir/extra",
            "/.well-known/cmp/initialization",
        ] {
            assert!(
                matches!(CmpPath::parse(p), Err(Error::NotFound(_))),
                "{p:?}"
            );
        }
    }
}
