//! A small, fast random number generator for the server's own choices
//! (queue group members, jitter); nothing secret. And the random names
//! nats-server makes as NUIDs (a generated cluster name, an event id).

/// A small, fast random number generator for picking queue group members
/// (xorshift64*; not for anything secret).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock and a per-connection value.
    pub fn new(seed: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((t ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    /// A number in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// 22 random base-62 characters, the shape of nats-server's NUIDs (its
/// generated cluster names, its event ids). From the system's randomness,
/// or the clock when there is none.
pub fn nuid() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut raw = [0u8; 22];
    if getrandom::fill(&mut raw).is_err() {
        let t = super::client::unix_nanos(std::time::SystemTime::now()).to_le_bytes();
        for (i, b) in raw.iter_mut().enumerate() {
            *b = t[i % 8].wrapping_add(i as u8 * 31);
        }
    }
    raw.iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}
