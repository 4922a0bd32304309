//! Many match patterns compiled for best-match lookup.
//!
//! [`PatternIndex`] gives the same answer as [`pattern::best_match`](crate::pattern::best_match)
//! over the same list, in time that does not grow with the number of entries. As in globset,
//! each kind of pattern gets the structure that makes it cheap:
//!
//! - **Host groups.** Patterns with the same host and port form one group, and all of a group's
//!   patterns share their host specificity. A literal host finds its one group by a single
//!   ASCII-case-insensitive hash lookup of the image's `(host, port)`, the group kept in the
//!   table's slot. The index keeps its own copy of the literal hosts, so confirming the host
//!   reads no pattern, and a group that is one pattern without a path (`HOST/*`, the usual
//!   entry) answers without reading the pattern.
//! - **Wildcard hosts** are filed by *shape*, the label count and which labels hold `*`, and
//!   by their literal labels. An image's host is looked up once per shape with its label count
//!   (a configuration has a handful, whatever its size): one hash of the labels the shape keeps,
//!   then the wildcard labels are checked.
//! - **Paths.** A group keeps its patterns best first: longest literal path prefix, then most
//!   literal characters, then position. Every pattern that can match has a literal prefix that
//!   is a prefix of the image's `REPOSITORY[:TAG][@DIGEST]`; small groups check that while
//!   scanning (the first eight bytes of each prefix, kept beside the group, rule most patterns
//!   out without reading them), large ones keep their distinct prefixes sorted and find the
//!   image's prefixes, longest first, by binary search.
//!
//! A literal host always beats a wildcard one (fewer wildcard labels), so a match in the literal
//! group ends the lookup; only a miss there looks at the wildcard hosts. A lookup never
//! allocates.
//!
//! ```
//! use registry_auth::index::PatternIndex;
//! use registry_auth::pattern::MatchPattern;
//! use registry_auth::reference::ImageReference;
//!
//! let index = PatternIndex::new(
//!     [
//!         "*.dkr.ecr.us-east-1.amazonaws.com",
//!         "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/*",
//!     ]
//!     .into_iter()
//!     .map(|p| MatchPattern::parse(p).unwrap()),
//! );
//! let image = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1")?;
//! assert_eq!(index.best_match(&image), Some(1));
//!
//! let other = ImageReference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/other:v1")?;
//! assert_eq!(index.best_match(&other), Some(0));
//!
//! // The best entry among those a caller may use.
//! assert_eq!(index.best_match_by(&image, |entry| entry != 1), Some(0));
//! # Ok::<(), registry_auth::Error>(())
//! ```

use std::cmp::{Ordering, Reverse};
use std::fmt;
use std::ops::ControlFlow::{self, Break, Continue};
use std::ops::Range;

use hashbrown::HashTable;

use crate::pattern::{label_matches, HostPattern, MatchPattern, PathPattern, Specificity};
use crate::reference::ImageRef;

/// Groups with at most this many patterns are scanned; larger ones get a sorted prefix table.
const SCAN_MAX: usize = 8;
/// Wildcard hosts with more labels than this are not filed by shape but tried one by one.
const MAX_SHAPE_LABELS: usize = 16;

/// Many match patterns compiled for best-match lookup; see the [module documentation](self).
#[derive(Clone)]
pub struct PatternIndex {
    /// In position order.
    patterns: Vec<MatchPattern>,
    /// Positions, grouped by host; each group's slice is best first.
    entries: Vec<u32>,
    /// For each of `entries`, the first eight bytes of the pattern's literal path prefix
    /// (see [`prefix_head`]): a scanned group rules out most of its patterns with these,
    /// without reading the patterns.
    heads: Vec<u64>,
    /// The literal-prefix runs of the large groups; each group's runs sorted by prefix.
    runs: Vec<Run>,
    /// Each large group's span of `runs`.
    run_spans: Vec<Span>,
    /// A literal `(host, port)` → its group.
    literal: HashTable<LiteralSlot>,
    /// The wildcard hosts, filed by shape and literal labels.
    wild: WildHosts,
    /// The text of run prefixes, of literal hosts (each after its length) and of wildcard host
    /// patterns, lowercased.
    text: Vec<u8>,
    hasher: CaseFoldHasher,
}

