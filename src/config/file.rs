//! The file formats: TOML, JSON of the same shape, and the platform's JSON export, all read
//! through one entry parser.
//!
//! A file becomes a JSON value first (TOML rejects duplicate keys itself; JSON objects are read
//! by a strict visitor that does too), then each entry is deserialized on its own into
//! serde-derived structs with `deny_unknown_fields`, so every error can name the entry (index
//! and pattern) and the field. serde's messages are rewritten into this crate's vocabulary
//! (`is required`, `must be a string`, `unknown field; expected one of: ...`), which also keeps
//! them from quoting a value: the value may be a secret.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ConfigError, CredentialSource, FieldError, RegistryEntry};
use crate::aws::{AwsChain, IamUser, InstanceRole, WebIdentity};
#[cfg(feature = "azure")]
use crate::azure::Azure;
use crate::basic::Basic;
#[cfg(feature = "gcp")]
use crate::gcp::Gcp;
use crate::pattern::MatchPattern;
use crate::scope::EntryScope;

/// Which text format a configuration is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Toml,
    Json,
}

/// Which shape the entries had, which decides how fields are named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `[[registry]]` tables (or `{"registry": [...]}`): `pattern`, `iam_user.region`.
    Registry,
    /// The platform's export list: `image_pattern`, `configuration.region`.
    Export,
}

impl Shape {
    pub(crate) fn pattern_field(self) -> &'static str {
        match self {
            Shape::Registry => "pattern",
            Shape::Export => "image_pattern",
        }
    }
}

/// The entries of `text`; errors name `origin`.
pub(crate) fn parse(
    text: &str,
    format: Format,
    origin: &str,
) -> Result<(Vec<RegistryEntry>, Shape), ConfigError> {
    let (items, shape) = parse_raw(text, format, origin)?;
    let entries = items
        .iter()
        .enumerate()
        .map(|(i, v)| entry(v, shape, i, origin))
        .collect::<Result<_, _>>()?;
    Ok((entries, shape))
}

/// The entries of `text` as values, not yet read as entries: what a compiled snapshot keeps.
pub(crate) fn parse_raw(
    text: &str,
    format: Format,
    origin: &str,
) -> Result<(Vec<Value>, Shape), ConfigError> {
    let value = match format {
        Format::Toml => toml_value(text, origin)?,
        Format::Json => json_value(text, origin)?,
    };
    let whole = |field: Option<&str>, message: &str| ConfigError {
        origin: origin.to_owned(),
        entry: None,
        field: field.map(str::to_owned),
        message: message.to_owned(),
    };
    match value {
        Value::Array(items) => Ok((items, Shape::Export)),
        Value::Object(mut top) => {
            let list = top.remove("registry");
            if let Some(key) = top.keys().next() {
                return Err(whole(
                    None,
                    &format!(
                        "unknown top-level key `{}`; entries go in `[[registry]]` tables",
                        cut(key)
                    ),
                ));
            }
            match list {
                Some(Value::Array(items)) => Ok((items, Shape::Registry)),
                Some(_) => Err(whole(
                    Some("registry"),
                    "must be a list of entries (`[[registry]]` in TOML)",
                )),
                None => Ok((Vec::new(), Shape::Registry)),
            }
        }
        _ => Err(whole(
            None,
            "must be a table with `registry` entries, or a JSON list",
        )),
    }
}

/// Entry `index` of `origin`, from its value in a file of `shape`.
pub(crate) fn entry(
    value: &Value,
    shape: Shape,
    index: usize,
    origin: &str,
) -> Result<RegistryEntry, ConfigError> {
    let read = match shape {
        Shape::Registry => registry_entry(value),
        Shape::Export => export_entry(value),
    };
    read.map_err(|(pattern, e)| e.at(origin, index, pattern))
}

