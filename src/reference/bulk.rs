//! Well-formed references checked sixteen bytes at a time.
//!
//! Each byte of the input is classified with SIMD compares (`wide`: SSE2 on x86-64, NEON on
//! AArch64, plain code elsewhere) into bit masks, one bit per byte and one mask per class, and
//! the grammar's rules become a few operations on whole masks: a domain label may not begin or
//! end with `-` is "no `.` next to a `-`", a path separator may not be doubled is "no two
//! separators side by side unless `__` or a run of `-`". There is no branch per byte, so a
//! reference costs about the same however its dots and dashes fall.
//!
//! [`split`] only ever accepts: it answers `None` for anything it does not prove well formed
//! (a broken rule, an IPv6 host, an input longer than [`MAX_LEN`]), and the byte-by-byte scan,
//! which knows where each rule breaks, takes over. Where it answers, it answers exactly what the
//! byte-by-byte scan does; the tests hold the two side by side.

use std::ops::{BitAnd, BitOr, Not, Shl, Shr};

use wide::u8x16;

use super::{scan_port, DomainSpan, Split};

/// The longest input checked here; longer ones (rare: the repository path alone may take 255
/// bytes) go byte by byte.
pub(super) const MAX_LEN: usize = <u128 as Mask>::BITS;

/// A bit mask with one bit per input byte: `u64` for inputs up to 64 bytes (most), `u128` up
/// to [`MAX_LEN`].
trait Mask:
    Copy
    + Default
    + PartialEq
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + Not<Output = Self>
    + Shl<usize, Output = Self>
    + Shr<usize, Output = Self>
    + From<u16>
{
    const BITS: usize;

    fn trailing_zeros(self) -> usize;

    /// The bits below bit `n`.
    fn below(n: usize) -> Self {
        if n >= Self::BITS {
            !Self::default()
        } else {
            !(!Self::default() << n)
        }
    }

    /// Whether bit `i` is set.
    fn has(self, i: usize) -> bool {
        i < Self::BITS && self >> i & Self::from(1) != Self::default()
    }

    /// The first set bit at or after `from`, else `end`.
    fn first(self, from: usize, end: usize) -> usize {
        (self & !Self::below(from)).trailing_zeros().min(end)
    }

    fn is_empty(self) -> bool {
        self == Self::default()
    }
}

impl Mask for u64 {
    const BITS: usize = 64;

    fn trailing_zeros(self) -> usize {
        u64::trailing_zeros(self) as usize
    }
}

impl Mask for u128 {
    const BITS: usize = 128;

    fn trailing_zeros(self) -> usize {
        u128::trailing_zeros(self) as usize
    }
}

/// One bit per input byte (bit `i` for byte `i`) for each class of byte the rules tell apart.
#[derive(Debug, Default, PartialEq)]
struct Classes<M> {
    /// `[a-z0-9]`: what path components and tags are made of.
    alnum: M,
    /// `[A-Z]`: allowed in domains and tags, not in paths.
    upper: M,
    dot: M,
    dash: M,
    underscore: M,
    slash: M,
    colon: M,
}

impl<M: Mask> Classes<M> {
    /// The classes of `bytes`, or `None` when there are more than `M::BITS`.
    fn of(bytes: &[u8]) -> Option<Self> {
        let n = bytes.len();
        if n > M::BITS {
            return None;
        }
        let mut classes = Classes::default();
        if n < 16 {
            let mut block = [0u8; 16];
            block[..n].copy_from_slice(bytes);
            classes.push(&block, 16);
            return Some(classes);
        }
        // From the last block to the first, each pushed in below the ones after it. A last
        // block shorter than sixteen bytes is read as the sixteen that end the input, and only
        // its own bytes are kept.
        let (blocks, rest) = bytes.as_chunks::<16>();
        if !rest.is_empty() {
            let last = bytes.last_chunk::<16>()?;
            classes.push(last, rest.len());
        }
        for block in blocks.iter().rev() {
            classes.push(block, 16);
        }
        Some(classes)
    }

    /// Shifts every mask up by `keep` bits and puts in the classes of the last `keep` of
    /// `block`'s sixteen bytes. A zero byte (the padding after a short input) belongs to no
    /// class.
    fn push(&mut self, block: &[u8; 16], keep: usize) {
        let v = u8x16::new(*block);
        let push = |mask: &mut M, bytes: u8x16| {
            let bits = (bytes.to_bitmask() & 0xffff) >> (16 - keep);
            // Only the low sixteen bits can be set.
            *mask = *mask << keep | M::from(bits as u16);
        };
        let equal = |byte: u8| v.simd_eq(u8x16::splat(byte));
        // `lo <= b < lo + len`, unsigned: `b - lo` (wrapping) is at most `len - 1`.
        let within = |lo: u8, len: u8| {
            let d = v - u8x16::splat(lo);
            d.min(u8x16::splat(len - 1)).simd_eq(d)
        };
        push(&mut self.alnum, within(b'a', 26) | within(b'0', 10));
        push(&mut self.upper, within(b'A', 26));
        push(&mut self.dot, equal(b'.'));
        push(&mut self.dash, equal(b'-'));
        push(&mut self.underscore, equal(b'_'));
        push(&mut self.slash, equal(b'/'));
        push(&mut self.colon, equal(b':'));
    }
}

