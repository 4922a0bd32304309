//! Many match patterns compiled for best-match lookup.
//!
//! [`PatternIndex`] gives the same answer as [`pattern::best_match`](crate::pattern::best_match)
//! over the same list, in time that does not grow with the number of entries. As in globset,
//! each kind of pattern gets the structure that makes it cheap:
//!
//! - **Host groups.** Patterns with the same host and port form one group, and all of a group's
//!   patterns share their host specificity. A literal host finds its one group by a single
//!   ASCII-case-insensitive hash lookup of the image's `(host, port)`. The index keeps its own
//!   copy of the literal hosts, so confirming the host reads no pattern, and a group that is one
//!   pattern without a path (`HOST/*`, the usual entry) answers without reading the pattern.
//! - **Wildcard hosts** are filed by *shape*, the label count and which labels hold `*`, and
//!   by their literal labels. An image's host is looked up once per shape with its label count
//!   (a configuration has a handful, whatever its size): one hash of the labels the shape keeps,
//!   then the wildcard labels are checked.
//! - **Paths.** A group keeps its patterns best first: longest literal path prefix, then most
//!   literal characters, then position. Every pattern that can match has a literal prefix that
//!   is a prefix of the image's `REPOSITORY[:TAG][@DIGEST]`; small groups check that while
//!   scanning, large ones keep their distinct prefixes sorted and find the image's prefixes,
//!   longest first, by binary search.
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
use std::hash::BuildHasher;
use std::ops::ControlFlow::{self, Break, Continue};
use std::ops::Range;

use hashbrown::HashTable;

use crate::pattern::{label_matches, HostPattern, MatchPattern, PathPattern, Specificity};
use crate::reference::ImageReference;

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
    /// The literal-prefix runs of the large groups; each group's runs sorted by prefix.
    runs: Vec<Run>,
    /// Each large group's span of `runs`.
    run_spans: Vec<Span>,
    /// A literal `(host, port)` → its group in `groups`.
    literal: HashTable<LiteralSlot>,
    /// The groups with a literal host.
    groups: Vec<Group>,
    /// The wildcard hosts, filed by shape and literal labels.
    wild: WildHosts,
    /// The text of run prefixes, of literal hosts (each after its length) and of wildcard host
    /// patterns, lowercased.
    text: Vec<u8>,
    hasher: CaseFoldHasher,
}

/// Patterns that share a host (as written, up to ASCII case) and a port.
#[derive(Clone, Debug)]
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

/// A literal host in the hash table: its group, and its text, so that confirming the host
/// reads neither the group's patterns nor their strings.
#[derive(Clone, Copy, Debug)]
struct LiteralSlot {
    /// Into `groups`.
    group: u32,
    /// Into `text`: the host's length (one byte, or 255 and a little-endian `u32`), then the
    /// lowercased host.
    host: u32,
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
    pub fn best_match(&self, image: &ImageReference) -> Option<usize> {
        self.best_match_by(image, |_| true)
    }

