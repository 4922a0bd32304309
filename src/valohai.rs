//! Checking a `valohai.yaml` against the registry entries: which entry serves each image.
//!
//! A `valohai.yaml` is a YAML list of items; `- step:` and `- endpoint:` items name an `image`,
//! other items (`- pipeline:`, ...) are ignored. Every image is looked up among the entries'
//! patterns: an image on a private ECR host that no entry serves is an error (the pull would
//! fail for want of credentials); any other image without an entry is listed as public, pulled
//! without credentials.
//!
//! ```
//! use registry_auth::pattern::MatchPattern;
//! use registry_auth::valohai::{ValohaiFile, Verdict};
//!
//! let file = ValohaiFile::parse(
//!     "- step:\n    name: train\n    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0\n    command:\n      - python train.py\n",
//!     "valohai.yaml",
//! )?;
//! let patterns = [MatchPattern::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/*")?];
//! let report = file.check(&patterns);
//! assert!(report.passed());
//! assert_eq!(report.rows[0].line, 3);
//! assert!(matches!(report.rows[0].verdict, Verdict::Served { index: 0, .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`ValohaiFile::check_live`] goes further and proves each pull with the entry's credential
//! (see [`live`]): one [`LiveReport`] row per image, with a verdict and the fix.
//!
//! YAML is read with `serde-saphyr` (pure Rust, panic-free, budgets against alias bombs), which
//! gives line and column for errors and values.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};
use serde_saphyr::Spanned;

use crate::aws::EcrHost;
use crate::live::{self, ImageCheck};
use crate::pattern::{self, MatchPattern};
use crate::reference::ImageReference;
use crate::{DefaultResolver, ResolveContext};

/// The most a `valohai.yaml` may hold.
const MAX_FILE: u64 = 16 * 1024 * 1024;
/// The most of an image string a report repeats.
const MAX_ECHO: usize = 256;

/// A YAML library message in the words of someone editing a `valohai.yaml`: no type names or
/// settings of the library.
fn in_our_words(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set ").next().unwrap_or(rest);
        return format!(
            "`{}` is given twice in the same item; keep one",
            crate::error::cut(key, 80)
        );
    }
    // Other messages may end with advice about the library's options: not the user's to set.
    let message = match message.find(", set ") {
        Some(at) if message[at..].contains("Options") => &message[..at],
        _ => message,
    };
    crate::error::cut(message, 300)
}

/// Which kind of item names an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A `- step:` item.
    Step,
    /// A `- endpoint:` item.
    Endpoint,
}

impl Kind {
    /// `step` or `endpoint`, as in the file.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Step => "step",
            Kind::Endpoint => "endpoint",
        }
    }
}

/// One step or endpoint and the image it names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageUse {
    /// Step or endpoint.
    pub kind: Kind,
    /// The item's `name`, or `#N` (its position from 1) when it has none.
    pub name: String,
    /// The line of the `image` value (of the item when it has no image), from 1.
    pub line: u32,
    /// The image as written, or what is wrong with the `image` key.
    pub image: Result<String, String>,
}

/// A parsed `valohai.yaml`: every step's and endpoint's image, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValohaiFile {
    origin: String,
    uses: Vec<ImageUse>,
}

impl ValohaiFile {
    /// Reads and parses a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ValohaiError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = crate::files::read_text(path, MAX_FILE).map_err(|e| ValohaiError {
            origin: origin.clone(),
            line: None,
            column: None,
            item: None,
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, &origin)
    }

    /// Parses YAML text; `origin` names it in errors and reports.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ValohaiError> {
        let items: Vec<Spanned<Item>> = serde_saphyr::from_str(text).map_err(|e| {
            let location = e.location().filter(|l| l.line() > 0);
            let line = location.map(|l| l.line() as u32);
            let mut message = in_our_words(&e.without_snippet().to_string());
            if let Some(l) = location {
                let suffix = format!(" at line {}, column {}", l.line(), l.column());
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_owned();
                }
            }
            if message.contains("sequence start") {
                message.push_str(
                    " (a valohai.yaml is a list of `- step:`, `- endpoint:` and `- pipeline:` items)",
                );
            }
            ValohaiError {
                origin: origin.to_owned(),
                line,
                column: location.map(|l| l.column() as u32),
                item: line.and_then(|l| enclosing_item(text, l)),
                message,
            }
        })?;
        let mut uses = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let item_line = item.referenced.line() as u32;
            let Item { step, endpoint } = item.value;
            for (kind, exec) in [(Kind::Step, step), (Kind::Endpoint, endpoint)] {
                if let Some(exec) = exec {
                    uses.push(exec_use(kind, i, item_line, exec));
                }
            }
        }
        Ok(Self {
            origin: origin.to_owned(),
            uses,
        })
    }

    /// Every step's and endpoint's image, in file order.
    pub fn images(&self) -> &[ImageUse] {
        &self.uses
    }

    /// Which of `patterns` (in configuration order) serves each image.
    pub fn check(&self, patterns: &[MatchPattern]) -> CheckReport {
        let rows = self
            .uses
            .iter()
            .map(|u| {
                let (normalized, verdict) = judge(&u.image, patterns);
                CheckRow {
                    kind: u.kind,
                    name: u.name.clone(),
                    line: u.line,
                    image: crate::error::cut(u.image.as_deref().unwrap_or_default(), MAX_ECHO),
                    normalized,
                    verdict,
                }
            })
            .collect();
        CheckReport {
            origin: self.origin.clone(),
            rows,
        }
    }
}

