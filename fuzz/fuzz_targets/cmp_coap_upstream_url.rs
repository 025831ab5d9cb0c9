//! Fuzz target: `cmp_coap::proxy::UpstreamUrl::parse` (the `http://` upstream URL of the
//! CMP proxy, read from a configuration file or the command line).
//!
//! The input is the URL (lossy UTF-8), with and without an `http://` prefix. Invariants: no
//! panic; errors are `Error::Misuse`; an accepted URL consists exactly of its parts
//! (`http://` + host + optional `:port` + optional path: nothing after an IPv6 literal is
//! dropped); the host is a DNS name / IPv4 literal (letters, digits, `.`, `-`) or a
//! bracketed IPv6 literal; the port is not 0; the path and the `Host` header contain no
//! character that could end or inject a header line; and re-parsing the canonical form
//! (`http://` + `host_header()` + path) gives the same value.

#![no_main]

use cmp_coap::Error;
use cmp_coap::proxy::UpstreamUrl;
use libfuzzer_sys::fuzz_target;

fn safe_path(p: &str) -> bool {
    p.starts_with('/')
        && p.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~' | b'%')
        })
}

fn check(url: &str) {
    let u = match UpstreamUrl::parse(url) {
        Ok(u) => u,
        Err(e) => {
            assert!(matches!(e, Error::Misuse(_)), "{e:?}");
            return;
        }
    };
    let rest = url
        .strip_prefix("http://")
        .expect("accepted URLs are http://");
    // The authority is exactly the host, or the host, ':' and the port's digits.
    let authority = rest.find('/').map_or(rest, |i| &rest[..i]);
    let port_text = authority
        .strip_prefix(u.host.as_str())
        .unwrap_or_else(|| panic!("host {:?} is not a prefix of {authority:?}", u.host));
    match port_text.strip_prefix(':') {
        Some(p) => assert_eq!(p.parse::<u16>().ok(), Some(u.port), "{url:?}"),
        None => {
            assert!(port_text.is_empty(), "{url:?}: {port_text:?} dropped");
            assert_eq!(u.port, 80);
        }
    }
    assert_ne!(u.port, 0);
    if rest.len() > authority.len() {
        assert_eq!(u.path, rest[authority.len()..]);
    }
    let host_ok = match u.host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
        None => {
            !u.host.is_empty()
                && u.host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        }
    };
    assert!(host_ok, "{url:?}: host {:?}", u.host);
    assert!(safe_path(&u.path), "{url:?}: path {:?}", u.path);
    let header = u.host_header();
    assert!(!header.bytes().any(|b| b.is_ascii_control() || b == b' '));
    let again = UpstreamUrl::parse(&format!("http://{header}{}", u.path))
        .expect("the canonical form parses");
    assert_eq!(again, u);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
    check(&format!("http://{text}"));
});
