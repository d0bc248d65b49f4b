//! A small non-cryptographic random generator for inbox names, `{{ID}}`,
//! `{{Random}}` and the order in which servers are tried. Seeded from the
//! standard library's per-process hash keys, the clock and the pid; nothing
//! here protects a secret.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Characters of NUID-style identifiers (base 62).
const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of an identifier from [`Rng::nuid`], as a NUID's.
pub const NUID_LEN: usize = 22;

/// SplitMix64: tiny, fast, and good enough to spread servers and inboxes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a fresh seed.
    pub fn new() -> Rng {
        let mut h = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        h.write_u64(nanos);
        h.write_u32(std::process::id());
        Rng(h.finish())
    }

    /// A generator with a fixed seed (tests).
    pub fn with_seed(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// `len` random characters from `[0-9A-Za-z]`.
    pub fn alphanumeric(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| ALPHANUMERIC[self.below(ALPHANUMERIC.len() as u64) as usize] as char)
            .collect()
    }

    /// A unique-enough identifier shaped like a NUID (22 base-62 characters).
    pub fn nuid(&mut self) -> String {
        self.alphanumeric(NUID_LEN)
    }

    /// Shuffle a slice in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let mut r = Rng::with_seed(7);
        let id = r.nuid();
        assert_eq!(id.len(), NUID_LEN);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(r.nuid(), id);
        assert!((0..1000).all(|_| r.below(3) < 3));
        let mut v: Vec<u32> = (0..20).collect();
        r.shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..20).collect::<Vec<_>>());
    }
}
