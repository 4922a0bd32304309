//! Compiling patterns into a [`PatternIndex`]: host groups, wildcard shapes, sorted path
//! prefixes.

use super::*;

pub(super) struct Builder {
    pub(super) hasher: CaseFoldHasher,
    /// In position order.
    pub(super) patterns: Vec<MatchPattern>,
    pub(super) text: Vec<u8>,
}

impl Builder {
    pub(super) fn build(mut self) -> PatternIndex {
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

        let (literal, wild) = self.host_structures(groups, &entries);
        let heads = entries
            .iter()
            .map(|&position| prefix_head(literal_prefix(&self.patterns[position as usize])))
            .collect();
        self.text.shrink_to_fit();
        PatternIndex {
            patterns: self.patterns,
            entries,
            heads,
            runs,
            run_spans,
            literal,
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

    /// The literal-host table, with the groups, and the wildcard hosts.
    fn host_structures(
        &mut self,
        groups: Vec<Group>,
        entries: &[u32],
    ) -> (HashTable<LiteralSlot>, WildHosts) {
        let literal_count = groups
            .iter()
            .filter(|g| self.is_literal(g, entries))
            .count();
        let mut literal = HashTable::with_capacity(literal_count);
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
                    host: self.text.len() as u32,
                    group,
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
                let (text, hasher) = (&self.text, &self.hasher);
                literal.insert_unique(hash, slot, |slot| {
                    hasher.hash(literal_host(text, slot.host), port_code(slot.group.port))
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
        (literal, wild)
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
pub(super) fn push_runs(
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
