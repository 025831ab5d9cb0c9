//! Our own deterministic vectors for a full group-mode exchange (EdDSA and ES256) and full
//! pairwise-mode exchanges (P-256 ECDH; Ed25519 keys mapped to X25519), written as JSON files in `tests/vectors/` and checked
//! here: every value is recomputed and compared with the file, and independently re-checked
//! (signature verified over a Countersign_structure built with ciborium, ciphertext opened
//! with an Enc_structure from coset). `tests/interop/aiocoap_vectors.py` verifies the same
//! files with aiocoap (a second implementation).
//!
//! Regenerate after an intended change: `GROUP_OSCORE_BLESS=1 cargo test -p group-oscore
//! --all-features --test exchange_vectors` (then review the diff).

use std::sync::Arc;

use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_crypto::{
    AeadBackend, Algorithm, CryptoBackend, EcdhBackend, HkdfBackend, KeyType, SignBackend,
};
use ace_oscore::consts::{code, option};
use ace_oscore::{Message, OscoreOption};
use coset::cbor::value::Value;
use coset::iana::EnumI64;
use group_oscore::testing::{self, Member};
use group_oscore::{GroupContext, GroupOption, Mode, RequestMode};
use serde_json::{Value as Json, json};

const GID: &[u8] = b"\xdd\x11";

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn alg(a: Option<Algorithm>) -> Json {
    a.map_or(Json::Null, |a| json!(a.to_i64()))
}

fn message_json(m: &Message) -> Json {
    json!({
        "code": m.code,
        "options": m.options.iter().map(|o| json!([o.number, hx(&o.value)])).collect::<Vec<_>>(),
        "payload": hx(&m.payload),
    })
}

fn countersign(aad: &[u8], ct: &[u8]) -> Vec<u8> {
    let v = Value::Array(vec![
        Value::Text("CounterSignature0".into()),
        Value::Bytes(vec![]),
        Value::Bytes(vec![]),
        Value::Bytes(aad.to_vec()),
        Value::Bytes(ct.to_vec()),
    ]);
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(&v, &mut out).unwrap();
    out
}

/// Recomputes and independently checks one protected message; returns its JSON record.
#[allow(clippy::too_many_arguments)]
fn record(
    sender: &GroupContext<RustCrypto>,
    receiver_key: &[u8],
    mode: Mode,
    plain: &Message,
    protected: &Message,
    is_request: bool,
    request: (&[u8], &[u8], &[u8]),
    decrypted: &Message,
) -> Json {
    let p = sender.params();
    let raw = protected.option(option::OSCORE).unwrap();
    let opt = GroupOption::decode(raw).unwrap();
    let (piv_id, piv) = match &opt.fields.partial_iv {
        Some(piv) => (sender.sender_id().to_vec(), piv.clone()),
        None => (request.0.to_vec(), request.1.to_vec()),
    };
    let aad_array = sender.aad_array(
        request.0,
        request.1,
        request.2,
        raw,
        sender.own_credential().bytes(),
    );
    let enc = coset::enc_structure_data(
        coset::EncryptionContext::CoseEncrypt0,
        coset::ProtectedHeader::default(),
        &aad_array,
    );
    let (a, ct, sig, ks, enc_sig) = match mode {
        Mode::Group => {
            let a = p.group_enc.unwrap();
            let split = protected.payload.len() - 64;
            let (ct, enc_sig) = protected.payload.split_at(split);
            let ks = sender.keystream(&piv, &piv_id, is_request).unwrap();
            let sig: Vec<u8> = enc_sig.iter().zip(ks.iter()).map(|(a, b)| a ^ b).collect();
            RustCrypto
                .verify(
                    p.signature.unwrap(),
                    sender.own_credential().public_key(),
                    &countersign(&aad_array, ct),
                    &sig,
                )
                .expect("signature verifies over the ciborium Countersign_structure");
            (
                a,
                ct.to_vec(),
                Some(sig),
                Some(ks.to_vec()),
                Some(enc_sig.to_vec()),
            )
        }
        Mode::Pairwise => (p.aead.unwrap(), protected.payload.clone(), None, None, None),
    };
    let nonce = sender.nonce(a, &piv_id, &piv).unwrap();
    let pt = RustCrypto.open(a, receiver_key, &nonce, &enc, &ct).unwrap();
    assert_eq!(pt[0], plain.code);
    assert_eq!(decrypted, plain);
    json!({
        "mode": if mode == Mode::Group { "group" } else { "pairwise" },
        "unprotected": message_json(plain),
        "plaintext": hx(&pt),
        "partial_iv": hx(&piv),
        "partial_iv_generator": hx(&piv_id),
        "oscore_option": hx(raw),
        "aad_array": hx(&aad_array),
        "nonce": hx(&nonce),
        "ciphertext": hx(&ct),
        "signature": sig.as_deref().map_or(Json::Null, |s| json!(hx(s))),
        "keystream": ks.as_deref().map_or(Json::Null, |s| json!(hx(s))),
        "encrypted_signature": enc_sig.as_deref().map_or(Json::Null, |s| json!(hx(s))),
        "protected": message_json(protected),
    })
}

