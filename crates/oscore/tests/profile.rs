//! RFC 9203 (OSCORE profile of ACE): the examples that carry bytes, and the whole flow
//! client → AS → RS authz-info → OSCORE request → access decision.

use std::sync::Arc;

use ace_core::consts::{ContentFormat, code};
use ace_core::{
    Access, AccessInfo, AsConfig, AsEngine, AuthzInfoRequest, AuthzInfoResponse, ChannelIdentity,
    ClientConfig, ClientCredential, ClientEngine, ClientInfo, CreationHints, MemoryAcceptedTokens,
    MemoryRegistry, MemoryTokenStore, Profile, ResourceServerInfo, RsConfig, RsEngine, ScopeMap,
    StaticPolicy, TokenFormat, TokenRequest, TokenResponse,
};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::consts::{code as ocode, option};
use ace_oscore::profile::{
    ACE_CLIENT_RECIPIENTID, NONCE1, OscoreProfile, ProfileError, RsChannels, authz_info_request,
    authz_info_response, context_params, master_salt, master_salt_json,
};
use ace_oscore::{ContextSet, Message, RequestOutcome, SecurityContext};
use ace_token::{
    AceProfile, Claims, ClaimsBuilder, CoapCode, Confirmation, KeySet, OscoreInputMaterial,
    ProofOfPossession, Scope, SecretBytes, TokenKey, UnixTime,
};
use aif::{LocalPart, Method, RestAif, RestMethods};
use base64::Engine as _;
use coset::cbor::value::Value;
use coset::iana::Algorithm;
use rand::SeedableRng;
use rand::rngs::StdRng;

const MS: &str = "f9af838368e353e78888e1426bd94e6f";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn rfc_material() -> OscoreInputMaterial {
    OscoreInputMaterial {
        id: Some(vec![0x01]),
        ms: Some(SecretBytes::from_slice(&h(MS))),
        ..OscoreInputMaterial::default()
    }
}

// ---------------------------------------------------------------- figures with bytes

