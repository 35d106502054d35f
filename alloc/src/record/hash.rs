//! A fast hash for addresses and address lists.
//!
//! Keys are pointers and return addresses, not attacker-chosen strings, so a
//! folded multiply is enough: it spreads aligned addresses (whose low bits
//! are zero) over every bit of the result, which hashbrown's bucket index
//! (low bits) and control byte (high bits) both need.

use std::hash::{BuildHasher, Hasher};

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Multiplies in 128 bits and folds the halves together.
#[inline(always)]
pub(crate) fn fold_multiply(x: u64, y: u64) -> u64 {
    let full = (x as u128).wrapping_mul(y as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Hashes one address to a well-mixed 64-bit value.
#[inline(always)]
pub(crate) fn address(addr: usize) -> u64 {
    fold_multiply(addr as u64 ^ 0x2545_F491_4F6C_DD1D, MULTIPLIER)
}

/// Hashes a list of addresses (a stack) one word at a time, several times
/// cheaper than feeding the slice to a `Hasher` (which sees it as bytes).
/// The stack walker folds [`StackHash::push`] into its loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackHash(u64);

impl StackHash {
    pub(crate) const fn new() -> Self {
        StackHash(0x2545_F491_4F6C_DD1D)
    }

    /// For a given word, xor-then-multiply-by-odd is a bijection of the
    /// state, so stacks of equal length that differ anywhere never collide
    /// before [`StackHash::finish`] folds the state.
    #[inline(always)]
    pub(crate) fn push(&mut self, word: usize) {
        self.0 = (self.0 ^ word as u64).wrapping_mul(MULTIPLIER);
    }

    /// The hash of all the words pushed, with `seed` (a tag) mixed in.
    pub(crate) fn finish(self, seed: u64) -> u64 {
        fold_multiply(self.0 ^ seed.rotate_left(32), MULTIPLIER)
    }

    /// The hash of `words`, as if pushed one by one.
    pub(crate) fn of(words: &[usize]) -> StackHash {
        let mut hash = StackHash::new();
        for &word in words {
            hash.push(word);
        }
        hash
    }
}

/// Builds [`AddrHasher`]s; usable in `const` statics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AddrHash;

impl BuildHasher for AddrHash {
    type Hasher = AddrHasher;
    fn build_hasher(&self) -> AddrHasher {
        AddrHasher(0)
    }
}

/// The hasher behind [`AddrHash`].
#[derive(Debug)]
pub(crate) struct AddrHasher(u64);

impl AddrHasher {
    #[inline(always)]
    fn mix(&mut self, word: u64) {
        self.0 = fold_multiply(self.0 ^ word, MULTIPLIER);
    }
}

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.mix(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
    fn finish(&self) -> u64 {
        // One more round so that the last word reaches every bit.
        fold_multiply(self.0, MULTIPLIER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn aligned_addresses_spread_over_low_and_high_bits() {
        let base = 0x7f12_3450_0000usize;
        let hashes: Vec<u64> = (0..4096).map(|i| address(base + i * 4096)).collect();
        let low: HashSet<u64> = hashes.iter().map(|h| h & 0xfff).collect();
        let high: HashSet<u64> = hashes.iter().map(|h| h >> 52).collect();
        // 4096 keys into 4096 buckets: a random function fills about 63%.
        assert!(low.len() > 2300, "{}", low.len());
        assert!(high.len() > 2300, "{}", high.len());
    }

    #[test]
    fn stacks_that_differ_hash_differently() {
        let words = |seed, stack: &[usize]| StackHash::of(stack).finish(seed);
        assert_ne!(words(0, &[1, 2, 3]), words(0, &[3, 2, 1]));
        assert_ne!(words(0, &[1, 2]), words(0, &[1, 2, 0]));
        assert_ne!(words(0, &[1, 2]), words(1, &[1, 2]));
        assert_eq!(words(9, &[5, 6]), words(9, &[5, 6]));
        // 10_000 stacks differing in one aligned address, projected on 24
        // bits: an ideal hash leaves ~3 collisions.
        let top: HashSet<u64> = (0..10_000usize)
            .map(|i| words(0, &[0x5555_0000 + i * 16, 42]) >> 40)
            .collect();
        let low: HashSet<u64> = (0..10_000usize)
            .map(|i| words(0, &[0x5555_0000 + i * 16, 42]) & 0xFF_FFFF)
            .collect();
        assert!(
            top.len() > 9_980 && low.len() > 9_980,
            "{} {}",
            top.len(),
            low.len()
        );
    }

    #[test]
    fn slices_that_differ_hash_differently() {
        let hash = |s: &[usize]| AddrHash.hash_one(s);
        assert_ne!(hash(&[1, 2, 3]), hash(&[3, 2, 1]));
        assert_ne!(hash(&[1, 2]), hash(&[1, 2, 0]));
        assert_eq!(hash(&[5, 6]), hash(&[5, 6]));
    }
}
