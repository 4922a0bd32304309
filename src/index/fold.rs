//! ASCII-case-folding hashes and comparisons over host bytes, without copying them.

use std::hash::BuildHasher;

use super::Shape;

/// Hashes bytes as if ASCII-lowercased, without copying them: hosts are looked up as written.
///
/// A folded multiply per sixteen bytes (the construction of foldhash) with per-index random
/// keys, so a crafted set of host names cannot be made to collide without knowing the keys.
#[derive(Clone, Copy)]
pub(super) struct CaseFoldHasher {
    keys: [u64; 2],
}

impl CaseFoldHasher {
    pub(super) fn new() -> Self {
        let random = std::hash::RandomState::new();
        Self {
            keys: [random.hash_one(0u8), random.hash_one(1u8)],
        }
    }

    /// A hasher with the given keys, so that a test is the same on every run.
    #[cfg(test)]
    pub(super) fn with_keys(keys: [u64; 2]) -> Self {
        Self { keys }
    }

    pub(super) fn hash(&self, bytes: &[u8], extra: u64) -> u64 {
        self.hash_folding::<true>(bytes, extra)
    }

    /// [`hash`](Self::hash) of bytes known to hold no uppercase letter: the same value,
    /// without the folding.
    pub(super) fn hash_lowercase(&self, bytes: &[u8], extra: u64) -> u64 {
        self.hash_folding::<false>(bytes, extra)
    }

    fn hash_folding<const FOLD: bool>(&self, bytes: &[u8], extra: u64) -> u64 {
        let [k0, k1] = self.keys;
        let len = bytes.len();
        let mut h = fold(k0 ^ extra, k1 ^ len as u64);
        let fold_case = |w: u64| if FOLD { fold_case(w) } else { w };
        let folded = |at: usize| fold_case(word(bytes, at));
        if len <= 8 {
            h = fold(h ^ fold_case(short_word(bytes)), k1);
        } else {
            let mut at = 0;
            while len - at > 16 {
                h = fold(h ^ folded(at), k1 ^ folded(at + 8));
                at += 16;
            }
            // The last 16 bytes (all of them when fewer), overlapping bytes already read: the
            // length is mixed in.
            h = fold(h ^ folded(len.saturating_sub(16)), k1 ^ folded(len - 8));
        }
        fold(h, k0)
    }

    /// The hash of one host label; shorter than [`hash`](Self::hash) for the usual short label.
    pub(super) fn label_hash(&self, label: &[u8]) -> u64 {
        let [k0, k1] = self.keys;
        let len = label.len();
        // A last fold, as `hash` ends with: one multiply alone leaves the top bits of short,
        // similar labels unevenly set under some keys.
        if len <= 8 {
            fold(fold(fold_case(short_word(label)) ^ k0, k1 ^ len as u64), k0)
        } else if len <= 16 {
            let (a, b) = (word(label, 0), word(label, len - 8));
            fold(
                fold(fold_case(a) ^ k0, fold_case(b) ^ k1 ^ (len as u64) << 59),
                k0,
            )
        } else {
            self.hash(label, 0)
        }
    }

    /// The key of wildcard hosts of shape number `s`: the hashes of the labels it keeps, each
    /// weighted by its place.
    pub(super) fn shape_key(&self, s: u32, shape: Shape, label_hash: impl Fn(usize) -> u64) -> u64 {
        let mut sum = 0u64;
        for i in 0..shape.labels as usize {
            if shape.wild & (1 << i) == 0 {
                sum = sum.wrapping_add(label_hash(i).wrapping_mul(2 * i as u64 + 1));
            }
        }
        fold(sum ^ self.keys[0], self.keys[1] ^ u64::from(s))
    }
}

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;

/// The eight bytes of `w` ASCII-lowercased, all at once: other bytes, non-ASCII ones included,
/// are left as they are.
pub(super) fn fold_case(w: u64) -> u64 {
    let low7 = w & (0x7f * ONES);
    // In each byte, the top bit of `low7 + c` is set when `low7 >= 0x80 - c`; no byte carries.
    let from_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let past_z = low7 + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = from_a & !past_z & !w & (0x80 * ONES);
    w | (upper >> 2)
}

pub(super) fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Up to eight bytes, zero-padded.
///
/// Overlapping reads instead of a copy of variable length, which would be a call to `memcpy`
/// and a stalled load after it. Bytes read twice land on the same place, so `|` keeps them.
pub(super) fn short_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if len >= 4 {
        let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let high = u32::from_le_bytes([
            bytes[len - 4],
            bytes[len - 3],
            bytes[len - 2],
            bytes[len - 1],
        ]);
        u64::from(low) | u64::from(high) << (8 * (len - 4))
    } else if len > 0 {
        u64::from(bytes[0])
            | u64::from(bytes[len / 2]) << (8 * (len / 2))
            | u64::from(bytes[len - 1]) << (8 * (len - 1))
    } else {
        0
    }
}

/// Whether `text` equals `lower` (already ASCII-lowercase) up to ASCII case, eight bytes at a
/// time.
pub(super) fn eq_folded(lower: &[u8], text: &[u8]) -> bool {
    let len = lower.len();
    if len != text.len() {
        return false;
    }
    if len < 8 {
        return fold_case(short_word(text)) == short_word(lower);
    }
    let mut at = 0;
    while len - at > 8 {
        if fold_case(word(text, at)) != word(lower, at) {
            return false;
        }
        at += 8;
    }
    fold_case(word(text, len - 8)) == word(lower, len - 8)
}

pub(super) fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    product as u64 ^ (product >> 64) as u64
}