fn endpoint_json(m: &Member, ctx: &GroupContext<RustCrypto>) -> Json {
    json!({
        "sender_id": hx(&m.sender_id),
        "private_key": hx(m.private_key.expose()),
        "credential": hx(&m.credential),
        "sender_key": hx(ctx.sender_key()),
    })
}

fn exchange(kind: KeyType, req_mode: &str, resp_mode: Mode, description: &str) -> Json {
    let client_m = testing::member(kind, b"\x25", 0x31).unwrap();
    let server_m = testing::member(kind, b"\x52", 0x32).unwrap();
    let gm = testing::member(kind, b"", 0x33).unwrap();
    let store = Arc::new(testing::store(GID, &[&client_m, &server_m]).unwrap());
    let mk = |m: &Member| {
        GroupContext::new(
            RustCrypto,
            testing::params(m, GID).with_gm_credential(&gm.credential),
            store.clone(),
        )
        .unwrap()
    };
    let mut client = mk(&client_m);
    let mut server = mk(&server_m);
    let request = Message::new(code::GET)
        .with_option(option::URI_HOST, b"localhost".to_vec())
        .with_option(option::URI_PATH, b"tv".to_vec());
    let rm = match req_mode {
        "group" => RequestMode::Group,
        _ => RequestMode::Pairwise(server_m.sender_id.clone()),
    };
    let sent = client.protect_request(&request, &rm).unwrap();
    let mut got = server.unprotect_request(&sent.message).unwrap();
    let response = Message::new(code::CONTENT)
        .with_option(option::CONTENT_FORMAT, vec![])
        .with_payload(b"21.5 C".to_vec());
    let out = server
        .protect_response(&mut got.binding, &response, resp_mode)
        .unwrap();
    let mut binding = sent.binding.clone();
    let back = client
        .unprotect_response(&mut binding, &out.message)
        .unwrap();
    let mode_of = |s: &str| {
        if s == "group" {
            Mode::Group
        } else {
            Mode::Pairwise
        }
    };
    let req_key = match mode_of(req_mode) {
        Mode::Group => server.recipient_key(&client_m.sender_id).unwrap().to_vec(),
        Mode::Pairwise => server
            .pairwise_keys(&client_m.sender_id)
            .unwrap()
            .1
            .to_vec(),
    };
    let resp_key = match resp_mode {
        Mode::Group => client.recipient_key(&server_m.sender_id).unwrap().to_vec(),
        Mode::Pairwise => client
            .pairwise_keys(&server_m.sender_id)
            .unwrap()
            .1
            .to_vec(),
    };
    let kid = sent.binding.kid().to_vec();
    let piv = sent.binding.partial_iv().to_vec();
    let r = (kid.as_slice(), piv.as_slice(), GID);
    let req = record(
        &client,
        &req_key,
        mode_of(req_mode),
        &request,
        &sent.message,
        true,
        r,
        &got.request,
    );
    let resp = record(
        &server,
        &resp_key,
        resp_mode,
        &response,
        &out.message,
        false,
        r,
        &back.response,
    );
    let p = client.params();
    let pairwise = client
        .pairwise_keys(&server_m.sender_id)
        .map_or(Json::Null, |(s, r)| {
            let (ss, sr) = server.pairwise_keys(&client_m.sender_id).unwrap();
            assert_eq!((s, r), (sr, ss));
            json!({"client_sender_key": hx(s), "client_recipient_key": hx(r)})
        });
    // the option of the request, decoded, for readers
    let o = OscoreOption::decode(&{
        let mut v = sent.message.option(option::OSCORE).unwrap().to_vec();
        v[0] &= !0x20;
        v
    })
    .unwrap();
    assert_eq!(o.kid_context.as_deref(), Some(GID));
    json!({
        "description": description,
        "spec": "draft-ietf-core-oscore-groupcomm (newest draft: shared/specs/latest), §2.3, §2.5.1, §4.3, §4.4, §5.1, §5.2, §6, §7",
        "countersign_structure": "[\"CounterSignature0\", h'', h'', external_aad, ciphertext]",
        "compat": {"aiocoap_p256_pairwise_alg": false, "aiocoap_request_kid_context_current_gid": false, "aiocoap_kid_in_every_response": false},
        "common": {
            "master_secret": hx(&p.master_secret),
            "master_salt": hx(&p.master_salt),
            "gid": hx(GID),
            "hkdf": p.hkdf.to_i64(),
            "aead": alg(p.aead),
            "group_enc": alg(p.group_enc),
            "signature": alg(p.signature),
            "pairwise_key_agreement": alg(p.pairwise_key_agreement),
            "gm_credential": hx(&p.gm_credential),
            "common_iv": hx(client.common_iv()),
            "signature_encryption_key": client.signature_encryption_key().map_or(Json::Null, |k| json!(hx(k))),
        },
        "client": endpoint_json(&client_m, &client),
        "server": endpoint_json(&server_m, &server),
        "pairwise": pairwise,
        "request": req,
        "response": resp,
    })
}

