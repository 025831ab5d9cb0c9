//! Shared by the integration tests (`mod common;`): the test data and PKIMessages built
//! from it.

use std::time::Duration;

use cmp_coap::{BodyType, classify};
use tokio::io::AsyncReadExt;

/// The bound on every wait.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// A file of tests/data.
pub(crate) fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A valid PKIMessage of about `copies` × 400 bytes: `nested` around copies of the ir.
pub(crate) fn big_nested(copies: usize) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let len = content.len();
        if len < 128 {
            v.push(len as u8);
        } else if len < 256 {
            v.extend_from_slice(&[0x81, len as u8]);
        } else {
            v.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        v.extend_from_slice(content);
        v
    }
    let ir = data("ir.der");
    // ir = 30 82 LL LL <header TLV> <body> <protection>; reuse its header TLV
    let header_len = match ir[5] {
        0x81 => 4 + 3 + usize::from(ir[6]),
        0x82 => 4 + 4 + usize::from(ir[6]) * 256 + usize::from(ir[7]),
        n => 4 + 2 + usize::from(n),
    };
    assert_eq!(ir[4], 0x30);
    let header = &ir[4..header_len];
    let inner: Vec<u8> = std::iter::repeat_n(ir.clone(), copies).flatten().collect();
    let body = tlv(0xB4, &tlv(0x30, &inner));
    let msg = tlv(0x30, &[header, &body].concat());
    assert_eq!(classify(&msg).unwrap().body_type, BodyType::Nested);
    msg
}

/// Reads one HTTP request (its head, and a body of Content-Length bytes) from `s`; none
/// where the stream fails or ends first.
pub(crate) async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buf[end + 4..end + 4 + len].to_vec()));
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