/// Patterns that share a host (as written, up to ASCII case) and a port.
#[derive(Clone, Copy, Debug)]
struct Group {
    /// Into `entries`; or, when `end` is [`PATHLESS`], `start` is the position of the group's
    /// only pattern, which has no path (`HOST` or `HOST/*`, most entries), so that the lookup
    /// reads neither `entries` nor the pattern.
    entries: Span,
    /// Into `run_spans`; [`NO_RUNS`] when the group is small enough to scan.
    runs: u32,
    port: Option<u16>,
}

/// `Group::entries.end` of a group that is one pattern without a path.
const PATHLESS: u32 = u32::MAX;
/// `Group::runs` of a group without a prefix table.
const NO_RUNS: u32 = u32::MAX;

impl Group {
    /// The position of the group's only pattern, when it has no path.
    fn pathless(&self) -> Option<usize> {
        (self.entries.end == PATHLESS).then_some(self.entries.start as usize)
    }

    /// The position of one of the group's patterns (they share the host).
    fn member(&self, entries: &[u32]) -> usize {
        self.pathless()
            .unwrap_or_else(|| entries[self.entries.start as usize] as usize)
    }
}

/// A literal host in the hash table: its text and its group, so that finding the group reads
/// one slot and the host's text, and nothing else.
#[derive(Clone, Copy, Debug)]
struct LiteralSlot {
    /// Into `text`: the host's length (one byte, or 255 and a little-endian `u32`), then the
    /// lowercased host.
    host: u32,
    group: Group,
}

/// Patterns of one group that share a literal path prefix.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// The prefix's first eight bytes, big-endian and zero-padded: most comparisons end here,
    /// without reading `text`. (Paths hold no zero byte, so the order is the prefixes' order.)
    head: u64,
    /// Into `entries`.
    entries: Span,
    /// Into `text`.
    prefix: Span,
}

/// A range of a `Vec`, in half the space of a `Range<usize>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// The wildcard hosts.
#[derive(Clone, Default)]
struct WildHosts {
    /// Every distinct shape.
    shapes: Vec<Shape>,
    /// Bit `n - 1` is set when some shape has `n` labels.
    label_counts: u32,
    /// `(shape, literal labels)` → the hosts with them.
    keys: HashTable<WildKey>,
    /// Grouped by key.
    hosts: Vec<WildHost>,
    /// Hosts with more than `MAX_SHAPE_LABELS` labels, tried one by one.
    long: Vec<WildHost>,
}

/// Which labels of a wildcard host hold `*`, of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    labels: u32,
    /// Bit `i` is set when label `i` (from the left) holds `*`.
    wild: u64,
}

/// Wildcard hosts of one shape with the same literal labels.
#[derive(Clone, Debug)]
struct WildKey {
    hash: u64,
    shape: u32,
    /// Into `hosts`; the first one's literal labels are the key's.
    hosts: Span,
}

/// One wildcard host pattern and port: its lowercased text and its group.
#[derive(Clone, Debug)]
struct WildHost {
    /// Into `text`.
    host: Span,
    /// Where each label starts in the host's text, and one past its end plus one: label `i` is
    /// `starts[i]..starts[i + 1] - 1`. Unused for hosts with too many labels to have a shape.
    starts: [u16; MAX_SHAPE_LABELS + 1],
    /// Whether a label other than a lone `*` holds `*`, so that the labels must be matched.
    partial: bool,
    group: Group,
}

/// Where a matching pattern stands: greater is better, as [`pattern::best_match`] decides.
///
/// [`pattern::best_match`]: crate::pattern::best_match
#[derive(Clone, Copy, PartialEq, Eq)]
struct Rank {
    specificity: Specificity,
    position: u32,
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.specificity
            .cmp(&other.specificity)
            .then(other.position.cmp(&self.position))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An image host cut into labels, with each label's hash: computed once per lookup, and only
/// when some wildcard shape has as many labels.
#[derive(Default)]
struct HostLabels {
    count: usize,
    bounds: [(u32, u32); MAX_SHAPE_LABELS],
    hashes: [u64; MAX_SHAPE_LABELS],
}

impl HostLabels {
    fn label<'h>(&self, host: &'h [u8], i: usize) -> &'h [u8] {
        let (start, end) = self.bounds[i];
        &host[start as usize..end as usize]
    }
}