fn check_file(name: &str, v: &Json) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = serde_json::to_string_pretty(v).unwrap() + "\n";
    if std::env::var_os("GROUP_OSCORE_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with GROUP_OSCORE_BLESS=1 once)",
            path.display()
        )
    });
    let on_disk: Json = serde_json::from_str(&on_disk).unwrap();
    assert_eq!(&on_disk, v, "{name} differs from the recomputed exchange");
}

/// Group-mode request and group-mode response (request nonce reused), EdDSA / Ed25519.
#[test]
fn group_mode_eddsa() {
    let v = exchange(
        KeyType::Ed25519,
        "group",
        Mode::Group,
        "Group mode, EdDSA (Ed25519), AES-CCM-16-64-128, HKDF-SHA-256; AEAD and ECDH-SS + HKDF-256 set (in the external_aad) but pairwise mode not used",
    );
    assert_eq!(v["common"]["signature"], json!(-8));
    check_file("group_mode_eddsa.json", &v);
}

/// Group-mode request and response, ES256 (deterministic, RFC 6979) with P-256 keys.
#[test]
fn group_mode_es256() {
    let v = exchange(
        KeyType::P256,
        "group",
        Mode::Group,
        "Group mode, ES256 (P-256, RFC 6979 deterministic), AES-CCM-16-64-128, HKDF-SHA-256; pairwise mode also set (ECDH-SS + HKDF-256)",
    );
    check_file("group_mode_es256.json", &v);
}

/// Pairwise-mode request and response with P-256 static-static ECDH.
#[test]
fn pairwise_mode_p256() {
    let v = exchange(
        KeyType::P256,
        "pairwise",
        Mode::Pairwise,
        "Pairwise mode, P-256 ECDH-SS + HKDF-256, AES-CCM-16-64-128; group mode also set (ES256)",
    );
    assert!(v["pairwise"].is_object());
    check_file("pairwise_mode_p256.json", &v);
}

