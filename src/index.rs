//! Many match patterns compiled for best-match lookup.
//!
//! [`PatternIndex`] gives the same answer as [`pattern::best_match`](crate::pattern::best_match)
//! over the same list, in time that does not grow with the number of entries. As in globset,
//! each kind of pattern gets the structure that makes it cheap:
//!
//! - **Host groups.** Patterns with the same host and port form one group, and all of a group's
//!   patterns share their host specificity. A literal host finds its one group by a single
//!   ASCII-case-insensitive hash lookup of the image's `(host, port)`.
//! - **Wildcard hosts** sit in a trie over their labels, read from the right: literal labels are
//!   hash edges, labels holding `*` are tried one by one (there are few per node).
//! - **Paths.** A group keeps its patterns best first: longest literal path prefix, then most
//!   literal characters, then position. Every pattern that can match has a literal prefix that
//!   is a prefix of the image's `REPOSITORY[:TAG][@DIGEST]`; small groups check that while
//!   scanning, large ones keep their distinct prefixes sorted and find the image's prefixes,
//!   longest first, by binary search.
//!
//! A literal host always beats a wildcard one (fewer wildcard labels), so a match in the literal
//! group ends the lookup; only a miss there walks the trie. A lookup never allocates.
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
/// The wildcard trie's root: the place right of a host's last label.
const ROOT: u32 = 0;

/// Many match patterns compiled for best-match lookup; see the [module documentation](self).
#[derive(Clone)]
pub struct PatternIndex {
    patterns: Vec<MatchPattern>,
    /// Pattern positions, grouped by host group; each group's slice is best first.
    entries: Vec<u32>,
    groups: Vec<Group>,
    /// The literal-prefix runs of the large groups; each group's runs sorted by prefix.
    runs: Vec<Span>,
    /// Literal `(host, port)` → group.
    literal: HashTable<u32>,
    /// The wildcard-host trie; `nodes[ROOT]` is the root.
    nodes: Vec<Node>,
    /// `(parent node, literal label)` → child node.
    edges: HashTable<u32>,
    hasher: CaseFoldHasher,
}

/// Patterns that share a host (as written, up to ASCII case) and a port.
#[derive(Clone, Debug)]
struct Group {
    port: Option<u16>,
    /// Into `entries`; never empty.
    entries: Span,
    /// Into `runs`; empty when the group is small enough to scan.
    runs: Span,
}

/// A range of a `Vec`, in half the space of a `Range<usize>`.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One label of a wildcard host pattern, with the groups whose host ends here.
#[derive(Clone, Debug)]
struct Node {
    parent: u32,
    /// Lowercased; holds `*` when the node is a wildcard child of its parent.
    label: Box<str>,
    /// Children whose label holds `*`.
    wild: Vec<u32>,
    /// Whether `edges` holds any child of this node.
    has_literal_children: bool,
    /// Groups whose host pattern is the labels from here to the root.
    groups: Vec<u32>,
}

impl Node {
    fn new(parent: u32, label: &str) -> Self {
        Self {
            parent,
            label: label.into(),
            wild: Vec::new(),
            has_literal_children: false,
            groups: Vec::new(),
        }
    }
}