impl PatternIndex {
    /// Compiles `patterns`; an entry's position is its place in the iteration, from 0.
    ///
    /// Equal patterns may repeat; as in [`pattern::best_match`](crate::pattern::best_match), the
    /// first of them wins.
    ///
    /// # Panics
    ///
    /// With `u32::MAX` patterns or more.
    pub fn new(patterns: impl IntoIterator<Item = MatchPattern>) -> Self {
        let patterns: Vec<MatchPattern> = patterns.into_iter().collect();
        assert!(
            u32::try_from(patterns.len()).is_ok_and(|n| n < u32::MAX),
            "a PatternIndex holds fewer than 2^32 - 1 patterns"
        );
        Builder {
            hasher: CaseFoldHasher::new(),
            patterns,
            text: Vec::new(),
        }
        .build()
    }

    /// The position of the most specific pattern that matches `image`, the first listed among
    /// equals; `None` when none matches. The same as
    /// [`pattern::best_match`](crate::pattern::best_match) over the same list.
    pub fn best_match<'i>(&self, image: impl Into<ImageRef<'i>>) -> Option<usize> {
        self.best_match_by(image, |_| true)
    }

    /// The best match among the patterns whose position `accept` takes: the same as
    /// [`best_match`](Self::best_match) over a list holding only those.
    ///
    /// `accept` is called only with positions of patterns that match `image`, best first, and
    /// not again after it returns `true`.
    pub fn best_match_by<'i>(
        &self,
        image: impl Into<ImageRef<'i>>,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let image = image.into();
        let lowercase = image.host_is_lowercase();
        if let Some(group) = self.literal_group(image.host(), image.port(), lowercase) {
            let found = self.candidates(group, image.path_and_version(), |position| {
                let serves =
                    group.pathless().is_some() || self.patterns[position].path_matches(image);
                if serves && accept(position) {
                    Break(position)
                } else {
                    Continue(())
                }
            });
            if let Break(position) = found {
                return Some(position);
            }
        }
        self.wildcard_match(image, accept)
    }

    /// The number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether the index holds no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The pattern at `position`.
    pub fn pattern(&self, position: usize) -> Option<&MatchPattern> {
        self.patterns.get(position)
    }

    /// Every pattern, in position order.
    pub fn patterns(&self) -> &[MatchPattern] {
        &self.patterns
    }

    fn literal_group(&self, host: &str, port: Option<u16>, lowercase: bool) -> Option<&Group> {
        let (host, port_code) = (host.as_bytes(), port_code(port));
        // A host known to be lowercase (the parser says so) is hashed and compared as it is.
        let hash = if lowercase {
            self.hasher.hash_lowercase(host, port_code)
        } else {
            self.hasher.hash(host, port_code)
        };
        let slot = self.literal.find(hash, |slot| {
            let stored = self.literal_host(slot.host);
            slot.group.port == port
                && if lowercase {
                    stored == host
                } else {
                    eq_folded(stored, host)
                }
        })?;
        Some(&slot.group)
    }

    fn literal_host(&self, at: u32) -> &[u8] {
        literal_host(&self.text, at)
    }

    /// Calls `f` with the positions of the group's patterns whose literal path prefix starts
    /// `path`, best first: every pattern of the group that can match an image with this path.
    fn candidates<B>(
        &self,
        group: &Group,
        path: &str,
        mut f: impl FnMut(usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let path = path.as_bytes();
        if let Some(position) = group.pathless() {
            return f(position);
        }
        if group.runs == NO_RUNS {
            let path_head = prefix_head(path);
            let range = group.entries.range();
            for (&position, &head) in self.entries[range.clone()].iter().zip(&self.heads[range]) {
                let position = position as usize;
                if path_head & head_mask(head) == head
                    && starts_with(path, literal_prefix(&self.patterns[position]))
                {
                    f(position)?;
                }
            }
            return Continue(());
        }
        // Every prefix of `path` that is some run's prefix, longest first. The greatest run
        // prefix not above `query` is either the longest prefix of `query` among them, or shares
        // with `query` a common start beyond which no run prefix can be a prefix of `query`.
        let runs = &self.runs[self.run_spans[group.runs as usize].range()];
        let mut query = path;
        loop {
            if query.is_empty() {
                // Only the empty prefix is left, and it sorts first.
                if runs[0].prefix.is_empty() {
                    for &position in &self.entries[runs[0].entries.range()] {
                        f(position as usize)?;
                    }
                }
                return Continue(());
            }
            let head = head_word(query);
            let after = runs.partition_point(|run| {
                run.head < head
                    || run.head == head && cmp_bytes(self.run_prefix(run), query).is_le()
            });
            let Some(run) = after.checked_sub(1).map(|k| &runs[k]) else {
                return Continue(());
            };
            let prefix = self.run_prefix(run);
            if starts_with(query, prefix) {
                for &position in &self.entries[run.entries.range()] {
                    f(position as usize)?;
                }
                let Some(shorter) = prefix.len().checked_sub(1) else {
                    return Continue(());
                };
                query = &path[..shorter];
            } else {
                let common = prefix.iter().zip(query).take_while(|(a, b)| a == b).count();
                query = &query[..common];
            }
        }
    }

    fn run_prefix(&self, run: &Run) -> &[u8] {
        &self.text[run.prefix.range()]
    }

    /// The best accepted match among the wildcard hosts.
    ///
    /// Each pass finds the best match ranked below every match already refused; `accept` then
    /// sees it. So `accept` sees matches best first with no list of them kept, and one pass is
    /// all it takes unless `accept` refuses.
    fn wildcard_match(
        &self,
        image: ImageRef<'_>,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let host = image.host();
        let mut labels = HostLabels::default();
        let shaped = self.host_labels(host.as_bytes(), &mut labels);
        if !shaped && self.wild.long.is_empty() {
            return None;
        }
        let labels = shaped.then_some(&labels);
        let mut refused: Option<Rank> = None;
        loop {
            let mut best: Option<Rank> = None;
            self.wild_groups(host, labels, |group| {
                self.best_in_group(group, image, refused, &mut best);
            });
            let position = best?.position as usize;
            if accept(position) {
                return Some(position);
            }
            refused = best;
        }
    }

    /// Cuts the host into `labels` and hashes them, when some shape has as many labels.
    fn host_labels(&self, host: &[u8], labels: &mut HostLabels) -> bool {
        let mut count = 0;
        let mut start = 0;
        let cut = for_each_dot(host, |dot| {
            if count + 1 == MAX_SHAPE_LABELS {
                return Break(());
            }
            labels.bounds[count] = (start as u32, dot as u32);
            count += 1;
            start = dot + 1;
            Continue(())
        });
        if cut.is_break() {
            return false;
        }
        labels.bounds[count] = (start as u32, host.len() as u32);
        count += 1;
        if self.wild.label_counts & (1 << (count - 1)) == 0 {
            return false;
        }
        labels.count = count;
        for i in 0..count {
            labels.hashes[i] = self.hasher.label_hash(labels.label(host, i));
        }
        true
    }

    /// Calls `visit` with every wildcard group whose host pattern matches `host`.
    fn wild_groups<'a>(
        &'a self,
        host_str: &str,
        labels: Option<&HostLabels>,
        mut visit: impl FnMut(&'a Group),
    ) {
        let host = host_str.as_bytes();
        let text = |span: Span| &self.text[span.range()];
        if let Some(labels) = labels {
            for (s, shape) in self.wild.shapes.iter().enumerate() {
                if shape.labels as usize != labels.count {
                    continue;
                }
                let key = self
                    .hasher
                    .shape_key(s as u32, *shape, |i| labels.hashes[i]);
                let found = self.wild.keys.find(key, |k| {
                    k.hash == key && k.shape == s as u32 && {
                        let first = &self.wild.hosts[k.hosts.start as usize];
                        literal_labels_equal(text(first.host), first, *shape, host, labels)
                    }
                });
                let Some(key) = found else { continue };
                for wild in &self.wild.hosts[key.hosts.range()] {
                    if !wild.partial
                        || wild_labels_match(text(wild.host), wild, *shape, host, labels)
                    {
                        visit(&wild.group);
                    }
                }
            }
        }
        for wild in &self.wild.long {
            if self.patterns[wild.group.member(&self.entries)].host_matches(host_str) {
                visit(&wild.group);
            }
        }
    }

    /// Replaces `best` with the group's best match ranked below `refused`, if that beats it.
    fn best_in_group(
        &self,
        group: &Group,
        image: ImageRef<'_>,
        refused: Option<Rank>,
        best: &mut Option<Rank>,
    ) {
        if group.port != image.port() {
            return;
        }
        let host_rank = |s: Specificity| (Reverse(s.wildcard_host_labels), s.literal_host_chars);
        if let Some(b) = *best {
            let member = &self.patterns[group.member(&self.entries)];
            if host_rank(member.specificity()) < host_rank(b.specificity) {
                return;
            }
        }
        let _ = self.candidates(group, image.path_and_version(), |position| {
            let pattern = &self.patterns[position];
            let rank = Rank {
                specificity: pattern.specificity(),
                position: position as u32,
            };
            if refused.is_some_and(|r| rank >= r) {
                return Continue(());
            }
            if best.is_some_and(|b| rank < b) {
                return Break(());
            }
            if pattern.path_matches(image) {
                *best = Some(rank);
                return Break(());
            }
            Continue(())
        });
    }
}

