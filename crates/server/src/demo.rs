//! The demo resources of the RS and the scopes that cover them (used by `ace rs serve`,
//! `ace demo`, the tests and the fuzz target).
//!
//! | Path | Methods | Scope tokens |
//! |---|---|---|
//! | `/temp` | GET (text) | `temp:r` |
//! | `/led` | GET, PUT (`0`/`1`) | `led:r` (GET), `led:rw` (GET, PUT) |
//! | `/big` | GET, [`BIG_LEN`] bytes (block-wise) | `big:r` |
//! | `/counter` | GET, observable | `counter:r` |

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ace_coap::{Code, FnResource, Handled, Message, Request, Router, ServerHandle};
use ace_core::ScopeMap;
use aif::{LocalPart, RestAif, RestMethods};

use crate::rs_service::RsService;

/// Size of `/big`.
pub const BIG_LEN: usize = 4000;

/// The body of `/big`: deterministic bytes (`i * 7 + i / 256` mod 256).
#[must_use]
pub fn big_body() -> Vec<u8> {
    (0..BIG_LEN)
        .map(|i| ((i * 7 + i / 256) % 256) as u8)
        .collect()
}

fn entry(aif: RestAif, path: &str, methods: RestMethods) -> RestAif {
    match LocalPart::new(path) {
        Ok(lp) => aif.with(lp, methods),
        // safe: the paths below are fixed and valid local parts
        Err(_) => aif,
    }
}

/// The scope tokens of the demo resources (see the module table).
#[must_use]
pub fn scope_map() -> ScopeMap {
    ScopeMap::new()
        .with_text("temp:r", entry(RestAif::new(), "/temp", RestMethods::GET))
        .with_text("led:r", entry(RestAif::new(), "/led", RestMethods::GET))
        .with_text(
            "led:rw",
            entry(RestAif::new(), "/led", RestMethods::GET | RestMethods::PUT),
        )
        .with_text("big:r", entry(RestAif::new(), "/big", RestMethods::GET))
        .with_text(
            "counter:r",
            entry(RestAif::new(), "/counter", RestMethods::GET),
        )
}

/// State shared by the demo resources.
#[derive(Debug, Clone, Default)]
pub struct DemoState {
    /// The observable counter.
    pub counter: Arc<AtomicU64>,
    /// The LED.
    pub led: Arc<AtomicBool>,
}

/// Mounts `/authz-info` and the protected demo resources on `router`.
#[must_use]
pub fn mount(rs: &RsService, router: Router, state: &DemoState) -> Router {
    let led = state.led.clone();
    let counter = state.counter.clone();
    let router = rs.mount_authz_info(router);
    router
        .mount(
            "/temp",
            rs.protect(
                FnResource::new(|_: &Request| {
                    Handled::Response(Message::response(Code::CONTENT, b"21.5 C".to_vec()))
                })
                .ct(0)
                .rt("temperature"),
            ),
        )
        .mount(
            "/led",
            rs.protect(
                FnResource::new(move |r: &Request| {
                    if r.method() == Code::PUT {
                        match r.payload() {
                            b"0" | b"1" => {
                                led.store(r.payload() == b"1", Ordering::SeqCst);
                                Handled::Response(Message::response(Code::CHANGED, Vec::new()))
                            }
                            _ => Handled::Response(Message::response(
                                Code::BAD_REQUEST,
                                b"0 or 1".to_vec(),
                            )),
                        }
                    } else {
                        let v = if led.load(Ordering::SeqCst) { "1" } else { "0" };
                        Handled::Response(Message::response(Code::CONTENT, v.as_bytes().to_vec()))
                    }
                })
                .methods(&[Code::GET, Code::PUT])
                .ct(0)
                .rt("led"),
            ),
        )
        .mount(
            "/big",
            rs.protect(
                FnResource::new(|_: &Request| {
                    Handled::Response(Message::response(Code::CONTENT, big_body()))
                })
                .sz(BIG_LEN as u64),
            ),
        )
        .mount(
            "/counter",
            rs.protect(
                FnResource::new(move |_: &Request| {
                    let v = counter.load(Ordering::SeqCst).to_string();
                    Handled::Response(Message::response(Code::CONTENT, v.into_bytes()))
                })
                .observable()
                .ct(0)
                .rt("counter"),
            ),
        )
}

/// Increments the counter every `period` and notifies its observers, until the server
/// stops.
pub async fn run_counter(handle: ServerHandle, state: DemoState, period: std::time::Duration) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        state.counter.fetch_add(1, Ordering::SeqCst);
        if handle.notify("/counter").await.is_err() {
            return;
        }
    }
}
