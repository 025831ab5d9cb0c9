//! Fuzz target: the proxy's CoAP → HTTP mapping of `cmp-coap` (sans-IO parts).
//!
//! Input: `[sel:u8][path_len:u8][path…][rest…]`. `sel` picks the Content-Format; the
//! path and `rest` (the payload) form a CoAP POST that goes through `check_request` and,
//! when accepted, `build_http_request` (whose head must stay a well-formed request line with
//! the body relayed byte for byte). `rest` is also parsed as an upstream HTTP response
//! (`parse_http_head` + `map_http_response`), and every error maps to a CoAP error code.

#![no_main]

use ace_coap::{Code, Message, PeerIdentity};
use cmp_coap::CmpRequest;
use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::server::{self, ServerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((&plen, rest)) = rest.split_first() else {
        return;
    };
    let plen = usize::from(plen).min(rest.len());
    let (path_bytes, payload) = rest.split_at(plen);
    let path = String::from_utf8_lossy(path_bytes);
    let config = ProxyConfig {
        map_path_suffix: sel & 0x80 != 0,
        server: ServerConfig {
            max_message_size: 4096,
            lenient_content_format: sel & 0x40 != 0,
            ..ServerConfig::default()
        },
        ..ProxyConfig::default()
    };
    let cf = match sel & 0x03 {
        0 => None,
        1 => Some(259),
        2 => Some(42),
        _ => Some(u16::from(sel)),
    };
    let mut message = Message::request(Code::POST, &path).with_payload(payload.to_vec());
    if let Some(cf) = cf {
        message = message.with_content_format(cf);
    }
    let request_path = format!(
        "/{}",
        message
            .path_segments()
            .map(|s| s.join("/"))
            .unwrap_or_default()
    );
    match server::check_request(&message, &request_path, &config.server) {
        Ok((cmp_path, info)) => {
            assert!(info.body_type.is_request());
            let req = CmpRequest {
                der: payload.to_vec(),
                info,
                path: cmp_path,
                peer: "127.0.0.1:1".parse().unwrap(),
                identity: PeerIdentity::Anonymous,
            };
            match proxy::build_http_request(&req, &config) {
                Ok(http) => {
                    let head_end = http
                        .bytes
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .unwrap();
                    assert_eq!(&http.bytes[head_end + 4..], payload);
                    let first = http.bytes.split(|b| *b == b'\n').next().unwrap();
                    assert!(first.starts_with(b"POST /") && first.ends_with(b" HTTP/1.1\r"));
                    assert!(!http.path.contains(' '));
                }
                Err(e) => assert!(!e.to_code().is_success()),
            }
        }
        Err(e) => {
            let r = server::error_response(&e, &config.server);
            assert!(r.code.class() == 4 || r.code.class() == 5);
        }
    }
    match proxy::parse_http_head(payload) {
        Ok(Some(head)) => {
            let body = head
                .content_length
                .and_then(|n| payload.get(head.head_len..head.head_len.checked_add(n)?));
            match proxy::map_http_response(&head, body, 2048) {
                Ok(der) => assert!(cmp_coap::classify(&der).is_ok()),
                Err(e) => assert!(!e.to_code().is_success()),
            }
        }
        Ok(None) => {}
        Err(e) => assert_eq!(e.to_code(), Code::new(5, 2)),
    }
});