impl Default for PatternIndex {
    /// An index with no pattern.
    fn default() -> Self {
        Self::new(std::iter::empty())
    }
}

impl fmt::Debug for PatternIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatternIndex")
            .field("patterns", &self.patterns.len())
            .field("literal_hosts", &self.literal.len())
            .field(
                "wildcard_hosts",
                &(self.wild.hosts.len() + self.wild.long.len()),
            )
            .field("wildcard_shapes", &self.wild.shapes.len())
            .finish()
    }
}

/// Whether the labels the shape keeps (those without `*`) of the lowercased host pattern
/// `pattern` equal the image host's, up to ASCII case: each run of such labels, dots and all,
/// in one comparison.
fn literal_labels_equal(
    pattern: &[u8],
    wild: &WildHost,
    shape: Shape,
    host: &[u8],
    labels: &HostLabels,
) -> bool {
    let n = shape.labels as usize;
    let kept = |i: usize| shape.wild & (1 << i) == 0;
    let mut i = 0;
    while i < n {
        if !kept(i) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < n && kept(j) {
            j += 1;
        }
        let ours = &pattern[usize::from(wild.starts[i])..usize::from(wild.starts[j]) - 1];
        let theirs = &host[labels.bounds[i].0 as usize..labels.bounds[j - 1].1 as usize];
        if !eq_folded(ours, theirs) {
            return false;
        }
        i = j;
    }
    true
}

