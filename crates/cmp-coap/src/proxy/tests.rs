//! Sans-IO tests of the CoAP → HTTP mapping.

use super::*;
use crate::msg::classify;
use crate::path::CmpPath;
use ace_coap::PeerIdentity;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn request(path: &str) -> CmpRequest {
    let der = data("ir.der");
    CmpRequest {
        info: classify(&der).unwrap(),
        der,
        path: CmpPath::parse(path).unwrap(),
        peer: "127.0.0.1:1".parse().unwrap(),
        identity: PeerIdentity::Anonymous,
    }
}

#[test]
fn builds_rfc6712_post_with_mapped_path() {
    let config = ProxyConfig {
        upstream: "127.0.0.1:8080".parse().unwrap(),
        ..ProxyConfig::default()
    };
    let r = build_http_request(&request("/.well-known/cmp/p/ra1/ir"), &config).unwrap();
    assert_eq!(r.path, "/.well-known/cmp/p/ra1/initialization");
    let der = data("ir.der");
    let head = format!(
        "POST /.well-known/cmp/p/ra1/initialization HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/pkixcmp\r\nAccept: application/pkixcmp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        der.len()
    );
    assert_eq!(&r.bytes[..head.len()], head.as_bytes());
    assert_eq!(
        &r.bytes[head.len()..],
        der.as_slice(),
        "body relayed byte for byte"
    );

    let openssl = ProxyConfig {
        upstream_path: "/pkix/".into(),
        map_path_suffix: false,
        ..config.clone()
    };
    let r = build_http_request(&request("/.well-known/cmp/ir"), &openssl).unwrap();
    assert_eq!(r.path, "/pkix/");
    assert!(r.bytes.starts_with(b"POST /pkix/ HTTP/1.1\r\n"));
    // with transaction connections the request asks the server to keep the connection
    let per_transaction = ProxyConfig {
        transaction_idle: std::time::Duration::from_secs(30),
        ..config.clone()
    };
    let r = build_http_request(&request("/.well-known/cmp"), &per_transaction).unwrap();
    let text = String::from_utf8_lossy(&r.bytes);
    assert!(
        text.contains("\r\nConnection: keep-alive\r\n\r\n"),
        "{text}"
    );

    let small = ProxyConfig {
        server: ServerConfig {
            max_message_size: 10,
            ..ServerConfig::default()
        },
        ..config.clone()
    };
    assert!(matches!(
        build_http_request(&request("/.well-known/cmp"), &small),
        Err(Error::TooLarge { limit: 10, .. })
    ));
    let evil = ProxyConfig {
        upstream_host: Some("a\r\nX: y".into()),
        ..config
    };
    assert!(matches!(
        build_http_request(&request("/.well-known/cmp"), &evil),
        Err(Error::Misuse(_))
    ));
}