/// Where a matching pattern stands: greater is better, as [`pattern::best_match`] decides.
///
/// [`pattern::best_match`]: crate::pattern::best_match
#[derive(Clone, Copy, PartialEq, Eq)]
struct Rank {
    specificity: Specificity,
    index: u32,
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.specificity
            .cmp(&other.specificity)
            .then(other.index.cmp(&self.index))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
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
        let mut patterns: Vec<MatchPattern> = patterns.into_iter().collect();
        patterns.shrink_to_fit();
        assert!(
            u32::try_from(patterns.len()).is_ok_and(|n| n < u32::MAX),
            "a PatternIndex holds fewer than 2^32 - 1 patterns"
        );
        Builder {
            hasher: CaseFoldHasher::new(),
            patterns,
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
            let found = self.candidates(group, image.path_and_version(), |i| {
                if self.patterns[i].path_matches(image) && accept(i) {
                    Break(i)
                } else {
                    Continue(())
                }
            });
            if let Break(i) = found {
                return Some(i);
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

    /// The pattern at `index`.
    pub fn pattern(&self, index: usize) -> Option<&MatchPattern> {
        self.patterns.get(index)
    }

    /// Every pattern, in position order.
    pub fn patterns(&self) -> &[MatchPattern] {
        &self.patterns
    }

    fn literal_group(&self, host: &str, port: Option<u16>) -> Option<&Group> {
        let hash = self.hasher.hash(host.as_bytes(), port_code(port));
        let &g = self.literal.find(hash, |&g| {
            let group = &self.groups[g as usize];
            group.port == port && host_text(self.representative(group)).eq_ignore_ascii_case(host)
        })?;
        Some(&self.groups[g as usize])
    }

    fn representative(&self, group: &Group) -> &MatchPattern {
        &self.patterns[self.entries[group.entries.start as usize] as usize]
    }

    /// Calls `f` with the group's patterns whose literal path prefix starts `path`, best first:
    /// every pattern of the group that can match an image with this path, and no other.
    fn candidates<B>(
        &self,
        group: &Group,
        path: &str,
        mut f: impl FnMut(usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let path = path.as_bytes();
        if group.runs.start == group.runs.end {
            for &i in &self.entries[group.entries.range()] {
                if path.starts_with(literal_prefix(&self.patterns[i as usize])) {
                    f(i as usize)?;
                }
            }
            return Continue(());
        }
        // Every prefix of `path` that is some run's prefix, longest first. The greatest run
        // prefix not above `query` is either the longest prefix of `query` among them, or shares
        // with `query` a common start beyond which no run prefix can be a prefix of `query`.
        let runs = &self.runs[group.runs.range()];
        let mut query = path;
        loop {
            let after = runs.partition_point(|&run| self.run_prefix(run) <= query);
            let Some(&run) = after.checked_sub(1).map(|k| &runs[k]) else {
                return Continue(());
            };
            let prefix = self.run_prefix(run);
            if query.starts_with(prefix) {
                for &i in &self.entries[run.range()] {
                    f(i as usize)?;
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

    fn run_prefix(&self, run: Span) -> &[u8] {
        literal_prefix(&self.patterns[self.entries[run.start as usize] as usize])
    }

    /// The best accepted match among the wildcard hosts.
    ///
    /// Each pass walks the trie and finds the best match ranked below every match already
    /// refused; `accept` then sees it. So `accept` sees matches best first with no list of them
    /// kept, and one pass is all it takes unless `accept` refuses.
    fn wildcard_match(
        &self,
        image: &ImageReference,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        if self.nodes.len() <= 1 {
            return None;
        }
        let mut refused: Option<Rank> = None;
        loop {
            let mut best: Option<Rank> = None;
            self.walk(ROOT, image.host(), &mut |g| {
                self.best_in_group(&self.groups[g as usize], image, refused, &mut best);
            });
            let index = best?.index as usize;
            if accept(index) {
                return Some(index);
            }
            refused = best;
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
            if host_rank(self.representative(group).specificity()) < host_rank(b.specificity) {
                return;
            }
        }
        let _ = self.candidates(group, image.path_and_version(), |i| {
            let pattern = &self.patterns[i];
            let rank = Rank {
                specificity: pattern.specificity(),
                index: i as u32,
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

    /// Calls `visit` with every wildcard group whose host pattern matches `rest`, the part of
    /// the host left of the labels that led to `node`.
    fn walk(&self, node: u32, rest: &str, visit: &mut impl FnMut(u32)) {
        let (left, label) = match rest.rfind('.') {
            Some(dot) => (Some(&rest[..dot]), &rest[dot + 1..]),
            None => (None, rest),
        };
        let here = &self.nodes[node as usize];
        let literal = if here.has_literal_children {
            let hash = self.hasher.hash(label.as_bytes(), u64::from(node));
            self.edges
                .find(hash, |&c| {
                    let child = &self.nodes[c as usize];
                    child.parent == node && child.label.eq_ignore_ascii_case(label)
                })
                .copied()
        } else {
            None
        };
        let wild =
            here.wild.iter().copied().filter(|&c| {
                label_matches(self.nodes[c as usize].label.as_bytes(), label.as_bytes())
            });
        for child in literal.into_iter().chain(wild) {
            match left {
                Some(left) => self.walk(child, left, visit),
                None => self.nodes[child as usize]
                    .groups
                    .iter()
                    .for_each(|&g| visit(g)),
            }
        }
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
            .field("host_groups", &self.groups.len())
            .field("literal_hosts", &self.literal.len())
            .field("wildcard_labels", &self.nodes.len().saturating_sub(1))
            .finish()
    }
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
        PathPattern::Any => "",
        PathPattern::Repository(text) | PathPattern::Exact(text) => text,
        PathPattern::Glob { text, .. } => text,
    };
    &text.as_bytes()[..pattern.specificity().literal_path_prefix as usize]
}

fn port_code(port: Option<u16>) -> u64 {
    port.map_or(u64::MAX, u64::from)
}

/// Group order: best first among the patterns that can match one image. Two patterns with
/// literal prefixes of one length can both match only if the prefixes are equal, so sorting
/// by prefix between its length and the literal count keeps each run of equal prefixes together.
fn path_order(a: (usize, &MatchPattern), b: (usize, &MatchPattern)) -> Ordering {
    let (sa, sb) = (a.1.specificity(), b.1.specificity());
    sb.literal_path_prefix
        .cmp(&sa.literal_path_prefix)
        .then_with(|| literal_prefix(a.1).cmp(literal_prefix(b.1)))
        .then(sb.literal_path_chars.cmp(&sa.literal_path_chars))
        .then(a.0.cmp(&b.0))
}

struct Builder {
    hasher: CaseFoldHasher,
    patterns: Vec<MatchPattern>,
}

impl Builder {
    fn build(self) -> PatternIndex {
        let patterns = &self.patterns;
        let (group_of, representatives) = self.group_hosts();

        // Counting sort by group, then each group best first.
        let mut starts = vec![0u32; representatives.len() + 1];
        for &g in &group_of {
            starts[g as usize + 1] += 1;
        }
        for g in 0..representatives.len() {
            starts[g + 1] += starts[g];
        }
        let mut fill = starts.clone();
        let mut entries = vec![0u32; patterns.len()];
        for (i, &g) in group_of.iter().enumerate() {
            entries[fill[g as usize] as usize] = i as u32;
            fill[g as usize] += 1;
        }
        let mut groups = Vec::with_capacity(representatives.len());
        let mut runs = Vec::new();
        for (g, &first) in representatives.iter().enumerate() {
            let span = Span {
                start: starts[g],
                end: starts[g + 1],
            };
            let members = &mut entries[span.range()];
            members.sort_unstable_by(|&a, &b| {
                path_order(
                    (a as usize, &patterns[a as usize]),
                    (b as usize, &patterns[b as usize]),
                )
            });
            let run_start = runs.len() as u32;
            if members.len() > SCAN_MAX {
                push_runs(patterns, members, span.start, &mut runs);
            }
            groups.push(Group {
                port: patterns[first as usize].port(),
                entries: span,
                runs: Span {
                    start: run_start,
                    end: runs.len() as u32,
                },
            });
        }
        runs.shrink_to_fit();

        let (literal, nodes, edges) = self.host_structures(&groups, &entries);
        PatternIndex {
            entries,
            groups,
            runs,
            literal,
            nodes,
            edges,
            hasher: self.hasher,
            patterns: self.patterns,
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
        let mut representatives: Vec<u32> = Vec::new();
        let mut group_of = Vec::with_capacity(patterns.len());
        for (i, pattern) in patterns.iter().enumerate() {
            let hash = self.group_key_hash(pattern);
            let found = table.find(hash, |&g| {
                let other = &patterns[representatives[g as usize] as usize];
                other.port() == pattern.port()
                    && host_text(other).eq_ignore_ascii_case(host_text(pattern))
            });
            let g = match found {
                Some(&g) => g,
                None => {
                    let g = representatives.len() as u32;
                    representatives.push(i as u32);
                    table.insert_unique(hash, g, |&g| {
                        self.group_key_hash(&patterns[representatives[g as usize] as usize])
                    });
                    g
                }
            };
            group_of.push(g);
        }
        (group_of, representatives)
    }

    /// The literal-host table, the wildcard-host trie and its literal edges.
    fn host_structures(
        &self,
        groups: &[Group],
        entries: &[u32],
    ) -> (HashTable<u32>, Vec<Node>, HashTable<u32>) {
        let representative = |g: &Group| &self.patterns[entries[g.entries.start as usize] as usize];
        let mut literal = HashTable::new();
        let mut nodes = vec![Node::new(ROOT, "")];
        let mut edges: HashTable<u32> = HashTable::new();
        let edge_hash = |nodes: &[Node], c: u32| {
            let child = &nodes[c as usize];
            self.hasher
                .hash(child.label.as_bytes(), u64::from(child.parent))
        };
        for (g, group) in groups.iter().enumerate() {
            let labels = match representative(group).host_pattern() {
                HostPattern::Literal(_) => {
                    let hash = self.group_key_hash(representative(group));
                    literal.insert_unique(hash, g as u32, |&g| {
                        self.group_key_hash(representative(&groups[g as usize]))
                    });
                    continue;
                }
                HostPattern::Labels(labels) => labels,
            };
            let mut node = ROOT;
            for label in labels.iter().rev() {
                let existing = if label.contains('*') {
                    nodes[node as usize]
                        .wild
                        .iter()
                        .copied()
                        .find(|&c| *nodes[c as usize].label == **label)
                } else {
                    let hash = self.hasher.hash(label.as_bytes(), u64::from(node));
                    edges
                        .find(hash, |&c| {
                            nodes[c as usize].parent == node && *nodes[c as usize].label == **label
                        })
                        .copied()
                };
                node = match existing {
                    Some(child) => child,
                    None => {
                        let child = nodes.len() as u32;
                        nodes.push(Node::new(node, label));
                        if label.contains('*') {
                            nodes[node as usize].wild.push(child);
                        } else {
                            nodes[node as usize].has_literal_children = true;
                            let hash = edge_hash(&nodes, child);
                            edges.insert_unique(hash, child, |&c| edge_hash(&nodes, c));
                        }
                        child
                    }
                };
            }
            nodes[node as usize].groups.push(g as u32);
        }
        literal.shrink_to_fit(|&g| self.group_key_hash(representative(&groups[g as usize])));
        nodes.shrink_to_fit();
        (literal, nodes, edges)
    }
}

/// Splits a group's sorted `members` (which start at `offset` in `entries`) into runs of equal
/// literal prefix, and appends them to `runs` sorted by prefix.
fn push_runs(patterns: &[MatchPattern], members: &[u32], offset: u32, runs: &mut Vec<Span>) {
    let first = runs.len();
    let mut start = 0;
    while start < members.len() {
        let prefix = literal_prefix(&patterns[members[start] as usize]);
        let len = members[start..]
            .iter()
            .take_while(|&&i| literal_prefix(&patterns[i as usize]) == prefix)
            .count();
        runs.push(Span {
            start: offset + start as u32,
            end: offset + (start + len) as u32,
        });
        start += len;
    }
    let prefix =
        |run: &Span| literal_prefix(&patterns[members[(run.start - offset) as usize] as usize]);
    runs[first..].sort_unstable_by(|a, b| prefix(a).cmp(prefix(b)));
}

/// Hashes bytes as if ASCII-lowercased, without copying them: hosts are looked up as written.
///
/// A folded multiply per eight bytes (the foldhash construction) with per-index random keys,
/// so a crafted set of host names cannot be made to collide without knowing the keys.
#[derive(Clone, Copy)]
struct CaseFoldHasher {
    keys: [u64; 2],
}

impl CaseFoldHasher {
    fn new() -> Self {
        let random = std::hash::RandomState::new();
        Self {
            keys: [random.hash_one(0u8), random.hash_one(1u8) | 1],
        }
    }

    fn hash(&self, bytes: &[u8], extra: u64) -> u64 {
        let [k0, k1] = self.keys;
        let mut h = fold(k0 ^ extra, k1 ^ bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            h = fold(h ^ lowercase_word(chunk), k1);
        }
        if !chunks.remainder().is_empty() {
            h = fold(h ^ lowercase_word(chunks.remainder()), k1);
        }
        fold(h, k0)
    }
}

/// Up to eight bytes, ASCII-lowercased, as one little-endian word (zero-padded).
fn lowercase_word(chunk: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    for (to, from) in word.iter_mut().zip(chunk) {
        *to = from.to_ascii_lowercase();
    }
    u64::from_le_bytes(word)
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