impl ValohaiFile {
    /// Proves that every image can be pulled, as a request in `context` would pull it: the
    /// entry, its credential (once per entry and registry, through the resolver's cache), and
    /// the registry's answer ([`live::check_image`]). Distinct images are checked once each,
    /// `concurrency` at a time; `progress` is called as each completes with how many are done,
    /// how many there are, and the image's check.
    ///
    /// An image that is missing or not a valid reference is
    /// [`ReferenceNotFound`](live::Verdict::ReferenceNotFound) without asking anyone.
    pub async fn check_live<F>(
        &self,
        resolver: &DefaultResolver,
        context: &ResolveContext,
        concurrency: usize,
        mut progress: F,
    ) -> LiveReport
    where
        F: FnMut(usize, usize, &ImageCheck),
    {
        let parsed: Vec<Result<ImageReference, String>> = self
            .uses
            .iter()
            .map(|u| match &u.image {
                Ok(text) => ImageReference::parse(text.trim()).map_err(|e| e.to_string()),
                Err(why) => Err(why.clone()),
            })
            .collect();
        let mut distinct: Vec<ImageReference> = Vec::new();
        for image in parsed.iter().flatten() {
            if !distinct.contains(image) {
                distinct.push(image.clone());
            }
        }
        let total = distinct.len();
        let mut done = 0;
        let checks = live::check_images(resolver, context, &distinct, concurrency, |_, check| {
            done += 1;
            progress(done, total, check);
        })
        .await;
        let rows = self
            .uses
            .iter()
            .zip(&parsed)
            .map(|(u, image)| {
                let (entry, verdict, detail) = match image {
                    Ok(image) => {
                        let check = distinct
                            .iter()
                            .position(|d| d == image)
                            .and_then(|i| checks.get(i));
                        match check {
                            Some(c) => (
                                c.entry.as_ref().map(|(i, p)| (*i, p.to_string())),
                                c.verdict,
                                c.detail.clone(),
                            ),
                            None => (
                                None,
                                live::Verdict::Unreachable,
                                "the check did not run".to_owned(),
                            ),
                        }
                    }
                    Err(why) => (
                        None,
                        live::Verdict::ReferenceNotFound,
                        format!("{why}; fix the image in {}", self.origin),
                    ),
                };
                LiveRow {
                    kind: u.kind,
                    name: u.name.clone(),
                    line: u.line,
                    image: crate::error::cut(u.image.as_deref().unwrap_or_default(), MAX_ECHO),
                    entry,
                    verdict,
                    detail,
                }
            })
            .collect();
        LiveReport {
            origin: self.origin.clone(),
            rows,
        }
    }
}

/// One image of the file and what the live check found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveRow {
    /// Step or endpoint.
    pub kind: Kind,
    /// The step's or endpoint's name.
    pub name: String,
    /// The line of the image in the file, from 1.
    pub line: u32,
    /// The image as written (empty when missing).
    pub image: String,
    /// The entry that serves it (position, pattern), if one does.
    pub entry: Option<(usize, String)>,
    /// What was found.
    pub verdict: live::Verdict,
    /// What was found, in words, with the fix.
    pub detail: String,
}

/// The result of [`ValohaiFile::check_live`]; `Display` is the CLI's text output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveReport {
    /// The file's name, as given.
    pub origin: String,
    /// One row per step or endpoint, in file order.
    pub rows: Vec<LiveRow>,
}

impl LiveReport {
    /// True when every image can be pulled.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.verdict.is_ok())
    }

    /// One JSON object: `{"images": [{image, line, step, entry, verdict, detail}]}`, where
    /// `step` is the step's (or endpoint's) name, `entry` is `{index, pattern}` or null, and
    /// `verdict` is one of [`live::Verdict::as_str`]'s identifiers.
    pub fn to_json(&self) -> Value {
        let images: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "image": r.image,
                    "line": r.line,
                    "step": r.name,
                    "entry": r.entry.as_ref().map(|(index, pattern)| json!({ "index": index, "pattern": pattern })),
                    "verdict": r.verdict.as_str(),
                    "detail": r.detail,
                })
            })
            .collect();
        json!({ "images": images })
    }
}

