//! AS and RS over CoAP on loopback: token issuance over OSCORE (and the insecure mode),
//! authz-info, access decisions, expiry with creation hints.

use std::sync::Arc;
use std::time::Duration;

use ace_coap::Code;
use ace_core::{ChannelIdentity, CreationHints, ErrorCode, IntrospectionRequest};
use ace_server::local::{Local, LocalOptions};
use ace_server::{Clock as _, ManualClock, SecurityMode};
use ace_token::UnixTime;

const LIMIT: Duration = Duration::from_secs(20);

async fn start(mode: SecurityMode) -> (Local, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(UnixTime::now()));
    let local = Local::start(LocalOptions {
        lifetime: 60,
        clock: clock.clone(),
        as_security: mode,
        ..LocalOptions::default()
    })
    .await
    .unwrap();
    (local, clock)
}

async fn hints_from(local: &Local, path: &str) -> CreationHints {
    let r = local.client.rs_get_unprotected(path).await.unwrap();
    assert_eq!(r.code, Code::UNAUTHORIZED);
    assert_eq!(r.content_format(), Some(19));
    CreationHints::decode(&r.payload).unwrap()
}

#[tokio::test]
async fn full_flow_over_oscore_then_expiry() {
    tokio::time::timeout(LIMIT, async {
        let (local, clock) = start(SecurityMode::Oscore).await;
        let hints = hints_from(&local, "/temp").await;
        assert_eq!(hints.audience.as_deref(), Some("rs1"));
        assert_eq!(
            hints.as_uri.as_deref(),
            Some(format!("coap://{}/token", local.as_addr).as_str())
        );

        // Before any token there is no OSCORE context with the RS (RFC 9203 derives it).
        assert!(
            local
                .client
                .rs_request(Code::GET, "/temp", b"")
                .await
                .is_err()
        );

        let info = local
            .client
            .request_token(&hints, "temp:r led:r")
            .await
            .unwrap();
        assert_eq!(info.audience.as_deref(), Some("rs1"));
        // The AS generated the OSCORE Input Material (RFC 9203 §3.2).
        let material = info.osc.clone().expect("cnf.osc in the token response");
        let material_id = material.id.clone().unwrap();
        assert_eq!(material.ms.as_ref().unwrap().expose().len(), 16);
        // The token is a COSE_Encrypt0 for the RS: the material is not readable without the
        // RS's key.
        assert!(matches!(
            ace_token::cose::parse_token(&info.token).unwrap().1,
            ace_token::cose::CoseMessage::Encrypt0(_)
        ));
        let (up, ex) = local.client.upload_oscore(&info).await.unwrap();
        assert_eq!(up.code, Code::CREATED);
        let ex = ex.unwrap();
        assert_eq!(ex.material_id, material_id);
        assert_eq!((ex.nonce1.len(), ex.nonce2.len()), (8, 8));
        assert_ne!(ex.nonce1, ex.nonce2);
        assert_eq!(
            ex.client_recipient_id,
            ace_server::local::CLIENT_RECIPIENT_ID
        );
        assert_ne!(ex.server_recipient_id, ex.client_recipient_id);
        // Master Salt = bstr(N1) ‖ bstr(N2) (no salt in the material), RFC 9203 §4.3.
        assert_eq!(
            ex.master_salt,
            ace_oscore::profile::master_salt(None, &ex.nonce1, &ex.nonce2)
        );
        let rs_oscore = local.rs_service.oscore_profile().unwrap().clone();
        assert_eq!(rs_oscore.channel_count(), 1);
        assert_eq!(
            rs_oscore.channel_identity(&ex.server_recipient_id, None, clock.now()),
            Some(ChannelIdentity::PskIdentity(material_id.clone()))
        );

        let r = local
            .client
            .rs_request(Code::GET, "/temp", b"")
            .await
            .unwrap();
        assert_eq!(
            (r.code, r.payload.as_slice()),
            (Code::CONTENT, &b"21.5 C"[..])
        );
        let r = local
            .client
            .rs_request(Code::GET, "/led", b"")
            .await
            .unwrap();
        assert_eq!(r.code, Code::CONTENT);
        let r = local
            .client
            .rs_request(Code::GET, "/big", b"")
            .await
            .unwrap();
        assert_eq!(r.code, Code::FORBIDDEN);
        let r = local
            .client
            .rs_request(Code::PUT, "/led", b"1")
            .await
            .unwrap();
        assert_eq!(r.code, Code::METHOD_NOT_ALLOWED);
        assert_eq!(
            local
                .client
                .rs_request(Code::GET, "/counter", b"")
                .await
                .unwrap()
                .code,
            Code::FORBIDDEN
        );
        // Unprotected requests still carry no identity.
        let _ = hints_from(&local, "/temp").await;

        // Re-posting the original token derives a new context that replaces the old one.
        let (up, ex2) = local.client.upload_oscore(&info).await.unwrap();
        assert_eq!(up.code, Code::CREATED);
        let ex2 = ex2.unwrap();
        assert_ne!(ex2.nonce1, ex.nonce1);
        assert_eq!(rs_oscore.channel_count(), 1);
        assert_eq!(
            local
                .client
                .rs_request(Code::GET, "/temp", b"")
                .await
                .unwrap()
                .code,
            Code::CONTENT
        );

        // Update of access rights over the context (RFC 9203 §4.1: req_cnf {kid}, token
        // POSTed over OSCORE): the context stays and the new scope applies.
        let update = local
            .client
            .request_update_token(&hints, "temp:r led:r counter:r", &material_id)
            .await
            .unwrap();
        assert!(update.osc.is_none(), "no new material for an update");
        let r = local.client.update_over_oscore(&update).await.unwrap();
        assert_eq!(r.code, Code::CREATED);
        assert_eq!(rs_oscore.channel_count(), 1);
        let r = local
            .client
            .rs_request(Code::GET, "/counter", b"")
            .await
            .unwrap();
        assert_eq!(r.code, Code::CONTENT);
        // The client will not post a token without material unprotected ...
        assert!(local.client.upload(&update).await.is_err());
        // ... and the RS refuses it there (a kid-only token needs its OSCORE channel).
        let (plain, driver) =
            ace_coap::Client::bind("127.0.0.1:0".parse().unwrap(), ace_coap::Config::default())
                .await
                .unwrap();
        tokio::spawn(driver.run());
        let (cf, req) = update.authz_info_request();
        let r = plain
            .post(
                local.rs_addr,
                "/authz-info",
                req.encode().unwrap(),
                Some(cf.0),
            )
            .await
            .unwrap();
        assert_eq!(r.code, Code::BAD_REQUEST);
        assert_eq!(rs_oscore.channel_count(), 1);

        // The AS knows the token (introspection as the RS's registered identity).
        let req = IntrospectionRequest::new(info.token.clone())
            .encode()
            .unwrap();
        let rs_id = ChannelIdentity::PskIdentity(b"rs".to_vec());
        match local.as_service.introspect_bytes(&rs_id, &req).unwrap() {
            ace_core::AsResponse::Introspection(i) => assert!(i.active),
            other => panic!("unexpected {other:?}"),
        }

        clock.advance(61);
        // Expired but not yet dropped: the context maps to no token, 4.01.
        local.rs_service.expire().unwrap();
        // Expiry dropped the context: the RS answers without OSCORE (context not found).
        assert_eq!(rs_oscore.channel_count(), 0);
        assert_eq!(
            rs_oscore.channel_identity(&ex2.server_recipient_id, None, clock.now()),
            None
        );
        let r = local
            .client
            .rs_request(Code::GET, "/temp", b"")
            .await
            .unwrap();
        assert_eq!(r.code, Code::UNAUTHORIZED);
        let h = hints_from(&local, "/temp").await;
        assert_eq!(h.audience.as_deref(), Some("rs1"));
        match local.as_service.introspect_bytes(&rs_id, &req).unwrap() {
            ace_core::AsResponse::Introspection(i) => assert!(!i.active),
            other => panic!("unexpected {other:?}"),
        }
        local.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn as_refusals_and_unprotected_requests() {
    tokio::time::timeout(LIMIT, async {
        let (local, _clock) = start(SecurityMode::Oscore).await;
        let hints = hints_from(&local, "/big").await;
        // Policy allows temp:r led:r counter:r only.
        match local.client.request_token(&hints, "big:r").await {
            Err(ace_server::Error::Engine(ace_core::Error::Refused { code, error })) => {
                assert_eq!(code, ace_core::CoapCode::BAD_REQUEST);
                assert_eq!(error, Some(ErrorCode::INVALID_SCOPE));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Plain CoAP to an OSCORE-only AS: 4.01, nothing issued.
        let (c, driver) =
            ace_coap::Client::bind("127.0.0.1:0".parse().unwrap(), ace_coap::Config::default())
                .await
                .unwrap();
        tokio::spawn(driver.run());
        let r = c
            .post(local.as_addr, "/token", vec![0xa0], Some(19))
            .await
            .unwrap();
        assert_eq!(r.code, Code::UNAUTHORIZED);
        // Garbage at authz-info: 4.00.
        let r = c
            .post(local.rs_addr, "/authz-info", vec![0x01, 0x02], None)
            .await
            .unwrap();
        assert_eq!(r.code, Code::BAD_REQUEST);
        local.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn insecure_mode_authenticates_with_the_client_secret() {
    tokio::time::timeout(LIMIT, async {
        let (local, _clock) = start(SecurityMode::Insecure).await;
        let hints = hints_from(&local, "/temp").await;
        let info = local.client.request_token(&hints, "temp:r").await.unwrap();
        assert_eq!(
            local.client.upload(&info).await.unwrap().code,
            Code::CREATED
        );
        let r = local
            .client
            .rs_request(Code::GET, "/temp", b"")
            .await
            .unwrap();
        assert_eq!(r.code, Code::CONTENT);
        local.shutdown().await;
    })
    .await
    .unwrap();
}

#[test]
fn insecure_mode_is_refused_off_loopback() {
    let addr = "192.0.2.1:5683".parse().unwrap();
    assert!(matches!(
        ace_server::check_insecure_allowed(addr, "as"),
        Err(ace_server::Error::InsecureNotLoopback { .. })
    ));
    assert!(ace_server::check_insecure_allowed("127.0.0.1:1".parse().unwrap(), "as").is_ok());
}

#[tokio::test]
async fn address_in_use_is_recognized() {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let err = ace_server::bind_coap(
        addr,
        ace_coap::Config::default(),
        ace_coap::Router::new(),
        ace_coap::PlainCoap,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ace_server::Error::AddressInUse { .. }),
        "{err}"
    );
}
