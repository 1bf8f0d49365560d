//! One cheap hasher for the maps looked up on every event: pids, provider
//! GUIDs with event ids, kernel class GUIDs with opcodes, name addresses. Those
//! keys are small or already random, and nothing an attacker controls can make
//! a map slow in a way that matters here, so SipHash's cost buys nothing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate fold of the key's words.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A `HashMap` with `FastHasher`.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_small_keys_spread() {
        let mut buckets = [0u32; 64];
        for pid in (0..6400u32).step_by(4) {
            let mut h = FastHasher::default();
            h.write_u32(pid);
            buckets[(h.finish() >> 58) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (10..=40).contains(&n)),
            "{buckets:?}"
        );
    }
}
