//! STUB (linear scan) until the compiled index lands.
use crate::pattern::{self, MatchPattern};
use crate::reference::ImageReference;

/// Many patterns compiled for best-match lookup.
#[derive(Debug, Clone, Default)]
pub struct PatternIndex {
    patterns: Vec<MatchPattern>,
}

impl PatternIndex {
    /// Compiles `patterns`; positions are their order.
    pub fn new(patterns: impl IntoIterator<Item = MatchPattern>) -> Self {
        Self {
            patterns: patterns.into_iter().collect(),
        }
    }

    /// The position of the most specific pattern matching `image`.
    pub fn best_match(&self, image: &ImageReference) -> Option<usize> {
        pattern::best_match(&self.patterns, image)
    }
}