fn toml_value(text: &str, origin: &str) -> Result<Value, ConfigError> {
    let parsed: toml::Value = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let (line, column) = line_column(text, span.start);
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        ConfigError::new(
            origin,
            format!("not valid TOML{at}: {}", cut(e.message().trim())),
        )
    })?;
    serde_json::to_value(parsed)
        .map_err(|_| ConfigError::new(origin, "not valid TOML: it holds a value JSON cannot"))
}

fn json_value(text: &str, origin: &str) -> Result<Value, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| ConfigError::new(origin, format!("not valid JSON: {e}")))?;
    Ok(value.0)
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A JSON value whose objects must not repeat a key (serde_json keeps the last one).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue::deserialize(d).map(|v| v.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}`; give each key once",
                    cut(&key)
                )));
            }
            let StrictValue(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }
}

/// The pattern of one entry, or an error naming the field. `Err` carries the pattern text
/// (empty when there is none) for the error's entry.
fn entry_pattern(
    object: &Map<String, Value>,
    field: &str,
) -> Result<MatchPattern, (String, FieldError)> {
    match object.get(field) {
        None => Err((String::new(), FieldError::new(field, "is required"))),
        Some(Value::String(raw)) => MatchPattern::parse(raw)
            .map_err(|e| (raw.clone(), FieldError::new(field, e.to_string()))),
        Some(_) => Err((String::new(), FieldError::new(field, "must be a string"))),
    }
}

/// `[[registry]]`: the pattern, the scope, and exactly one source table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[allow(dead_code)]
    pattern: IgnoredAny,
    iam_user: Option<IamUser>,
    instance_role: Option<InstanceRole>,
    basic: Option<Basic>,
    aws_chain: Option<AwsChain>,
    web_identity: Option<WebIdentity>,
    #[cfg(feature = "gcp")]
    gcp: Option<Gcp>,
    #[cfg(feature = "azure")]
    azure: Option<Azure>,
    owner: Option<String>,
    environments: Option<Vec<String>>,
}

/// The source tables of `[[registry]]`, in the order errors list them.
const SOURCE_TABLES: &str = "iam_user, instance_role, aws_chain, web_identity or basic";

/// [`SOURCE_TABLES`] and the cloud tables this build knows.
fn source_tables() -> String {
    let clouds: &[&str] = &[
        #[cfg(feature = "gcp")]
        "gcp",
        #[cfg(feature = "azure")]
        "azure",
    ];
    let mut all: Vec<&str> = SOURCE_TABLES
        .split(", ")
        .flat_map(|t| t.split(" or "))
        .collect();
    all.extend(clouds);
    match all.split_last() {
        Some((last, head)) if !head.is_empty() => format!("{} or {last}", head.join(", ")),
        _ => all.join(""),
    }
}

fn registry_entry(v: &Value) -> Result<RegistryEntry, (String, FieldError)> {
    let object = v.as_object().ok_or_else(|| {
        (
            String::new(),
            FieldError::new("registry", "must be a table (an object in JSON)"),
        )
    })?;
    let pattern = entry_pattern(object, "pattern")?;
    let named = |e: FieldError| (pattern.as_str().to_owned(), e);
    let raw: RawEntry = from_value(v).map_err(named)?;
    let mut sources = Vec::new();
    if let Some(u) = raw.iam_user {
        sources.push(CredentialSource::IamUser(u));
    }
    if let Some(r) = raw.instance_role {
        sources.push(CredentialSource::InstanceRole(r));
    }
    if let Some(c) = raw.aws_chain {
        sources.push(CredentialSource::AwsChain(c));
    }
    if let Some(w) = raw.web_identity {
        sources.push(CredentialSource::WebIdentity(w));
    }
    if let Some(b) = raw.basic {
        sources.push(CredentialSource::Basic(b));
    }
    #[cfg(feature = "gcp")]
    if let Some(g) = raw.gcp {
        sources.push(CredentialSource::Gcp(g));
    }
    #[cfg(feature = "azure")]
    if let Some(a) = raw.azure {
        sources.push(CredentialSource::Azure(a));
    }
    let source = match sources.len() {
        1 => sources.remove(0),
        0 => {
            return Err(named(FieldError::new(
                "iam_user",
                format!("the entry has no credential source: add one [registry.SOURCE] table, SOURCE being {}", source_tables()),
            )))
        }
        _ => {
            return Err(named(FieldError::new(
                sources[0].kind(),
                format!("an entry has one credential source: keep one of {}", source_tables()),
            )))
        }
    };
    let kind = source.kind();
    source.validate().map_err(|e| named(e.within(kind)))?;
    let scope = scope(raw.owner, raw.environments).map_err(named)?;
    Ok(RegistryEntry {
        pattern,
        source,
        scope,
    })
}

/// One item of the platform's export: `{"type", "image_pattern", "configuration"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExport {
    #[serde(rename = "type")]
    kind: Option<Value>,
    #[allow(dead_code)]
    image_pattern: IgnoredAny,
    configuration: Option<Value>,
    owner: Option<String>,
    environments: Option<Vec<String>>,
}

fn export_entry(v: &Value) -> Result<RegistryEntry, (String, FieldError)> {
    let object = v.as_object().ok_or_else(|| {
        (
            String::new(),
            FieldError::new("entry", "must be a table (an object in JSON)"),
        )
    })?;
    let pattern = entry_pattern(object, "image_pattern")?;
    let named = |e: FieldError| (pattern.as_str().to_owned(), e);
    let raw: RawExport = from_value(v).map_err(named)?;
    let kind = match raw.kind {
        None | Some(Value::Null) => return Err(named(FieldError::new("type", "is required"))),
        Some(Value::String(k)) if k.trim().is_empty() => {
            return Err(named(FieldError::new("type", "is empty")))
        }
        Some(Value::String(k)) => k,
        Some(_) => return Err(named(FieldError::new("type", "must be a string"))),
    };
    let conf = match raw.configuration {
        None | Some(Value::Null) => {
            return Err(named(FieldError::new("configuration", "is required")))
        }
        Some(c @ Value::Object(_)) => c,
        Some(_) => {
            return Err(named(FieldError::new(
                "configuration",
                "must be a table (an object in JSON)",
            )))
        }
    };
    let within = |e: FieldError| named(e.within("configuration"));
    let source = match kind.as_str() {
        "aws_ecr" => CredentialSource::IamUser(from_value(&conf).map_err(within)?),
        "aws_ecr_role" => CredentialSource::InstanceRole(from_value(&conf).map_err(within)?),
        "aws_chain" => CredentialSource::AwsChain(from_value(&conf).map_err(within)?),
        "aws_web_identity" => CredentialSource::WebIdentity(from_value(&conf).map_err(within)?),
        "basic" => CredentialSource::Basic(from_value(&conf).map_err(within)?),
        other => {
            return Err(named(FieldError::new(
                "type",
                format!("{:?} is not a registry type this crate knows; use \"aws_ecr\" (IAM user), \"aws_ecr_role\" (instance role), \"aws_chain\" (the standard AWS chain), \"aws_web_identity\" (web identity) or \"basic\" (username and password)", cut(other)),
            )))
        }
    };
    source.validate().map_err(within)?;
    let scope = scope(raw.owner, raw.environments).map_err(named)?;
    Ok(RegistryEntry {
        pattern,
        source,
        scope,
    })
}

/// `owner = "ORG"` and `environments = ["ENV", ...]`, both optional.
fn scope(
    owner: Option<String>,
    environments: Option<Vec<String>>,
) -> Result<EntryScope, FieldError> {
    if let Some(o) = &owner {
        super::check_text("owner", o)?;
    }
    if let Some(envs) = &environments {
        if envs.is_empty() {
            return Err(FieldError::new(
                "environments",
                "is an empty list, so no job could use the entry; remove it to allow every environment, or name the environments",
            ));
        }
        for (k, env) in envs.iter().enumerate() {
            if env.trim().is_empty() || env.trim() != env {
                return Err(FieldError::new(
                    format!("environments[{k}]"),
                    "must be a non-empty environment name without surrounding whitespace",
                ));
            }
        }
    }
    Ok(EntryScope {
        owner,
        environments,
    })
}

/// `T` from `v`, with serde's error turned into a field error in our words.
fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let (extra, message) = plain(&e.into_inner().to_string());
        // An unknown field's path already ends with it; a missing field's is its table's.
        let field = match extra {
            Some(x) if path == x || path.ends_with(&format!(".{x}")) => path,
            Some(x) if path.is_empty() => x,
            Some(x) => format!("{path}.{x}"),
            None => path,
        };
        FieldError::new(field, message)
    })
}