/// Whether the labels holding `*` of the lowercased host pattern `pattern` match the image
/// host's.
fn wild_labels_match(
    pattern: &[u8],
    wild: &WildHost,
    shape: Shape,
    host: &[u8],
    labels: &HostLabels,
) -> bool {
    (0..shape.labels as usize)
        .filter(|&i| shape.wild & (1 << i) != 0)
        .all(|i| {
            let ours = &pattern[usize::from(wild.starts[i])..usize::from(wild.starts[i + 1]) - 1];
            label_matches(ours, labels.label(host, i))
        })
}

/// Calls `f` with the place of every `.` in `bytes`, eight bytes at a time.
fn for_each_dot(bytes: &[u8], mut f: impl FnMut(usize) -> ControlFlow<()>) -> ControlFlow<()> {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        // The dots are the zero bytes of this.
        let x = word(chunk, 0) ^ (u64::from(b'.') * ONES);
        let mut dots = !nonzero_bytes(x) & (0x80 * ONES);
        while dots != 0 {
            f(base + dots.trailing_zeros() as usize / 8)?;
            dots &= dots - 1;
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b'.' {
            f(base + i)?;
        }
    }
    Continue(())
}

/// The lowercased literal host stored at `at` in `text` (see [`LiteralSlot::host`]).
fn literal_host(text: &[u8], at: u32) -> &[u8] {
    let at = at as usize;
    let (len, start) = match text[at] {
        u8::MAX => {
            let len = u32::from_le_bytes([text[at + 1], text[at + 2], text[at + 3], text[at + 4]]);
            (len as usize, at + 5)
        }
        len => (usize::from(len), at + 1),
    };
    &text[start..start + len]
}

