//! Arbitrary bytes → MQTT packet decode (v5 and v3.1.1 layouts) → the ACE auth state machine
//! with a fixed exporter and key set, fed every packet that decodes. Must never panic; a
//! successful connection needs a valid PoP, which random input cannot produce.
#![no_main]

use std::sync::Arc;

use ace_token::{KeySet, Policy, TokenKey, UnixTime, Validator};
use libfuzzer_sys::fuzz_target;
use mqtt_tls_profile::{AuthConfig, ConnectionAuth, Step, TokenStore, wire};

struct CounterRng(u64);
impl rand_core::TryRng for CounterRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.0 = self.0.wrapping_add(1);
        Ok(self.0 as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(1);
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            self.0 = self.0.wrapping_add(1);
            *b = self.0 as u8;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for CounterRng {}

fuzz_target!(|data: &[u8]| {
    let keys = KeySet::new().with(TokenKey::symmetric(vec![0x42; 32]).with_kid(*b"k"));
    let cfg = AuthConfig::new(Validator::new(Policy::new("broker")), Arc::new(keys));
    let mut store = TokenStore::new(16);
    let mut auth = ConnectionAuth::new([0x5a; 32]);
    let mut rng = CounterRng(0);
    let now = UnixTime(1_800_000_000);
    let (version, mut rest) = match data.split_first() {
        Some((v, r)) => (if v & 1 == 0 { 5 } else { 4 }, r),
        None => return,
    };
    let _ = cfg.upload(&mut store, rest, now);
    while let Ok(Some((packet, used))) = wire::decode_packet(rest, version, 64 * 1024) {
        // Re-encoding what we decoded must not panic either.
        let _ = wire::encode_to_vec(&packet);
        if let Step::Auth(_) = auth.handle_packet(&cfg, &mut store, packet, now, &mut rng) {}
        rest = rest.get(used..).unwrap_or_default();
    }
});