/// serde's message in this crate's words, and the field it names beyond the error's path.
fn plain(message: &str) -> (Option<String>, String) {
    let ticked = |s: &str| -> Option<(String, String)> {
        let rest = s.strip_prefix('`')?;
        let (name, after) = rest.split_once('`')?;
        Some((name.to_owned(), after.to_owned()))
    };
    if let Some((name, after)) = message.strip_prefix("unknown field ").and_then(ticked) {
        let expected: Vec<String> = after
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let text = if expected.is_empty() {
            "unknown field; this table takes no fields".to_owned()
        } else {
            format!("unknown field; expected one of: {}", expected.join(", "))
        };
        return (Some(cut(&name)), text);
    }
    if let Some((name, _)) = message.strip_prefix("missing field ").and_then(ticked) {
        return (Some(name), "is required".to_owned());
    }
    if let Some((name, _)) = message.strip_prefix("duplicate field ").and_then(ticked) {
        return (Some(name), "is given twice".to_owned());
    }
    if let Some((name, rest)) = message.strip_prefix("field ").and_then(ticked) {
        return (Some(name), rest.trim().to_owned());
    }
    if message.starts_with("invalid type:") || message.starts_with("invalid value:") {
        let expected = message.rsplit_once(", expected ").map_or("", |(_, e)| e);
        let expected = if expected.starts_with("struct ") || expected == "a map" {
            "a table (an object in JSON)"
        } else if expected == "a sequence" {
            "a list"
        } else {
            expected
        };
        return (None, format!("must be {expected}"));
    }
    if message.starts_with("invalid length") {
        return (None, "has the wrong number of items".to_owned());
    }
    (None, cut(message))
}