/// Splits a well-formed reference and checks its domain and path, as `split_bytewise` does;
/// `None` when that takes the byte-by-byte scan (see the [module documentation](self)).
pub(super) fn split(bytes: &[u8]) -> Option<Split> {
    match bytes.len() {
        0..=64 => split_in::<u64>(bytes),
        65..=MAX_LEN => split_in::<u128>(bytes),
        _ => None,
    }
}

/// [`split`] with masks of type `M`.
fn split_in<M: Mask>(bytes: &[u8]) -> Option<Split> {
    let n = bytes.len();
    let c = Classes::<M>::of(bytes)?;
    // The first component ends at the first '/' or '@' (any other byte outside the classes is
    // left to the byte-by-byte scan). It is a domain when a '/' ends it and it holds a '.', a
    // ':' or an uppercase letter, or is `localhost` (distribution's splitDockerDomain).
    let end = (!(c.alnum | c.upper | c.dot | c.dash | c.underscore | c.colon)).first(0, n);
    if !matches!(bytes.get(end), None | Some(b'/' | b'@')) {
        return None;
    }
    let looks_like_domain =
        !((c.dot | c.colon | c.upper) & M::below(end)).is_empty() || &bytes[..end] == b"localhost";
    let (domain, path_start) = if c.slash.has(end) && looks_like_domain {
        (Some(domain(&c, bytes, end)?), end + 1)
    } else {
        (None, 0)
    };

    // path-component ('/' path-component)*, path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    // up to the first byte that cannot be in a path.
    let separators = c.dot | c.dash | c.underscore | c.slash;
    let name_end = (!(c.alnum | separators)).first(path_start, n);
    if name_end == path_start || !c.alnum.has(path_start) || !c.alnum.has(name_end - 1) {
        return None;
    }
    let path = M::below(name_end) & !M::below(path_start);
    let separators = separators & path;
    let underscores = c.underscore & path;
    let pairs = separators & separators >> 1;
    let allowed_pairs = (underscores & underscores >> 1) | (c.dash & c.dash >> 1);
    let tripled = underscores & underscores >> 1 & underscores >> 2;
    if !(pairs & !allowed_pairs).is_empty() || !tripled.is_empty() {
        return None;
    }

    // Then a ':' and a tag up to an '@' or the end, or an '@' and a digest; the tag's and the
    // digest's own rules are checked after the split, for both scans alike.
    let (tag_colon, at) = match bytes.get(name_end) {
        None => (None, None),
        Some(b':') => {
            let tag = c.alnum | c.upper | c.underscore | c.dot | c.dash;
            let tag_end = (!tag).first(name_end + 1, n);
            match bytes.get(tag_end) {
                None => (Some(name_end), None),
                Some(b'@') => (Some(name_end), Some(tag_end)),
                Some(_) => return None,
            }
        }
        Some(b'@') => (None, Some(name_end)),
        Some(_) => return None,
    };
    Some(Split {
        domain,
        first_lowercase: (c.upper & M::below(end)).is_empty(),
        path_start,
        name_end,
        tag_colon,
        at,
    })
}

/// `domain-name [':' port]` over `bytes[..end]`, with
/// `domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]` between the dots.
fn domain<M: Mask>(c: &Classes<M>, bytes: &[u8], end: usize) -> Option<DomainSpan> {
    let host_end = c.colon.first(0, end);
    let host = M::below(host_end);
    let letters = c.alnum | c.upper;
    let (dots, dashes) = (c.dot & host, c.dash & host);
    // Every label begins and ends with a letter or digit: the first and last bytes are ones,
    // and no '.' stands next to another '.' or a '-'.
    let labels_ok = (dots & dots >> 1 | dots & dashes >> 1 | dashes & dots >> 1).is_empty();
    let host_ok = host_end > 0
        && (letters | dots | dashes) & host == host
        && letters.has(0)
        && letters.has(host_end - 1)
        && labels_ok;
    if !host_ok {
        return None;
    }
    let port = if host_end < end {
        Some(scan_port(bytes, host_end + 1, end).ok()?)
    } else {
        None
    };
    Some(DomainSpan {
        host_end,
        end,
        port,
    })
}

#[cfg(test)]
mod tests;
