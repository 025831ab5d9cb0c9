//! Fuzz target: verifying arbitrary Group OSCORE messages with a fixed group context
//! (draft-ietf-core-oscore-groupcomm §6.2, §6.4, §7.2, §7.4).
//!
//! The input is a CoAP datagram. It is handed (1) to a P-256 group context (group and
//! pairwise mode) with the real RustCrypto backend, where nothing forged may be accepted,
//! and (2) to the same context over a backend that accepts any signature and any AEAD tag,
//! so that the fuzzer also reaches plaintext decoding, the replay window, bounded recipient
//! contexts and the response path. No input may panic; every error maps to a response code.

#![no_main]

use std::sync::Arc;

use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_crypto::{
    AeadBackend, Algorithm, CryptoBackend, EcdhBackend, HkdfBackend, KeyType, PrivateKey,
    PublicKey, SecretBytes, SignBackend,
};
use ace_oscore::Packet;
use group_oscore::testing;
use group_oscore::{GroupContext, Mode, RequestMode};
use libfuzzer_sys::fuzz_target;

/// Accepts every signature and tag ("encrypts" as identity + 8 zero bytes); key derivation,
/// public keys and ECDH are real.
#[derive(Clone, Copy)]
struct AcceptAll;

impl CryptoBackend for AcceptAll {
    fn public_key(&self, key: &PrivateKey) -> ace_crypto::Result<PublicKey> {
        RustCrypto.public_key(key)
    }
}

impl SignBackend for AcceptAll {
    fn sign(&self, _alg: Algorithm, _key: &PrivateKey, _msg: &[u8]) -> ace_crypto::Result<Vec<u8>> {
        Ok(vec![0; 64])
    }

    fn verify(
        &self,
        _alg: Algorithm,
        _key: &PublicKey,
        _msg: &[u8],
        _sig: &[u8],
    ) -> ace_crypto::Result<()> {
        Ok(())
    }
}

impl AeadBackend for AcceptAll {
    fn seal(
        &self,
        _alg: Algorithm,
        _key: &[u8],
        _nonce: &[u8],
        _aad: &[u8],
        pt: &[u8],
    ) -> ace_crypto::Result<Vec<u8>> {
        let mut v = pt.to_vec();
        v.extend_from_slice(&[0; 8]);
        Ok(v)
    }

    fn open(
        &self,
        _alg: Algorithm,
        _key: &[u8],
        _nonce: &[u8],
        _aad: &[u8],
        ct: &[u8],
    ) -> ace_crypto::Result<Vec<u8>> {
        let len = ct
            .len()
            .checked_sub(8)
            .ok_or(ace_crypto::Error::DecryptionFailed)?;
        Ok(ct[..len].to_vec())
    }
}

impl HkdfBackend for AcceptAll {
    fn hkdf_extract(
        &self,
        alg: Algorithm,
        salt: &[u8],
        ikm: &[u8],
    ) -> ace_crypto::Result<SecretBytes> {
        RustCrypto.hkdf_extract(alg, salt, ikm)
    }

    fn hkdf_expand(
        &self,
        alg: Algorithm,
        prk: &[u8],
        info: &[u8],
        okm: &mut [u8],
    ) -> ace_crypto::Result<()> {
        RustCrypto.hkdf_expand(alg, prk, info, okm)
    }
}

impl EcdhBackend for AcceptAll {
    fn ecdh(&self, private: &PrivateKey, public: &PublicKey) -> ace_crypto::Result<SecretBytes> {
        RustCrypto.ecdh(private, public)
    }
}

const GID: &[u8] = b"\xdd\x11";

fn setup<B: group_oscore::GroupBackend + Copy>(backend: B) -> (GroupContext<B>, GroupContext<B>) {
    let a = testing::member(KeyType::P256, b"\x25", 0x31).expect("member");
    let b = testing::member(KeyType::P256, b"\x52", 0x32).expect("member");
    let store = Arc::new(testing::store(GID, &[&a, &b]).expect("store"));
    let server = GroupContext::new(
        backend,
        testing::params(&b, GID).with_max_recipients(1),
        store.clone(),
    )
    .expect("context");
    let client = GroupContext::new(backend, testing::params(&a, GID), store).expect("context");
    (server, client)
}

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::decode(data) else {
        return;
    };
    let msg = packet.message;

    // (1) real crypto: nothing the fuzzer builds may verify.
    let (mut server, _) = setup(RustCrypto);
    match server.unprotect_request(&msg) {
        Ok(_) => panic!("forged request accepted"),
        Err(e) => {
            let r = e.to_response();
            assert!(r.code >> 5 == 4 || r.code >> 5 == 5);
        }
    }

    // (2) everything accepted: exercise the code after verification.
    let (mut server, mut client) = setup(AcceptAll);
    match server.unprotect_request(&msg) {
        Ok(mut v) => {
            assert!(
                server.unprotect_request(&msg).is_err(),
                "replay must be detected"
            );
            for mode in [Mode::Group, Mode::Pairwise] {
                let _ =
                    server.protect_response(&mut v.binding, &ace_oscore::Message::new(0x45), mode);
            }
        }
        Err(e) => {
            let _ = e.to_response();
        }
    }
    for mode in [RequestMode::Group, RequestMode::Pairwise(b"\x52".to_vec())] {
        if let Ok(sent) = client.protect_request(&ace_oscore::Message::new(1), &mode) {
            let mut b = sent.binding;
            let mut resp = msg.clone();
            if resp.is_request() {
                resp.code = 0x45;
            }
            let first = client.unprotect_response(&mut b, &resp);
            if first.is_ok() {
                assert!(
                    client.unprotect_response(&mut b, &resp).is_err(),
                    "response replay"
                );
            }
        }
    }
});
