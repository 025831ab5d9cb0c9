//! AIF (RFC 9237) walkthrough: build a scope, encode it as CBOR and JSON, check requests the
//! way a resource server does, downscope a request the way an authorization server does, and
//! authorize MQTT PUBLISH/SUBSCRIBE with an AIF-MQTT scope (RFC 9431).
//!
//! Run with `cargo run -p ace-examples --example aif`.

use aif::rest::local_part_from_options;
use aif::{LocalPart, Method, MqttAif, RestAif, RestMethods};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The scope of RFC 9237 §2.1, plus a Dynamic-X entry (§2.3).
    let scope = RestAif::new()
        .with(LocalPart::new("/s/temp")?, RestMethods::GET)
        .with(
            LocalPart::new("/a/led")?,
            RestMethods::GET | RestMethods::PUT,
        )
        .with(LocalPart::new("/dtls")?, RestMethods::POST)
        .with(
            LocalPart::new("/a/make-coffee")?,
            RestMethods::POST
                .with_dynamic(Method::Get)
                .with_dynamic(Method::Delete),
        );

    // 2. Both encodings (Content-Formats 290 and 291). The CBOR bytes are what an ACE token
    //    carries in its `scope` byte string.
    let cbor = scope.to_scope_bytes()?;
    println!(
        "application/aif+cbor ({} bytes): {}",
        cbor.len(),
        hex(&cbor)
    );
    println!("application/aif+json: {}", scope.to_json_string()?);

    // 3. The resource server decodes the scope from the token and checks requests. The local
    //    part is built from the CoAP Uri-Path / Uri-Query options (RFC 7252 §6.5).
    let received = RestAif::from_scope_bytes(&cbor)?;
    let requests: [(&[&str], &[&str], Method); 6] = [
        (&["a", "led"], &[], Method::Put),
        (&["a", "led"], &[], Method::Post),
        (&["a", "led", ""], &[], Method::Get),
        (&["s", "temp"], &["unit=C"], Method::Get),
        (&["s", "temp"], &[], Method::Get),
        (&["a", "make-coffee"], &[], Method::Post),
    ];
    for (path, query, method) in requests {
        let local_part = local_part_from_options(path, query);
        let decision = received.check(&local_part, method);
        match decision.coap_code() {
            None => println!("{method:<6} {local_part:<20} allowed"),
            Some(code) => println!(
                "{method:<6} {local_part:<20} refused: {}.{:02} ({decision:?})",
                code >> 5,
                code & 0x1f
            ),
        }
    }
    // A POST to /a/make-coffee returned 2.01 with Location-Path a/make-coffee/17; the RS
    // remembers that this subject created it from /a/make-coffee.
    for method in [Method::Get, Method::Delete, Method::Put] {
        println!(
            "{method:<6} /a/make-coffee/17 (created by this subject): {}",
            if received.allows_dynamic("/a/make-coffee", method) {
                "allowed by Dynamic-X"
            } else {
                "refused"
            }
        );
    }

    // 4. The authorization server downscopes a request to what its policy allows.
    let requested = RestAif::from_json(br#"[["/a/led",127],["/s/temp",1],["/admin",127]]"#)?;
    let granted = requested.intersection(&scope);
    println!(
        "requested {} -> granted {}",
        requested.to_json_string()?,
        granted.to_json_string()?
    );

    // 5. AIF-MQTT: the example scope of RFC 9431 §2.3.
    let mqtt = MqttAif::from_json(
        br#"[["topic1",["pub","sub"]],["topic2/#",["pub"]],["+/topic3",["sub"]]]"#,
    )?;
    println!("AIF-MQTT as CBOR: {}", hex(&mqtt.to_cbor()?));
    for name in ["topic2/a/b", "a/topic3"] {
        println!(
            "PUBLISH   {name:<16} allowed: {}",
            mqtt.allows_publish(name)?
        );
    }
    for filter in ["x/topic3", "$share/g/topic1", "+/+"] {
        println!(
            "SUBSCRIBE {filter:<16} allowed: {}",
            mqtt.allows_subscribe(filter)?
        );
    }
    Ok(())
}