impl fmt::Display for LiveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rows {
            let image = if r.image.is_empty() { "-" } else { &r.image };
            let head = format!(
                "{}:{}: {} {:?}: {image}",
                self.origin,
                r.line,
                r.kind.as_str(),
                r.name
            );
            if r.verdict.is_ok() {
                writeln!(f, "ok    {head}")?;
            } else {
                writeln!(f, "FAIL  {head}: {}", r.verdict.label())?;
            }
            let entry = match &r.entry {
                Some((i, pattern)) => format!("[{i}] {pattern}: "),
                None => String::new(),
            };
            let mut lines = r.detail.lines();
            writeln!(f, "        {entry}{}", lines.next().unwrap_or_default())?;
            for line in lines {
                writeln!(f, "        {line}")?;
            }
        }
        let counts: Vec<String> = live::Verdict::ALL
            .iter()
            .filter_map(|v| {
                let n = self.rows.iter().filter(|r| r.verdict == *v).count();
                (n > 0).then(|| format!("{n} {}", v.label()))
            })
            .collect();
        write!(f, "{} image(s)", self.rows.len())?;
        if !counts.is_empty() {
            write!(f, ": {}", counts.join(", "))?;
        }
        Ok(())
    }
}

fn exec_use(kind: Kind, index: usize, item_line: u32, exec: Spanned<Exec>) -> ImageUse {
    let line = exec.referenced.line() as u32;
    let name = match exec.value.name.map(|n| n.value) {
        Some(Loose::Text(n)) if !n.trim().is_empty() => n,
        _ => format!("#{}", index + 1),
    };
    let (line, image) = match exec.value.image {
        Some(Spanned {
            value: Loose::Text(image),
            referenced,
            ..
        }) => (referenced.line() as u32, Ok(image)),
        Some(Spanned {
            value: Loose::Other(what),
            referenced,
            ..
        }) => (
            referenced.line() as u32,
            Err(format!(
                "`image` is {what}; write the image name as a string"
            )),
        ),
        None => (
            line.max(item_line),
            Err(format!("the {} has no `image`", kind.as_str())),
        ),
    };
    ImageUse {
        kind,
        name,
        line,
        image,
    }
}

/// The entry that serves an image, or why none needs to.
fn judge(image: &Result<String, String>, patterns: &[MatchPattern]) -> (Option<String>, Verdict) {
    let text = match image {
        Ok(t) => t,
        Err(why) => return (None, Verdict::Invalid(why.clone())),
    };
    let reference = match ImageReference::parse(text.trim()) {
        Ok(r) => r,
        Err(e) => return (None, Verdict::Invalid(e.to_string())),
    };
    let normalized = Some(reference.as_str().to_owned());
    let verdict = match pattern::best_match(patterns, &reference) {
        Some(index) => Verdict::Served {
            index,
            pattern: patterns[index].as_str().to_owned(),
        },
        None => match EcrHost::parse(reference.domain()) {
            Some(h) if !h.is_public() => Verdict::Unserved,
            _ => Verdict::Public,
        },
    };
    (normalized, verdict)
}

/// What the check found for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// An entry serves it.
    Served {
        /// The entry's position in the configuration, from 0.
        index: usize,
        /// The entry's pattern as written.
        pattern: String,
    },
    /// No entry serves it and it is not on a private ECR host: pulled without credentials.
    Public,
    /// A private ECR image that no entry serves: the pull would fail.
    Unserved,
    /// The image is missing or not a valid reference.
    Invalid(String),
}

impl Verdict {
    /// Whether the pull can go ahead (served or public).
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Served { .. } | Verdict::Public)
    }

    fn status(&self) -> &'static str {
        match self {
            Verdict::Served { .. } => "served",
            Verdict::Public => "public",
            Verdict::Unserved => "unserved",
            Verdict::Invalid(_) => "invalid",
        }
    }
}

/// One image of the file and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckRow {
    /// Step or endpoint.
    pub kind: Kind,
    /// The step's or endpoint's name.
    pub name: String,
    /// The line of the image in the file, from 1.
    pub line: u32,
    /// The image as written (empty when missing).
    pub image: String,
    /// The normalised reference, when the image parses.
    pub normalized: Option<String>,
    /// What the check found.
    pub verdict: Verdict,
}

/// The result of [`ValohaiFile::check`]; `Display` is the CLI's text output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The file's name, as given.
    pub origin: String,
    /// One row per step or endpoint, in file order.
    pub rows: Vec<CheckRow>,
}