/// The pairwise key of §2.5.1 recomputed outside the crate: HKDF-SHA-256(salt = Sender Key,
/// IKM = own cred ‖ peer cred ‖ shared secret, info = [id, Gid, alg_aead, "Key", 16]) with the
/// `info` built by ciborium.
fn pairwise_key(sender_key: &[u8], ikm: &[u8], id: &[u8], aead: Algorithm) -> Vec<u8> {
    let info = Value::Array(vec![
        Value::Bytes(id.to_vec()),
        Value::Bytes(GID.to_vec()),
        Value::Integer(aead.to_i64().into()),
        Value::Text("Key".into()),
        Value::Integer(16.into()),
    ]);
    let mut info_bytes = Vec::new();
    coset::cbor::ser::into_writer(&info, &mut info_bytes).unwrap();
    let mut okm = vec![0u8; 16];
    RustCrypto
        .hkdf(
            Algorithm::HMAC_256_256,
            sender_key,
            ikm,
            &info_bytes,
            &mut okm,
        )
        .unwrap();
    okm
}

fn json_bytes(v: &Json) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Pairwise-mode request and response between two Ed25519 (EdDSA) members: the keys are
/// mapped to X25519 (draft §2.5.2.1, RFC 7748 §4.1), the IKM carries the Ed25519 CCS
/// credentials as distributed. The file records the mapped keys and the shared secret
/// (`ecdh`); the pairwise keys are recomputed here from them with a ciborium-built `info`.
#[test]
fn pairwise_mode_ed25519() {
    let mut v = exchange(
        KeyType::Ed25519,
        "pairwise",
        Mode::Pairwise,
        "Pairwise mode, Ed25519 keys mapped to X25519 (draft §2.5.2.1: u = (1 + y) / (1 - y), private key = clamped SHA-512 scalar of the seed) for ECDH-SS + HKDF-256, AES-CCM-16-64-128; group mode also set (EdDSA)",
    );
    assert_eq!(v["common"]["signature"], json!(-8));
    assert_eq!(v["common"]["pairwise_key_agreement"], json!(-27));
    assert_eq!(v["request"]["mode"], json!("pairwise"));
    assert_eq!(v["response"]["mode"], json!("pairwise"));
    let client = testing::member(KeyType::Ed25519, b"\x25", 0x31).unwrap();
    let server = testing::member(KeyType::Ed25519, b"\x52", 0x32).unwrap();
    let be = RustCrypto;
    let (c_pub, s_pub) = (
        be.public_key(&client.private_key).unwrap(),
        be.public_key(&server.private_key).unwrap(),
    );
    let (c_x, s_x) = (
        be.ed25519_to_x25519_private(&client.private_key).unwrap(),
        be.ed25519_to_x25519_private(&server.private_key).unwrap(),
    );
    let (c_u, s_u) = (
        be.ed25519_to_x25519_public(&c_pub).unwrap(),
        be.ed25519_to_x25519_public(&s_pub).unwrap(),
    );
    // each mapped private key's X25519 public key is the mapped public key
    assert_eq!(be.public_key(&c_x).unwrap(), c_u);
    assert_eq!(be.public_key(&s_x).unwrap(), s_u);
    let shared = be.ecdh(&c_x, &s_u).unwrap();
    assert_eq!(shared, be.ecdh(&s_x, &c_u).unwrap());
    let ikm_client = [
        client.credential.as_slice(),
        server.credential.as_slice(),
        shared.expose(),
    ]
    .concat();
    let ikm_server = [
        server.credential.as_slice(),
        client.credential.as_slice(),
        shared.expose(),
    ]
    .concat();
    let aead = Algorithm::AES_CCM_16_64_128;
    assert_eq!(
        json_bytes(&v["pairwise"]["client_sender_key"]),
        pairwise_key(
            &json_bytes(&v["client"]["sender_key"]),
            &ikm_client,
            &client.sender_id,
            aead
        )
    );
    assert_eq!(
        json_bytes(&v["pairwise"]["client_recipient_key"]),
        pairwise_key(
            &json_bytes(&v["server"]["sender_key"]),
            &ikm_server,
            &server.sender_id,
            aead
        )
    );
    v["ecdh"] = json!({
        "mapping": "draft-ietf-core-oscore-groupcomm §2.5.2.1 / RFC 7748 §4.1",
        "client_x25519_private_key": hx(c_x.expose()),
        "client_x25519_public_key": hx(c_u.okp_x().unwrap()),
        "server_x25519_private_key": hx(s_x.expose()),
        "server_x25519_public_key": hx(s_u.okp_x().unwrap()),
        "shared_secret": hx(shared.expose()),
    });
    check_file("pairwise_mode_ed25519.json", &v);
}