/// The host part of a pattern as written (lowercased when literal); with the port this is the
/// key of its group.
fn host_text(pattern: &MatchPattern) -> &str {
    match pattern.host_pattern() {
        HostPattern::Literal(host) => host,
        // A wildcard host is plain labels: no brackets, so its first `:` or `/` ends it.
        HostPattern::Labels(_) => {
            let source = pattern.as_str();
            &source[..source.find([':', '/']).unwrap_or(source.len())]
        }
    }
}

/// The path characters before the first wildcard; every image the pattern serves has a
/// `REPOSITORY[:TAG][@DIGEST]` that starts with them.
fn literal_prefix(pattern: &MatchPattern) -> &[u8] {
    let text = match pattern.path_pattern() {
        PathPattern::Any => return &[],
        PathPattern::Repository(text) | PathPattern::Exact(text) => text,
        PathPattern::Glob { text, .. } => text,
    };
    &text.as_bytes()[..pattern.specificity().literal_path_prefix as usize]
}

/// The first eight bytes of `bytes`, big-endian and zero-padded: compared as numbers, these
/// order as the bytes do.
fn head_word(bytes: &[u8]) -> u64 {
    prefix_head(bytes).swap_bytes()
}

/// The first eight bytes of a literal path prefix or of an image's path, little-endian and
/// zero-padded. Neither holds a zero byte, so a prefix's head, masked with [`head_mask`], equals
/// the image's head masked alike when the prefix can start the path: the test most patterns of
/// a scanned group fail.
fn prefix_head(bytes: &[u8]) -> u64 {
    if bytes.len() >= 8 {
        word(bytes, 0)
    } else {
        short_word(bytes)
    }
}

/// All ones in each non-zero byte of `head`.
fn head_mask(head: u64) -> u64 {
    (nonzero_bytes(head) >> 7) * 0xff
}

/// The top bit of each non-zero byte of `x`, exactly (no borrow from a lower byte).
fn nonzero_bytes(x: u64) -> u64 {
    (((x & (0x7f * ONES)) + 0x7f * ONES) | x) & (0x80 * ONES)
}

/// `a.cmp(b)` without a call to `memcmp` for the usual few bytes.
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// `text.starts_with(prefix)` without a call to `memcmp` for the usual few bytes.
fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    prefix.len() <= text.len() && prefix.iter().zip(text).all(|(a, b)| a == b)
}

fn port_code(port: Option<u16>) -> u64 {
    port.map_or(u64::MAX, u64::from)
}

/// Group order: best first among the patterns that can match one image. Two patterns with
/// literal prefixes of one length can both match only if the prefixes are equal, so sorting
/// by prefix between its length and the literal count keeps each run of equal prefixes together.
fn path_order(a: (u32, &MatchPattern), b: (u32, &MatchPattern)) -> Ordering {
    let (sa, sb) = (a.1.specificity(), b.1.specificity());
    sb.literal_path_prefix
        .cmp(&sa.literal_path_prefix)
        .then_with(|| literal_prefix(a.1).cmp(literal_prefix(b.1)))
        .then(sb.literal_path_chars.cmp(&sa.literal_path_chars))
        .then(a.0.cmp(&b.0))
}

mod build;
mod fold;
#[cfg(test)]
mod tests;

use build::Builder;
use fold::*;
