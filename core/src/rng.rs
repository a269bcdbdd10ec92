//! A small, fast, non-cryptographic random source for jitter and queue shuffles, seeded from
//! the OS (so a forked child does not repeat its parent's sequence once it reseeds).

/// xorshift64*: plenty for picking a queue order or a retry jitter.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn from_os() -> Rng {
        let mut seed = [0u8; 8];
        // Without OS randomness the clock still gives distinct processes distinct sequences.
        if getrandom::fill(&mut seed).is_err() {
            seed = (crate::payload::now_epoch_seconds().to_bits() ^ u64::from(std::process::id()))
                .to_le_bytes();
        }
        Rng::seeded(u64::from_le_bytes(seed))
    }

    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