#[test]
fn parses_openssl_mock_server_heads() {
    let ok = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-type: application/pkixcmp\r\nContent-Length: 212\r\n\r\nBODY";
    let h = parse_http_head(ok).unwrap().unwrap();
    assert_eq!(h.status, 200);
    assert_eq!(h.content_type.as_deref(), Some("application/pkixcmp"));
    assert_eq!(h.content_length, Some(212));
    assert_eq!(h.head_len, ok.len() - 4);
    assert!(h.keep_alive, "HTTP/1.0 with Connection: keep-alive");
    let nf = parse_http_head(b"HTTP/1.0 404 Not Found\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((nf.status, nf.content_length), (404, None));
    assert!(!nf.keep_alive, "HTTP/1.0 closes by default");
    let keep = |head: &[u8]| parse_http_head(head).unwrap().unwrap().keep_alive;
    assert!(
        keep(b"HTTP/1.1 200 OK\r\n\r\n"),
        "HTTP/1.1 persists by default"
    );
    assert!(!keep(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
    assert!(!keep(
        b"HTTP/1.1 200 OK\r\nconnection: Upgrade, CLOSE\r\n\r\n"
    ));
    assert!(!keep(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n"
    ));
    assert_eq!(
        parse_http_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
        None
    );
}

#[test]
fn rejects_bad_heads() {
    for bad in [
        &b"HTTP/2 200 OK\r\n\r\n"[..],
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 999 X\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 \xff\r\n\r\n",
    ] {
        assert!(
            matches!(parse_http_head(bad), Err(Error::UpstreamBadResponse(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let huge = vec![b'a'; MAX_HEAD + 1];
    assert!(parse_http_head(&huge).is_err());
}

#[test]
fn maps_http_responses() {
    let ip = data("ir-rsp.der");
    let head = |status, ct: Option<&str>, len: Option<usize>| HttpHead {
        status,
        content_type: ct.map(str::to_owned),
        content_length: len,
        head_len: 0,
        keep_alive: true,
    };
    let cmp = Some("application/pkixcmp");
    assert_eq!(
        map_http_response(&head(200, cmp, Some(ip.len())), Some(&ip), 1 << 20).unwrap(),
        ip
    );
    let e = |r: Result<Vec<u8>>| r.unwrap_err().to_code();
    use ace_coap::Code;
    assert_eq!(
        e(map_http_response(
            &head(200, Some("text/html"), Some(2)),
            Some(b"hi"),
            99
        )),
        Code::new(5, 2)
    );
    assert_eq!(
        e(map_http_response(&head(200, cmp, Some(2)), Some(b"hi"), 99)),
        Code::new(5, 2)
    );
    assert_eq!(
        e(map_http_response(&head(200, cmp, None), None, 99)),
        Code::new(5, 2)
    );
    assert_eq!(
        e(map_http_response(
            &head(200, cmp, Some(ip.len())),
            Some(&ip),
            10
        )),
        Code::new(5, 2)
    );
    assert_eq!(
        e(map_http_response(&head(404, None, None), None, 99)),
        Code::NOT_FOUND
    );
    assert_eq!(
        e(map_http_response(&head(400, None, Some(0)), Some(b""), 99)),
        Code::BAD_REQUEST
    );
    assert_eq!(
        e(map_http_response(&head(415, None, None), None, 99)),
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    assert_eq!(
        e(map_http_response(&head(500, None, None), None, 99)),
        Code::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        e(map_http_response(&head(503, None, None), None, 99)),
        Code::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        e(map_http_response(&head(301, None, None), None, 99)),
        Code::new(5, 2)
    );
    // A CMP error message sent with HTTP 400 is still relayed (PKIStatusInfo kept).
    let err = data("err-rsp.der");
    assert_eq!(
        map_http_response(&head(400, cmp, Some(err.len())), Some(&err), 1 << 20).unwrap(),
        err
    );
}

#[test]
fn upstream_urls_are_parsed_strictly() {
    let u = UpstreamUrl::parse("http://127.0.0.1:8080/pkix/").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("127.0.0.1", 8080, "/pkix/")
    );
    assert_eq!(u.host_header(), "127.0.0.1:8080");
    let u = UpstreamUrl::parse("http://ca.example").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("ca.example", 80, "/.well-known/cmp")
    );
    assert_eq!(u.host_header(), "ca.example");
    let u = UpstreamUrl::parse("http://[::1]:9/").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("[::1]", 9, "/")
    );
    for bad in [
        "https://127.0.0.1/",
        "127.0.0.1:80",
        "http://u@h/",
        "http://h/a?b",
        "http://h/a#b",
        "http://h:0/",
        "http://h:99999/",
        "http://h:x/",
        "http://[::1/",
        "http://[zz]/",
        "http:///path",
        "http://h/a b",
        "http://h/a\r\nX: y",
        "http://h\r\n/",
        // Found by the cmp_coap_upstream_url fuzz target: text after an IPv6 literal was
        // dropped (a typo like `[::1]8080` went to port 80), and brackets or colons were
        // accepted in a DNS host.
        "http://[::1]x/",
        "http://[::1]8080/",
        "http://]",
        "http://ca].exca.a",
        "http://a[b/",
    ] {
        assert!(
            matches!(UpstreamUrl::parse(bad), Err(Error::Misuse(_))),
            "{bad}"
        );
    }
}

#[test]
fn host_header_values_with_and_without_port() {
    for ok in [
        "ca.example",
        "ca.example:8080",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:9",
    ] {
        assert!(super::host_header_ok(ok), "{ok}");
    }
    for bad in [
        "",
        "ca.example:",
        "ca:x",
        "[::1]x",
        "[zz]:1",
        "a]:1",
        "h\r\n",
        "a b:1",
    ] {
        assert!(!super::host_header_ok(bad), "{bad}");
    }
}