/// At most 200 characters of `s`, for messages.
fn cut(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_read_in_our_words_and_never_quote_values() {
        assert_eq!(
            plain("unknown field `comment`, expected one of `pattern`, `iam_user`"),
            (
                Some("comment".into()),
                "unknown field; expected one of: pattern, iam_user".into()
            )
        );
        assert_eq!(
            plain("missing field `region`"),
            (Some("region".into()), "is required".into())
        );
        assert_eq!(
            plain("invalid type: string \"hunter2\", expected struct IamUser"),
            (None, "must be a table (an object in JSON)".into())
        );
        assert_eq!(
            plain("invalid type: integer `5`, expected a string"),
            (None, "must be a string".into())
        );
        assert_eq!(
            plain("field `external_id` only applies with assume_role_arn"),
            (
                Some("external_id".into()),
                "only applies with assume_role_arn".into()
            )
        );
    }

    #[test]
    fn json_objects_may_not_repeat_a_key() {
        let e = json_value(r#"{"registry": [], "registry": []}"#, "x.json").unwrap_err();
        assert!(e.to_string().contains("duplicate key `registry`"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(json_value(r#"{"a": {"b": 1}, "c": [{"b": 2}]}"#, "x.json").is_ok());
    }

    #[test]
    fn toml_errors_say_where() {
        let e = toml_value("a = 1\nb = \n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("at line 2, column"), "{e}");
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