impl CheckReport {
    /// True when every image is served by an entry or is public.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.verdict.is_ok())
    }

    /// One JSON object: `{"file", "passed", "images": [{kind, name, line, image, normalized,
    /// status, entry, message}]}`.
    pub fn to_json(&self) -> Value {
        let images: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let entry = match &r.verdict {
                    Verdict::Served { index, pattern } => {
                        json!({ "index": index, "pattern": pattern })
                    }
                    _ => Value::Null,
                };
                json!({
                    "kind": r.kind.as_str(),
                    "name": r.name,
                    "line": r.line,
                    "image": r.image,
                    "normalized": r.normalized,
                    "status": r.verdict.status(),
                    "entry": entry,
                    "message": row_message(r),
                })
            })
            .collect();
        json!({ "file": self.origin, "passed": self.passed(), "images": images })
    }
}

fn row_message(r: &CheckRow) -> String {
    match &r.verdict {
        Verdict::Served { index, pattern } => format!("served by entry [{index}] {pattern}"),
        Verdict::Public => {
            "no entry: not a private ECR image, pulled without credentials".to_owned()
        }
        Verdict::Unserved => format!(
            "no entry serves this private ECR image; add an entry whose pattern covers {}",
            r.normalized.as_deref().unwrap_or(&r.image)
        ),
        Verdict::Invalid(why) => why.clone(),
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rows {
            let mark = if r.verdict.is_ok() { "ok   " } else { "ERROR" };
            writeln!(
                f,
                "{mark} {}:{}: {} {:?}: {}",
                self.origin,
                r.line,
                r.kind.as_str(),
                r.name,
                if r.image.is_empty() { "-" } else { &r.image }
            )?;
            writeln!(f, "        {}", row_message(r))?;
        }
        let count = |s: &str| self.rows.iter().filter(|r| r.verdict.status() == s).count();
        write!(
            f,
            "{} image(s): {} served, {} public, {} unserved, {} invalid",
            self.rows.len(),
            count("served"),
            count("public"),
            count("unserved"),
            count("invalid"),
        )
    }
}

/// A `valohai.yaml` that cannot be read: the file, where, in which step, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValohaiError {
    origin: String,
    line: Option<u32>,
    column: Option<u32>,
    item: Option<String>,
    message: String,
}

impl ValohaiError {
    /// The line of the problem, from 1, when the YAML parser gave one.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// The step or endpoint the problem is in, as `step "train"`, when known.
    pub fn item(&self) -> Option<&str> {
        self.item.as_deref()
    }
}

impl fmt::Display for ValohaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(item) = &self.item {
            write!(f, "in {item}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValohaiError {}

/// The `- step:` / `- endpoint:` item around `line`, found in the text, for errors where the
/// YAML could not be read into items: `step "train"`, or where it starts when it has no name.
fn enclosing_item(text: &str, line: u32) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let upto = (line as usize).min(lines.len());
    let (start, kind) = (0..upto)
        .rev()
        .find_map(|i| item_kind(lines[i]).map(|k| (i, k)))?;
    // The item's own `name:` sits at the indentation of its first key; deeper `name:`s belong
    // to nested lists (parameters, inputs).
    let mut key_indent = None;
    let mut name = None;
    for l in &lines[start + 1..] {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(l) <= indent(lines[start]) {
            break;
        }
        if indent(l) == *key_indent.get_or_insert(indent(l)) {
            if let Some(v) = t.strip_prefix("name:") {
                name = Some(v.trim().trim_matches(['"', '\'']).to_owned());
                break;
            }
        }
    }
    Some(match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("{kind} {n:?}"),
        None => format!("the {kind} starting at line {}", start + 1),
    })
}

/// `step` or `endpoint` when the line opens such a list item (`- step:`).
fn item_kind(line: &str) -> Option<&'static str> {
    let t = line.trim_start().strip_prefix('-')?.trim_start();
    ["step", "endpoint"].into_iter().find(|k| {
        t.strip_prefix(k)
            .is_some_and(|r| r.trim_start().starts_with(':'))
    })
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// One list item; keys other than `step` and `endpoint` are ignored.
#[derive(Deserialize)]
struct Item {
    step: Option<Spanned<Exec>>,
    endpoint: Option<Spanned<Exec>>,
}

/// The keys of a step or endpoint this check reads; the rest are ignored.
#[derive(Deserialize)]
struct Exec {
    name: Option<Spanned<Loose>>,
    image: Option<Spanned<Loose>>,
}

/// Any YAML value: a scalar as text, anything else by what it is, so that a wrong value
/// becomes a finding on its step rather than a parse error.
enum Loose {
    Text(String),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
        Ok(Loose::Text(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Loose, E> {
        Ok(Loose::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose, E> {
        Ok(Loose::Text(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose, E> {
        Ok(Loose::Text(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose, E> {
        Ok(Loose::Text(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Other("empty"))
    }

    fn visit_none<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Other("empty"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("a mapping"))
    }
}