/// Figures 5 and 6 (§3.2): the CWT Claims Set with `cnf` `osc`, byte-exact, and Figure 4
/// (the same OSCORE_Input_Material in the token response).
#[test]
fn figures_4_5_6_osc_cnf_in_claims_and_response() {
    let fig5 = h("A5 03 76 74656D7053656E736F72496E4C6976696E67526F6F6D
                  06 1A 5112D728 04 1A 51145DC8
                  09 78 18 74656D70657261747572655F67206669726D776172655F70
                  08 A1 04 A2 00 41 01 02 50 F9AF838368E353E78888E1426BD94E6F");
    let claims = ClaimsBuilder::new()
        .audience("tempSensorInLivingRoom")
        .issued_at(UnixTime(1_360_189_224))
        .expiration(UnixTime(1_360_289_224))
        .scope(Scope::Text("temperature_g firmware_p".into()))
        .cnf(Confirmation::osc(rfc_material()))
        .build();
    // The figure's bytes decode to these claims; our encoding is the deterministic order
    // (RFC 8949 §4.2.1: 3, 4, 6, 8, 9) of the same entries.
    assert_eq!(Claims::from_cbor(&fig5).unwrap(), claims);
    let canonical = h("A5 03 76 74656D7053656E736F72496E4C6976696E67526F6F6D
                       04 1A 51145DC8 06 1A 5112D728
                       08 A1 04 A2 00 41 01 02 50 F9AF838368E353E78888E1426BD94E6F
                       09 78 18 74656D70657261747572655F67206669726D776172655F70");
    assert_eq!(claims.to_cbor().unwrap(), canonical);

    // Figure 4: the token response's cnf (token elided in the RFC; its shown prefix used).
    let resp = TokenResponse {
        access_token: h("8343a1010aa2044c53"),
        ace_profile: Some(AceProfile(2)),
        expires_in: Some(3600),
        cnf: Some(Confirmation::osc(rfc_material())),
        ..TokenResponse::default()
    };
    let bytes = resp.encode().unwrap();
    // {1: h'8343..', 2: 3600, 8: {4: {0: h'01', 2: h'f9af..'}}, 38: 2}
    let expected = h("A4 01 49 8343a1010aa2044c53 02 19 0E10
                      08 A1 04 A2 00 41 01 02 50 F9AF838368E353E78888E1426BD94E6F
                      18 26 02");
    assert_eq!(bytes, expected);
    let back = TokenResponse::decode(&bytes).unwrap();
    assert_eq!(
        ace_oscore::profile::osc_of(back.cnf.as_ref().unwrap()),
        Some(&rfc_material())
    );
}

/// Figures 2 and 3 (§3.1), 7 and 8 (§3.2): the token request, the update-of-access-rights
/// request with `req_cnf` `{kid: h'01'}`, the response without `cnf` and the claims set
/// with `cnf` `{kid: h'01'}`.
#[test]
fn figures_2_3_7_8_update_of_access_rights() {
    // Figure 2: {5: "tempSensor4711", 9: "read"}
    let fig2 = h("A2 05 6E 74656D7053656E736F7234373131 09 64 72656164");
    let r = TokenRequest::decode(&fig2).unwrap();
    assert_eq!(r.audience.as_deref(), Some("tempSensor4711"));
    assert_eq!(r.encode().unwrap(), fig2);
    // Figure 3: {5: "tempSensor4711", 9: "write", 4: {3: h'01'}}, canonical order 4, 5, 9.
    let fig7 = h("A3 04 A1 03 41 01 05 6E 74656D7053656E736F7234373131 09 65 7772697465");
    let r = TokenRequest::decode(&fig7).unwrap();
    assert_eq!(r.req_cnf, Some(Confirmation::kid(vec![0x01])));
    assert_eq!(r.encode().unwrap(), fig7);
    // Figure 8: {aud, iat, exp, scope: "temperature_h", cnf: {3: h'01'}}
    let claims = ClaimsBuilder::new()
        .audience("tempSensorInLivingRoom")
        .issued_at(UnixTime(1_360_189_224))
        .expiration(UnixTime(1_360_289_224))
        .scope(Scope::Text("temperature_h".into()))
        .cnf(Confirmation::kid(vec![0x01]))
        .build();
    let fig8 = h("A5 03 76 74656D7053656E736F72496E4C6976696E67526F6F6D
                  06 1A 5112D728 04 1A 51145DC8
                  09 6D 74656D70657261747572655F68
                  08 A1 03 41 01");
    assert_eq!(Claims::from_cbor(&fig8).unwrap(), claims);
    assert_eq!(
        claims.to_cbor().unwrap(),
        h("A5 03 76 74656D7053656E736F72496E4C6976696E67526F6F6D
           04 1A 51145DC8 06 1A 5112D728 08 A1 03 41 01
           09 6D 74656D70657261747572655F68")
    );
    // Figure 7: {1: token, 38: 2, 2: 3600}: no cnf.
    let resp = TokenResponse {
        access_token: h("8343a1010aa2044c53"),
        ace_profile: Some(AceProfile(2)),
        expires_in: Some(3600),
        ..TokenResponse::default()
    };
    assert_eq!(
        resp.encode().unwrap(),
        h("A3 01 49 8343a1010aa2044c53 02 19 0E10 18 26 02")
    );
}

/// Figure 9 (§3.2.1, JSON OSCORE_Input_Material): the base64url values are the bytes of
/// Figure 4 and `alg` names AES-CCM-16-64-128 (10).
#[test]
fn figure_9_json_material_values() {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    assert_eq!(b64.encode([0x01]), "AQ");
    assert_eq!(b64.encode(h(MS)), "-a-Dg2jjU-eIiOFCa9lObw");
    assert_eq!(Algorithm::AES_CCM_16_64_128 as i64, 10);
}

/// Figures 11 and 12 (§4.1, §4.2): the authz-info request (token elided in the RFC; its
/// shown prefix used) and the 2.01 payload, byte-exact.
#[test]
fn figures_11_12_authz_info_payloads() {
    let req = authz_info_request(&h("8343a1010aa2044c53"), &h("018a278f7faab55a"), &h("1645"));
    let bytes = req.encode().unwrap();
    assert_eq!(
        bytes,
        h("A3 01 49 8343a1010aa2044c53 18 28 48 018a278f7faab55a 18 2B 42 1645")
    );
    assert_eq!(
        req.content_format(ContentFormat::CWT),
        ContentFormat::ACE_CBOR
    );
    let back = AuthzInfoRequest::decode(Some(ContentFormat::ACE_CBOR), &bytes).unwrap();
    assert_eq!(
        back.param(NONCE1),
        Some(&Value::Bytes(h("018a278f7faab55a")))
    );
    assert_eq!(
        back.param(ACE_CLIENT_RECIPIENTID),
        Some(&Value::Bytes(h("1645")))
    );

    let resp = authz_info_response(&h("25a8991cd700ac01"), &h("0000"));
    let bytes = resp.encode().unwrap();
    assert_eq!(bytes, h("A2 18 2A 48 25a8991cd700ac01 18 2C 42 0000"));
    assert_eq!(AuthzInfoResponse::decode(&bytes).unwrap(), resp);
}

/// Figures 13 and 14 (§4.3): Master Salt construction, CBOR and base64.
#[test]
fn figures_13_14_master_salt() {
    let (n1, n2, salt) = (h("018a278f7faab55a"), h("25a8991cd700ac01"), h(MS));
    assert_eq!(
        master_salt(Some(&salt), &n1, &n2),
        h("50 f9af838368e353e78888e1426bd94e6f 48 018a278f7faab55a 48 25a8991cd700ac01")
    );
    let json = master_salt_json(Some(&salt), &n1, &n2).unwrap();
    assert_eq!(
        json,
        h("10 f9af838368e353e78888e1426bd94e6f 08 018a278f7faab55a 08 25a8991cd700ac01")
    );
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&json),
        "EPmvg4No41PniIjhQmvZTm8IAYonj3+qtVoIJaiZHNcArAE="
    );
    // Without a salt only the nonces remain.
    assert_eq!(
        master_salt(None, &n1, &n2),
        h("48 018a278f7faab55a 48 25a8991cd700ac01")
    );
}

/// §4.3 with the RFC's values (ms of Figure 4 as salt and secret, N1/N2/ID1/ID2 of Figures
/// 11/12): the client and the RS derive mirrored contexts; the RFC gives no derived keys,
/// so the check is that each side's Sender Key is the other's Recipient Key and that a
/// request passes.
#[test]
fn rfc_values_derive_matching_contexts() {
    let m = OscoreInputMaterial {
        salt: Some(h(MS)),
        ..rfc_material()
    };
    let (n1, n2) = (h("018a278f7faab55a"), h("25a8991cd700ac01"));
    let client = context_params(&m, &n1, &n2, &h("0000"), &h("1645")).unwrap();
    let rs = context_params(&m, &n1, &n2, &h("1645"), &h("0000")).unwrap();
    assert_eq!(client.master_salt, master_salt(Some(&h(MS)), &n1, &n2));
    assert_eq!(client.id_context, None);
    let c = SecurityContext::new(RustCrypto, client).unwrap();
    let s = SecurityContext::new(RustCrypto, rs).unwrap();
    assert_eq!(c.sender_key(), s.recipient_key());
    assert_eq!(c.recipient_key(), s.sender_key());
    assert_eq!(c.common_iv(), s.common_iv());
    assert_ne!(c.sender_key(), c.recipient_key());
    // contextId becomes the ID Context as given.
    let with_ctx = OscoreInputMaterial {
        context_id: Some(h("37cbf3210017a2d3")),
        ..rfc_material()
    };
    let p = context_params(&with_ctx, &n1, &n2, &[], &[1]).unwrap();
    assert_eq!(p.id_context, Some(h("37cbf3210017a2d3")));
}

// ---------------------------------------------------------------- the whole flow

struct World {
    as_engine: AsEngine,
    rs: RsEngine,
    profile: OscoreProfile,
    client: ClientEngine,
    channels: RsChannels,
    contexts: ContextSet<RustCrypto>,
    rng: StdRng,
    now: UnixTime,
}

fn world(profile: OscoreProfile, format: Option<TokenFormat>) -> World {
    let rs_key = [0x42u8; 16];
    let osc = AceProfile(2);
    let format = format.unwrap_or(TokenFormat::Encrypt0 {
        alg: Algorithm::AES_CCM_16_64_128,
        key: SecretBytes::from_slice(&rs_key),
        kid: Some(b"rs1".to_vec()),
    });
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(osc),
        )
        .with_resource_server(ResourceServerInfo::new("rs1", osc, format));
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read write".into()));
    let p: Arc<dyn Profile> = Arc::new(profile.clone());
    let as_engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        ace_core::testing::backend(),
    )
    .with_profiles(vec![p.clone()]);
    let lp = |s: &str| LocalPart::new(s).unwrap();
    let mut cfg = RsConfig::new("rs1", "coap://as.example/token");
    cfg.issuers = vec!["as".into()];
    cfg.scope_map = ScopeMap::new()
        .with_text("read", RestAif::new().with(lp("/s"), RestMethods::GET))
        .with_text("write", RestAif::new().with(lp("/s"), RestMethods::PUT));
    let keys = KeySet::new().with(TokenKey::symmetric(rs_key.to_vec()).with_kid(*b"rs1"));
    let rs = RsEngine::new(
        cfg,
        Box::new(keys),
        ace_core::testing::backend(),
        Box::new(MemoryAcceptedTokens::new()),
    )
    .with_profiles(vec![p]);
    let mut ccfg = ClientConfig::new("client");
    ccfg.client_secret = Some(SecretBytes::from_slice(b"secret"));
    ccfg.profiles = vec![osc];
    World {
        as_engine,
        rs,
        profile,
        client: ClientEngine::new(ccfg),
        channels: RsChannels::new(),
        contexts: ContextSet::new(),
        rng: StdRng::seed_from_u64(9203),
        now: UnixTime(1_700_000_000),
    }
}

impl World {
    fn token(&mut self, scope: &str, update_of: Option<&[u8]>) -> AccessInfo {
        let hints = CreationHints {
            as_uri: Some("coap://as.example/token".into()),
            audience: Some("rs1".into()),
            ..CreationHints::default()
        };
        let mut step = self
            .client
            .request_token(&hints, Some(Scope::Text(scope.into())))
            .unwrap();
        if let Some(id) = update_of {
            OscoreProfile::request_update(&mut step, id);
        }
        let out = self
            .as_engine
            .handle_token_bytes(
                self.now,
                &ChannelIdentity::Anonymous,
                &step.payload().unwrap(),
                &mut self.rng,
            )
            .unwrap();
        let payload = out.response.payload().unwrap();
        step.handle_response(self.now, out.response.code(), &payload)
            .unwrap()
    }

    /// Unprotected POST /authz-info; installs the RS context. Returns the client's context.
    fn post(
        &mut self,
        info: &AccessInfo,
        id1: &[u8],
    ) -> Result<SecurityContext<RustCrypto>, ProfileError> {
        let (cf, payload, pending) = self
            .profile
            .client_authz_info(info, id1, &mut self.rng)
            .unwrap();
        let out = self
            .profile
            .rs_authz_info(
                &mut self.rs,
                &mut self.channels,
                self.now,
                &ChannelIdentity::Anonymous,
                Some(cf),
                &payload,
                &mut self.rng,
            )
            .unwrap();
        if let Some(ctx) = out.context {
            if let Some((rid, idc)) = &ctx.replaces {
                let i = self.contexts.find(rid, idc.as_deref()).unwrap();
                self.contexts.remove(i);
            }
            self.contexts
                .insert(SecurityContext::new(RustCrypto, ctx.params).unwrap());
        }
        let params = pending.handle_response(out.code, &out.payload)?;
        Ok(SecurityContext::new(RustCrypto, params).unwrap())
    }

    /// An OSCORE request from the client: RS verifies, maps the context to the token and
    /// decides; the response is protected and verified by the client.
    fn request(
        &mut self,
        client: &mut SecurityContext<RustCrypto>,
        method: Method,
        path: &str,
    ) -> Result<Access, u8> {
        let c = match method {
            Method::Get => ocode::GET,
            Method::Put => 0x03,
            Method::Post => ocode::POST,
            _ => 0x04,
        };
        let req = Message::new(c).with_option(option::URI_PATH, path.as_bytes().to_vec());
        let sent = client.protect_request(&req).unwrap();
        let (index, outcome) = self
            .contexts
            .unprotect_request(&sent.message)
            .map_err(|e| e.to_response().code)?;
        let RequestOutcome::Accepted(v) = outcome else {
            panic!("no Echo expected")
        };
        let ctx = self.contexts.get(index).unwrap();
        let Some(peer) =
            self.channels
                .channel_identity(v.binding.kid(), ctx.id_context(), self.now)
        else {
            // Token expired: the context must not be used (§4.3: unprotected 4.01).
            return Err(ocode::UNAUTHORIZED);
        };
        assert_eq!(v.request, req);
        let access = self
            .rs
            .authorize(self.now, &peer, &format!("/{path}"), method, &mut self.rng);
        let answer = match access.code() {
            None => ocode::CONTENT,
            Some(c) => (c.class << 5) | c.detail,
        };
        let mut binding = v.binding;
        let resp = self
            .contexts
            .get_mut(index)
            .unwrap()
            .protect_response(&mut binding, &Message::new(answer))
            .unwrap();
        let mut cb = sent.binding;
        let got = client.unprotect_response(&mut cb, &resp.message).unwrap();
        assert_eq!(got.code, answer);
        Ok(access)
    }
}

#[test]
fn whole_flow_client_as_rs_oscore_access() {
    let mut w = world(OscoreProfile::new().with_salt_len(8), None);
    let info = w.token("read", None);
    // AS: osc cnf with id, 16-byte ms, 8-byte salt, in the client's response (§3.2).
    let m = info.osc.clone().expect("osc material");
    assert_eq!(m.ms.as_ref().unwrap().expose().len(), 16);
    assert_eq!(m.salt.as_ref().unwrap().len(), 8);
    assert_eq!(info.kid, m.id);
    assert_eq!(info.profile, AceProfile(2));
    assert_eq!(
        info.channel_identity(),
        Some(ChannelIdentity::PskIdentity(m.id.clone().unwrap()))
    );

    let mut client = w.post(&info, &[0x16, 0x45]).unwrap();
    assert_eq!(w.contexts.len(), 1);
    assert_eq!(client.recipient_id(), &[0x16, 0x45]);
    let rs_ctx = w.contexts.get(0).unwrap();
    assert_eq!(rs_ctx.sender_id(), &[0x16, 0x45]);
    assert_eq!(client.sender_id(), rs_ctx.recipient_id());
    assert_eq!(client.sender_key(), rs_ctx.recipient_key());
    assert_eq!(client.recipient_key(), rs_ctx.sender_key());

    assert_eq!(w.request(&mut client, Method::Get, "s"), Ok(Access::Allow));
    assert_eq!(
        w.request(&mut client, Method::Put, "s"),
        Ok(Access::MethodNotAllowed)
    );
    assert_eq!(
        w.request(&mut client, Method::Get, "other"),
        Ok(Access::Forbidden)
    );

    // Token expiry: the context is no longer usable, and expire() drops it.
    w.now = w.now.saturating_add(3600 * 24);
    assert_eq!(
        w.request(&mut client, Method::Get, "s"),
        Err(ocode::UNAUTHORIZED)
    );
    let gone = w.channels.expire(w.now);
    assert_eq!(gone.len(), 1);
    let i = w.contexts.find(&gone[0].0, gone[0].1.as_deref()).unwrap();
    w.contexts.remove(i);
    assert_eq!(
        w.request(&mut client, Method::Get, "s"),
        Err(ocode::UNAUTHORIZED)
    );
}

#[test]
fn token_update_keeps_the_context_and_repost_rederives() {
    let mut w = world(OscoreProfile::new(), None);
    let info = w.token("read", None);
    let id = info.osc.as_ref().unwrap().id.clone().unwrap();
    let mut old_client = w.post(&info, &[0x01]).unwrap();
    assert_eq!(
        w.request(&mut old_client, Method::Get, "s"),
        Ok(Access::Allow)
    );

    // Re-posting the same token unprotected derives a new context (new nonces) and
    // discards the old one (§4.1, §5).
    let mut client = w.post(&info, &[0x01]).unwrap();
    assert_eq!(w.contexts.len(), 1);
    assert_ne!(client.sender_key(), old_client.sender_key());
    assert_eq!(
        w.request(&mut client, Method::Put, "s"),
        Ok(Access::MethodNotAllowed)
    );
    // The old client context no longer verifies at the RS.
    assert!(w.request(&mut old_client, Method::Get, "s").is_err());

    // §3.1: update with req_cnf {kid: id}: no cnf in the response, kid in the token.
    let update = w.token("read write", Some(&id));
    assert!(update.osc.is_none());
    assert_eq!(update.kid.as_deref(), Some(&id[..]));
    let (cf, payload) = OscoreProfile::client_update_payload(&update).unwrap();
    let rs_post = |w: &mut World, peer: ChannelIdentity| {
        w.profile
            .rs_authz_info(
                &mut w.rs,
                &mut w.channels,
                w.now,
                &peer,
                Some(cf),
                &payload,
                &mut w.rng,
            )
            .unwrap()
    };
    // Unprotected, the update is refused (no material, no nonces).
    let out = rs_post(&mut w, ChannelIdentity::Anonymous);
    assert_eq!(out.code, CoapCode::BAD_REQUEST);
    // Over another material's channel: 4.01 (§4.2).
    let out = rs_post(&mut w, ChannelIdentity::PskIdentity(b"other".to_vec()));
    assert_eq!(out.code, CoapCode::UNAUTHORIZED);
    // Over the OSCORE channel of `id`: 2.01, no payload, same context, new rights.
    let out = rs_post(&mut w, ChannelIdentity::PskIdentity(id.clone()));
    assert_eq!(out.code, code::CREATED);
    assert!(out.payload.is_empty() && out.context.is_none());
    assert_eq!(w.contexts.len(), 1);
    assert_eq!(w.request(&mut client, Method::Put, "s"), Ok(Access::Allow));
    // The superseded original token cannot be re-posted (RFC 9200 replay: 4.01).
    assert_eq!(
        w.post(&info, &[0x01]).unwrap_err(),
        ProfileError::Refused(CoapCode::UNAUTHORIZED)
    );
    assert_eq!(w.request(&mut client, Method::Put, "s"), Ok(Access::Allow));

    // A new token (new material id) derives a second, independent context.
    let info2 = w.token("read", None);
    assert_ne!(info2.kid, info.kid);
    let mut client2 = w.post(&info2, &[0x01]).unwrap();
    assert_eq!(w.contexts.len(), 2);
    assert_eq!(w.request(&mut client2, Method::Get, "s"), Ok(Access::Allow));
    assert_eq!(
        w.request(&mut client2, Method::Put, "s"),
        Ok(Access::MethodNotAllowed)
    );
}

#[test]
fn negative_authz_info_cases() {
    let mut w = world(OscoreProfile::new(), None);
    let info = w.token("read", None);
    let post = |w: &mut World, payload: Vec<u8>, cf: Option<ContentFormat>| {
        w.profile
            .rs_authz_info(
                &mut w.rs,
                &mut w.channels,
                w.now,
                &ChannelIdentity::Anonymous,
                cf,
                &payload,
                &mut w.rng,
            )
            .unwrap()
    };
    // Raw token (no nonce1, no ID1): 4.00.
    let out = post(&mut w, info.token.clone(), Some(ContentFormat::CWT));
    assert_eq!(out.code, CoapCode::BAD_REQUEST);
    // Missing ace_client_recipientid.
    let req = AuthzInfoRequest::Params {
        access_token: info.token.clone(),
        rest: vec![(ace_core::Label::Int(NONCE1), Value::Bytes(vec![1; 8]))],
    };
    let out = post(&mut w, req.encode().unwrap(), Some(ContentFormat::ACE_CBOR));
    assert_eq!(out.code, CoapCode::BAD_REQUEST);
    // nonce1 of the wrong type (text).
    let req = AuthzInfoRequest::Params {
        access_token: info.token.clone(),
        rest: vec![
            (ace_core::Label::Int(NONCE1), Value::Text("n".into())),
            (
                ace_core::Label::Int(ACE_CLIENT_RECIPIENTID),
                Value::Bytes(vec![1]),
            ),
        ],
    };
    let out = post(&mut w, req.encode().unwrap(), Some(ContentFormat::ACE_CBOR));
    assert_eq!(out.code, CoapCode::BAD_REQUEST);
    // ID1 too long for AES-CCM-16-64-128 (13-byte nonce: at most 7 bytes, RFC 8613 §3.3).
    let out = post(
        &mut w,
        authz_info_request(&info.token, &[1; 8], &[9; 8])
            .encode()
            .unwrap(),
        Some(ContentFormat::ACE_CBOR),
    );
    assert_eq!(out.code, CoapCode::BAD_REQUEST);
    assert!(w.rs.tokens().is_empty(), "refused tokens are not stored");
    assert!(w.channels.channels().is_empty());

    // Client: a 2.01 without nonce2, a refusal, and ID2 = ID1 stop the exchange.
    let (_, _, pending) = w
        .profile
        .client_authz_info(&info, &[7], &mut w.rng)
        .unwrap();
    let no_nonce = AuthzInfoResponse {
        rest: vec![(ace_core::Label::Int(44), Value::Bytes(vec![0]))],
    };
    assert_eq!(
        pending
            .handle_response(code::CREATED, &no_nonce.encode().unwrap())
            .unwrap_err(),
        ProfileError::MissingParameter("nonce2")
    );
    assert_eq!(
        pending
            .handle_response(CoapCode::UNAUTHORIZED, &[])
            .unwrap_err(),
        ProfileError::Refused(CoapCode::UNAUTHORIZED)
    );
    let same = authz_info_response(&[1; 8], &[7]).encode().unwrap();
    assert_eq!(
        pending.handle_response(code::CREATED, &same).unwrap_err(),
        ProfileError::RecipientIdCollision
    );
    // The RS never picks ID1 nor a Recipient ID in use: many clients with the same ID1.
    let mut w2 = world(OscoreProfile::new(), None);
    w2.channels = RsChannels::new().with_reserved(vec![vec![0, 0]]);
    for _ in 0..20 {
        let info = w2.token("read", None);
        let c = w2.post(&info, &[0x00, 0x01]).unwrap();
        assert_ne!(c.sender_id(), &[0x00, 0x01]);
        assert_ne!(c.sender_id(), &[0x00, 0x00]);
    }
    let mut ids: Vec<_> = w2
        .channels
        .channels()
        .iter()
        .map(|c| c.recipient_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

#[test]
fn token_without_osc_and_material_checks() {
    // A token with a COSE_Key cnf cannot bind an OSCORE context: the profile has no binding
    // for it (4.00).
    let p = OscoreProfile::new();
    let key = ace_token::PopKey::symmetric(SecretBytes::from_slice(&[1; 16])).with_kid(*b"k");
    assert_eq!(p.token_binding(&ProofOfPossession::Key(key)), None);
    assert_eq!(
        p.token_binding(&ProofOfPossession::Osc(OscoreInputMaterial {
            ms: None,
            ..rfc_material()
        })),
        None
    );
    assert_eq!(
        p.token_binding(&ProofOfPossession::Osc(rfc_material())),
        Some(ace_core::PopBinding::Kid(vec![1]))
    );
    // Unrecognized osc parameters, unknown alg and other versions are refused (§4.2).
    let req = authz_info_request(b"t", &[1; 8], &[1]);
    let anon = ChannelIdentity::Anonymous;
    for m in [
        OscoreInputMaterial {
            rest: vec![(ace_core::Label::Int(99), Value::from(1))],
            ..rfc_material()
        },
        OscoreInputMaterial {
            alg: Some(coset::Algorithm::Assigned(Algorithm::ES256)),
            ..rfc_material()
        },
        OscoreInputMaterial {
            version: Some(2),
            ..rfc_material()
        },
    ] {
        assert_eq!(
            p.check_authz_info(&req, &anon, &ProofOfPossession::Osc(m)),
            Err(CoapCode::BAD_REQUEST)
        );
    }
    assert_eq!(
        p.check_authz_info(&req, &anon, &ProofOfPossession::Osc(rfc_material())),
        Ok(())
    );

    // AS: OSCORE material needs a token only the RS can read; a Sign1/Mac0 token would
    // carry `ms` in the clear → unsupported_pop_key.
    let mut w = world(
        OscoreProfile::new(),
        Some(TokenFormat::Mac0 {
            alg: Algorithm::HMAC_256_256,
            key: SecretBytes::from_slice(&[0x42; 32]),
            kid: None,
        }),
    );
    let hints = CreationHints {
        as_uri: Some("coap://as".into()),
        audience: Some("rs1".into()),
        ..CreationHints::default()
    };
    let step = w
        .client
        .request_token(&hints, Some(Scope::Text("read".into())))
        .unwrap();
    let out = w
        .as_engine
        .handle_token_bytes(
            w.now,
            &ChannelIdentity::Anonymous,
            &step.payload().unwrap(),
            &mut w.rng,
        )
        .unwrap();
    assert_eq!(out.response.code(), CoapCode::BAD_REQUEST);
    assert_eq!(
        out.response.error_code(),
        Some(ace_core::ErrorCode::UNSUPPORTED_POP_KEY)
    );

    // Expired token at authz-info: 4.01, nothing derived.
    let mut w = world(OscoreProfile::new(), None);
    let info = w.token("read", None);
    w.now = w.now.saturating_add(3601 + 60);
    let err = w.post(&info, &[1]).unwrap_err();
    assert_eq!(err, ProfileError::Refused(CoapCode::UNAUTHORIZED));
    assert!(w.contexts.is_empty());
}

#[test]
fn generated_material_shape() {
    let p = OscoreProfile::new()
        .with_salt_len(4)
        .with_alg(Algorithm::A128GCM)
        .with_context_id(vec![0xaa]);
    let mut rng = StdRng::seed_from_u64(1);
    let m = p.generate_material(&mut rng);
    assert_eq!(m.id.as_ref().unwrap().len(), 8);
    assert_eq!(m.ms.as_ref().unwrap().expose().len(), 16);
    assert_eq!(m.salt.as_ref().unwrap().len(), 4);
    assert_eq!(m.alg, Some(coset::Algorithm::Assigned(Algorithm::A128GCM)));
    assert_eq!(m.context_id, Some(vec![0xaa]));
    let params = context_params(&m, &[1; 8], &[2; 8], &[1], &[2]).unwrap();
    assert_eq!(params.aead, Algorithm::A128GCM);
    assert_eq!(params.id_context, Some(vec![0xaa]));
    assert_eq!(p.symmetric_key_len(), 20);
    assert_eq!(p.id(), AceProfile(2));
}