    /// The best match among the patterns whose position `accept` takes: the same as
    /// [`best_match`](Self::best_match) over a list holding only those.
    ///
    /// `accept` is called only with positions of patterns that match `image`, best first, and
    /// not again after it returns `true`.
    pub fn best_match_by(
        &self,
        image: &ImageReference,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        if let Some(group) = self.literal_group(image.host(), image.port()) {
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

    fn literal_group(&self, host: &str, port: Option<u16>) -> Option<&Group> {
        let hash = self.hasher.hash(host.as_bytes(), port_code(port));
        let slot = self.literal.find(hash, |slot| {
            eq_folded(self.literal_host(slot.host), host.as_bytes())
                && self.groups[slot.group as usize].port == port
        })?;
        Some(&self.groups[slot.group as usize])
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
            for &position in &self.entries[group.entries.range()] {
                let position = position as usize;
                if starts_with(path, literal_prefix(&self.patterns[position])) {
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
        image: &ImageReference,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let host = image.host();
        let mut labels = HostLabels {
            count: 0,
            bounds: [(0, 0); MAX_SHAPE_LABELS],
            hashes: [0; MAX_SHAPE_LABELS],
        };
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
        image: &ImageReference,
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
            .field("literal_hosts", &self.groups.len())
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
        let x = word(chunk, 0) ^ (u64::from(b'.') * ONES);
        // The top bit of each byte that is zero, exactly (no borrow from a lower byte).
        let mut dots = !(((x & (0x7f * ONES)) + 0x7f * ONES) | x) & (0x80 * ONES);
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

/// The first eight bytes of `bytes`, big-endian and zero-padded.
fn head_word(bytes: &[u8]) -> u64 {
    if bytes.len() >= 8 {
        u64::from_be_bytes(word(bytes, 0).to_le_bytes())
    } else {
        short_word(bytes).swap_bytes()
    }
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

struct Builder {
    hasher: CaseFoldHasher,
    /// In position order.
    patterns: Vec<MatchPattern>,
    text: Vec<u8>,
}

impl Builder {
    fn build(mut self) -> PatternIndex {
        let (group_of, firsts) = self.group_hosts();

        // Counting sort by group, then each group best first.
        let mut starts = vec![0u32; firsts.len() + 1];
        for &g in &group_of {
            starts[g as usize + 1] += 1;
        }
        for g in 0..firsts.len() {
            starts[g + 1] += starts[g];
        }
        let mut fill = starts.clone();
        let mut entries = vec![0u32; self.patterns.len()];
        for (position, &g) in group_of.iter().enumerate() {
            entries[fill[g as usize] as usize] = position as u32;
            fill[g as usize] += 1;
        }
        drop((group_of, fill));

        let mut groups = Vec::with_capacity(firsts.len());
        let mut runs = Vec::new();
        let mut run_spans = Vec::new();
        for (g, &first) in firsts.iter().enumerate() {
            let span = Span {
                start: starts[g],
                end: starts[g + 1],
            };
            let patterns = &self.patterns;
            let members = &mut entries[span.range()];
            members.sort_unstable_by(|&a, &b| {
                path_order((a, &patterns[a as usize]), (b, &patterns[b as usize]))
            });
            let mut group_runs = NO_RUNS;
            if members.len() > SCAN_MAX {
                let start = runs.len() as u32;
                push_runs(patterns, &mut self.text, members, span.start, &mut runs);
                group_runs = run_spans.len() as u32;
                run_spans.push(Span {
                    start,
                    end: runs.len() as u32,
                });
            }
            let pathless = members.len() == 1
                && matches!(patterns[first as usize].path_pattern(), PathPattern::Any);
            groups.push(Group {
                entries: if pathless {
                    Span {
                        start: first,
                        end: PATHLESS,
                    }
                } else {
                    span
                },
                runs: group_runs,
                port: patterns[first as usize].port(),
            });
        }
        runs.shrink_to_fit();
        run_spans.shrink_to_fit();

        let (literal, groups, wild) = self.host_structures(groups, &entries);
        self.text.shrink_to_fit();
        PatternIndex {
            patterns: self.patterns,
            entries,
            runs,
            run_spans,
            literal,
            groups,
            wild,
            text: self.text,
            hasher: self.hasher,
        }
    }

    fn group_key_hash(&self, pattern: &MatchPattern) -> u64 {
        self.hasher
            .hash(host_text(pattern).as_bytes(), port_code(pattern.port()))
    }

    /// Each pattern's group, and the first pattern of each group.
    fn group_hosts(&self) -> (Vec<u32>, Vec<u32>) {
        let patterns = &self.patterns;
        let mut table: HashTable<u32> = HashTable::with_capacity(patterns.len());
        let mut firsts: Vec<u32> = Vec::new();
        let mut group_of = Vec::with_capacity(patterns.len());
        for (position, pattern) in patterns.iter().enumerate() {
            let hash = self.group_key_hash(pattern);
            let found = table.find(hash, |&g| {
                let other = &patterns[firsts[g as usize] as usize];
                other.port() == pattern.port()
                    && host_text(other).eq_ignore_ascii_case(host_text(pattern))
            });
            let g = match found {
                Some(&g) => g,
                None => {
                    let g = firsts.len() as u32;
                    firsts.push(position as u32);
                    table.insert_unique(hash, g, |&g| {
                        self.group_key_hash(&patterns[firsts[g as usize] as usize])
                    });
                    g
                }
            };
            group_of.push(g);
        }
        (group_of, firsts)
    }

    /// The literal-host table and its groups, and the wildcard hosts.
    fn host_structures(
        &mut self,
        groups: Vec<Group>,
        entries: &[u32],
    ) -> (HashTable<LiteralSlot>, Vec<Group>, WildHosts) {
        let literal_count = groups
            .iter()
            .filter(|g| self.is_literal(g, entries))
            .count();
        let mut literal = HashTable::with_capacity(literal_count);
        let mut literal_groups = Vec::with_capacity(literal_count);
        let mut wild = WildHosts::default();
        // Wildcard hosts with their key, then the keys: (hash, shape, one host's text).
        let mut filed: Vec<(u32, WildHost)> = Vec::new();
        let mut keys: Vec<(u64, u32, Span)> = Vec::new();
        let mut key_table: HashTable<u32> = HashTable::new();
        for group in groups {
            let first = &self.patterns[group.member(entries)];
            if self.is_literal(&group, entries) {
                let hash = self.group_key_hash(first);
                let host = host_text(first).as_bytes();
                let slot = LiteralSlot {
                    group: literal_groups.len() as u32,
                    host: self.text.len() as u32,
                };
                match u8::try_from(host.len()) {
                    Ok(len) if len < u8::MAX => self.text.push(len),
                    _ => {
                        let len = u32::try_from(host.len()).expect("a host shorter than 4 GiB");
                        self.text.push(u8::MAX);
                        self.text.extend_from_slice(&len.to_le_bytes());
                    }
                }
                self.text.extend_from_slice(host);
                literal_groups.push(group);
                let (text, hasher, groups) = (&self.text, &self.hasher, &literal_groups);
                literal.insert_unique(hash, slot, |slot| {
                    let port = groups[slot.group as usize].port;
                    hasher.hash(literal_host(text, slot.host), port_code(port))
                });
                continue;
            }
            let lower = host_text(first).to_ascii_lowercase();
            let at = self.text.len() as u32;
            self.text.extend_from_slice(lower.as_bytes());
            let host = Span {
                start: at,
                end: self.text.len() as u32,
            };
            let labels: Vec<&str> = lower.split('.').collect();
            let partial = labels.iter().any(|l| l.contains('*') && *l != "*");
            let mut starts = [0u16; MAX_SHAPE_LABELS + 1];
            if labels.len() <= MAX_SHAPE_LABELS && lower.len() < usize::from(u16::MAX) {
                let mut at = 0;
                for (i, label) in labels.iter().enumerate() {
                    starts[i] = at as u16;
                    at += label.len() + 1;
                }
                starts[labels.len()] = at as u16;
            }
            let wild_host = WildHost {
                host,
                starts,
                partial,
                group,
            };
            if labels.len() > MAX_SHAPE_LABELS || lower.len() >= usize::from(u16::MAX) {
                wild.long.push(wild_host);
                continue;
            }
            let shape = Shape {
                labels: labels.len() as u32,
                wild: labels
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.contains('*'))
                    .fold(0, |mask, (i, _)| mask | 1 << i),
            };
            let s = match wild.shapes.iter().position(|&known| known == shape) {
                Some(s) => s,
                None => {
                    wild.shapes.push(shape);
                    wild.label_counts |= 1 << (labels.len() - 1);
                    wild.shapes.len() - 1
                }
            } as u32;
            let hash = self
                .hasher
                .shape_key(s, shape, |i| self.hasher.label_hash(labels[i].as_bytes()));
            let text = &self.text;
            let same_literals = |other: Span| {
                text[other.range()]
                    .split(|&b| b == b'.')
                    .zip(&labels)
                    .enumerate()
                    .all(|(i, (a, b))| shape.wild & (1 << i) != 0 || a == b.as_bytes())
            };
            let found = key_table.find(hash, |&k| {
                let (h, ks, other) = keys[k as usize];
                h == hash && ks == s && same_literals(other)
            });
            let k = match found {
                Some(&k) => k,
                None => {
                    let k = keys.len() as u32;
                    keys.push((hash, s, host));
                    key_table.insert_unique(hash, k, |&k| keys[k as usize].0);
                    k
                }
            };
            filed.push((k, wild_host));
        }
        filed.sort_by_key(|&(k, _)| k);
        wild.keys = HashTable::with_capacity(keys.len());
        let mut start = 0;
        while start < filed.len() {
            let k = filed[start].0;
            let len = filed[start..]
                .iter()
                .take_while(|(other, _)| *other == k)
                .count();
            let (hash, shape, _) = keys[k as usize];
            wild.keys.insert_unique(
                hash,
                WildKey {
                    hash,
                    shape,
                    hosts: Span {
                        start: start as u32,
                        end: (start + len) as u32,
                    },
                },
                |key| key.hash,
            );
            start += len;
        }
        wild.hosts = filed.into_iter().map(|(_, host)| host).collect();
        (literal, literal_groups, wild)
    }

    fn is_literal(&self, group: &Group, entries: &[u32]) -> bool {
        matches!(
            self.patterns[group.member(entries)].host_pattern(),
            HostPattern::Literal(_)
        )
    }
}

/// Splits a group's sorted `members` (which start at `offset` in `entries`) into runs of equal
/// literal prefix, appends their prefixes to `text` and the runs to `runs`, sorted by prefix.
fn push_runs(
    patterns: &[MatchPattern],
    text: &mut Vec<u8>,
    members: &[u32],
    offset: u32,
    runs: &mut Vec<Run>,
) {
    let prefix_of = |k: usize| literal_prefix(&patterns[members[k] as usize]);
    let first = runs.len();
    let mut start = 0;
    while start < members.len() {
        let prefix = prefix_of(start);
        let len = (start..members.len())
            .take_while(|&k| prefix_of(k) == prefix)
            .count();
        let at = text.len() as u32;
        text.extend_from_slice(prefix);
        runs.push(Run {
            head: head_word(prefix),
            entries: Span {
                start: offset + start as u32,
                end: offset + (start + len) as u32,
            },
            prefix: Span {
                start: at,
                end: text.len() as u32,
            },
        });
        start += len;
    }
    runs[first..].sort_unstable_by(|a, b| text[a.prefix.range()].cmp(&text[b.prefix.range()]));
}

/// Hashes bytes as if ASCII-lowercased, without copying them: hosts are looked up as written.
///
/// A folded multiply per sixteen bytes (the construction of foldhash) with per-index random
/// keys, so a crafted set of host names cannot be made to collide without knowing the keys.
#[derive(Clone, Copy)]
struct CaseFoldHasher {
    keys: [u64; 2],
}

impl CaseFoldHasher {
    fn new() -> Self {
        let random = std::hash::RandomState::new();
        Self {
            keys: [random.hash_one(0u8), random.hash_one(1u8)],
        }
    }

    fn hash(&self, bytes: &[u8], extra: u64) -> u64 {
        let [k0, k1] = self.keys;
        let len = bytes.len();
        let mut h = fold(k0 ^ extra, k1 ^ len as u64);
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
    fn label_hash(&self, label: &[u8]) -> u64 {
        let [k0, k1] = self.keys;
        let len = label.len();
        if len <= 8 {
            fold(fold_case(short_word(label)) ^ k0, k1 ^ len as u64)
        } else if len <= 16 {
            let (a, b) = (word(label, 0), word(label, len - 8));
            fold(fold_case(a) ^ k0, fold_case(b) ^ k1 ^ (len as u64) << 59)
        } else {
            self.hash(label, 0)
        }
    }

    /// The key of wildcard hosts of shape number `s`: the hashes of the labels it keeps, each
    /// weighted by its place.
    fn shape_key(&self, s: u32, shape: Shape, label_hash: impl Fn(usize) -> u64) -> u64 {
        let mut sum = 0u64;
        for i in 0..shape.labels as usize {
            if shape.wild & (1 << i) == 0 {
                sum = sum.wrapping_add(label_hash(i).wrapping_mul(2 * i as u64 + 1));
            }
        }
        fold(sum ^ self.keys[0], self.keys[1] ^ u64::from(s))
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The eight bytes of `w` ASCII-lowercased, all at once: other bytes, non-ASCII ones included,
/// are left as they are.
fn fold_case(w: u64) -> u64 {
    let low7 = w & (0x7f * ONES);
    // In each byte, the top bit of `low7 + c` is set when `low7 >= 0x80 - c`; no byte carries.
    let from_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let past_z = low7 + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = from_a & !past_z & !w & (0x80 * ONES);
    w | (upper >> 2)
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Up to eight bytes, zero-padded.
///
/// Overlapping reads instead of a copy of variable length, which would be a call to `memcpy`
/// and a stalled load after it. Bytes read twice land on the same place, so `|` keeps them.
fn short_word(bytes: &[u8]) -> u64 {
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
fn eq_folded(lower: &[u8], text: &[u8]) -> bool {
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

fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    product as u64 ^ (product >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern;

    fn index(patterns: &[&str]) -> (PatternIndex, Vec<MatchPattern>) {
        let list: Vec<MatchPattern> = patterns
            .iter()
            .map(|p| MatchPattern::parse(p).unwrap())
            .collect();
        (PatternIndex::new(list.clone()), list)
    }

    fn image(s: &str) -> ImageReference {
        ImageReference::parse(s).unwrap()
    }

    #[test]
    fn word_case_folding_is_ascii_lowercasing() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let w =
                    (u64::from(b) << (8 * lane)) | (0x4142_5a5b_6061_7a40 & !(0xff << (8 * lane)));
                let mut bytes = w.to_le_bytes();
                bytes.make_ascii_lowercase();
                assert_eq!(
                    fold_case(w),
                    u64::from_le_bytes(bytes),
                    "{b:#x} in lane {lane}"
                );
            }
        }
    }

    #[test]
    fn hashing_and_equality_ignore_ascii_case_only() {
        let hasher = CaseFoldHasher::new();
        let hosts = [
            "a",
            "ab.io",
            "registry.example.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "k.example.com",
        ];
        for host in hosts {
            for len in 0..=host.len() {
                let lower = &host[..len];
                let upper = lower.to_ascii_uppercase();
                assert!(eq_folded(lower.as_bytes(), upper.as_bytes()));
                assert_eq!(
                    hasher.hash(lower.as_bytes(), 7),
                    hasher.hash(upper.as_bytes(), 7)
                );
                assert_ne!(
                    hasher.hash(lower.as_bytes(), 7),
                    hasher.hash(lower.as_bytes(), 8)
                );
                for i in 0..len {
                    let mut other = upper.clone().into_bytes();
                    other[i] ^= 0x01;
                    assert_eq!(
                        eq_folded(lower.as_bytes(), &other),
                        lower.as_bytes().eq_ignore_ascii_case(&other)
                    );
                }
            }
        }
        // The Kelvin sign is not `k`: ASCII folding only.
        assert!(!eq_folded(
            b"k.example.com",
            "\u{212a}.example.com".as_bytes()
        ));
    }

    #[test]
    fn literal_host_is_case_insensitive_and_port_exact() {
        let (index, _) = index(&["Registry.Example.com/*", "registry.example.com:5000/*"]);
        assert_eq!(index.best_match(&image("REGISTRY.example.COM/a")), Some(0));
        assert_eq!(
            index.best_match(&image("registry.example.com:5000/a")),
            Some(1)
        );
        assert_eq!(
            index.best_match(&image("registry.example.com:5001/a")),
            None
        );
    }

    #[test]
    fn long_hosts_and_refused_pathless_entries() {
        // A host of 255 bytes or more is stored after a five-byte length.
        let long = [
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(60),
        ]
        .join(".");
        let (index, list) = index(&[&format!("{long}/*"), &format!("{long}:5000/x"), "*.io/*"]);
        for reference in [
            format!("{}/a", long.to_ascii_uppercase()),
            format!("{long}:5000/x/y"),
            format!("{long}:5001/x"),
        ] {
            let r = image(&reference);
            assert_eq!(index.best_match(&r), pattern::best_match(&list, &r));
            assert!(index.best_match(&r).is_some() != reference.ends_with(":5001/x"));
        }
        // Refusing a pathless entry falls through to the wildcard hosts.
        let (short, _) = self::index(&["ghcr.io", "*.io"]);
        let r = image("ghcr.io/org/tool");
        assert_eq!(short.best_match(&r), Some(0));
        assert_eq!(short.best_match_by(&r, |i| i != 0), Some(1));
        assert_eq!(short.best_match_by(&r, |_| false), None);
    }

    #[test]
    fn literal_host_beats_wildcard_and_longer_path_beats_shorter() {
        let (index, list) = index(&[
            "*.dkr.ecr.*.amazonaws.com",
            "*.dkr.ecr.us-east-1.amazonaws.com/team/*",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team",
        ]);
        for (reference, want) in [
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
                Some(3),
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/teammate",
                Some(2),
            ),
            (
                "999999999999.dkr.ecr.us-east-1.amazonaws.com/team/app",
                Some(1),
            ),
            (
                "999999999999.dkr.ecr.eu-west-1.amazonaws.com/team/app",
                Some(0),
            ),
            (
                "evil.example/999999999999.dkr.ecr.eu-west-1.amazonaws.com",
                None,
            ),
        ] {
            let r = image(reference);
            assert_eq!(index.best_match(&r), want, "{reference}");
            assert_eq!(pattern::best_match(&list, &r), want, "{reference}");
        }
    }

    #[test]
    fn accept_sees_matches_best_first_and_stops() {
        let (index, list) = index(&[
            "*.example.com",
            "a.*.com/x/*",
            "a.example.com",
            "*.example.com/x/y",
            "a.example.com/x",
        ]);
        let r = image("a.example.com/x/y/z");
        let mut seen = Vec::new();
        assert_eq!(
            index.best_match_by(&r, |i| {
                seen.push(i);
                false
            }),
            None
        );
        let mut ranked: Vec<usize> = (0..list.len()).filter(|&i| list[i].matches(&r)).collect();
        ranked.sort_by_key(|&i| Reverse((list[i].specificity(), Reverse(i))));
        assert_eq!(seen, ranked);

        seen.clear();
        let second = ranked[1];
        let got = index.best_match_by(&r, |i| {
            seen.push(i);
            i == second
        });
        assert_eq!(got, Some(second));
        assert_eq!(seen, &ranked[..2]);
    }

    #[test]
    fn equally_specific_wildcard_hosts_compare_paths() {
        // `*.b` and `a.*` tie on the host, so the path decides across the two groups. In the
        // `a.*` group `x/*` sorts before `y/*y` and ranks below the `*.b` match: only a
        // pattern whose prefix fits the image may end the group's search early.
        let (index, list) = index(&["*.b/y/*", "a.*/x/*", "a.*/y/*y"]);
        let r = image("a.b/y/y");
        assert_eq!(pattern::best_match(&list, &r), Some(2));
        assert_eq!(index.best_match(&r), Some(2));
        assert_eq!(index.best_match_by(&r, |i| i != 2), Some(0));
    }

    #[test]
    fn large_groups_find_every_prefix() {
        let mut patterns = vec!["h.io/*".to_owned(), "h.io/a".to_owned()];
        for p in [
            "a/b", "a/b/c", "a/b*", "a/?", "a-b/*", "a/b/c:v1", "a/b/c:*", "a/b/c@*",
        ] {
            patterns.push(format!("h.io/{p}"));
        }
        for k in 0..20 {
            patterns.push(format!("h.io/z{k}/*"));
        }
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let (index, list) = index(&refs);
        for reference in [
            "h.io/a/b/c:v1",
            "h.io/a/b/c:v2",
            "h.io/a/b/d",
            "h.io/a/bc",
            "h.io/a/x",
            "h.io/a-b/x",
            "h.io/z1/x",
            "h.io/z11",
            "h.io/q",
        ] {
            let r = image(reference);
            assert_eq!(
                index.best_match(&r),
                pattern::best_match(&list, &r),
                "{reference}"
            );
        }
    }
}
