//! A plain-CoAP demo server on loopback for manual interop checks with libcoap's
//! `coap-client-notls` or `aiocoap-client`:
//!
//! ```text
//! cargo run -p ace-coap --example demo_server -- 127.0.0.1:5683 60
//! coap-client-notls -m get coap://127.0.0.1:5683/.well-known/core
//! coap-client-notls -m get -b 64 coap://127.0.0.1:5683/big
//! coap-client-notls -m put -f some-file coap://127.0.0.1:5683/upload
//! coap-client-notls -m get -s 5 coap://127.0.0.1:5683/counter
//! ```
//! Arguments: bind address (loopback only) and how many seconds to run (default 60).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ace_coap::consts::content_format;
use ace_coap::{Code, Config, FnResource, Message, Router, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:5683".into())
        .parse()?;
    if !addr.ip().is_loopback() {
        return Err("the demo server binds loopback addresses only".into());
    }
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);

    let counter = Arc::new(AtomicU64::new(0));
    let c2 = counter.clone();
    let big: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let router = Router::new()
        .mount(
            "/hello",
            FnResource::new(|_| {
                Message::response(Code::CONTENT, "world")
                    .with_content_format(content_format::TEXT_PLAIN)
                    .into()
            })
            .ct(content_format::TEXT_PLAIN),
        )
        .mount(
            "/big",
            FnResource::new(move |_| Message::response(Code::CONTENT, big.clone()).into())
                .title("5000 bytes"),
        )
        .mount(
            "/counter",
            FnResource::new(move |_| {
                Message::response(Code::CONTENT, c2.load(Ordering::SeqCst).to_string()).into()
            })
            .observable()
            .rt("counter"),
        )
        .mount(
            "/upload",
            FnResource::new(|req| {
                Message::response(Code::CHANGED, format!("{} bytes", req.payload().len())).into()
            })
            .methods(&[Code::POST, Code::PUT]),
        );
    let server = Server::bind(addr, Config::default(), router).await?;
    println!("listening on coap://{}", server.local_addr()?);
    let handle = server.handle();
    let task = tokio::spawn(server.serve());
    let ticker = {
        let handle = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                counter.fetch_add(1, Ordering::SeqCst);
                if handle.notify("/counter").await.is_err() {
                    break;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(secs)).await;
    handle.shutdown().await;
    ticker.abort();
    task.await??;
    Ok(())
}
