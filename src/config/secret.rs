//! Secrets in a configuration: written inline, named by an environment variable, or kept in a
//! file; read only when the entry that needs them serves a request.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::FieldError;

/// The most a secret file may hold.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Where a secret comes from: `"inline"`, `{ env = "NAME" }` or `{ file = "PATH" }`.
///
/// Nothing is read until [`read`](Self::read): a configuration loads, and `explain`, `check`
/// and every other entry work, where one entry's secret is not at hand. A relative file path is
/// relative to the configuration file; one trailing newline is dropped. `Debug` never shows an
/// inline secret.
#[derive(Clone)]
#[non_exhaustive]
pub enum SecretSource {
    /// Written in the configuration.
    Inline(SecretString),
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file (at most 64 KiB).
    File(PathBuf),
}

impl SecretSource {
    /// The secret, read now. `field` names the field in errors.
    pub fn read(&self, field: &str) -> Result<SecretString, FieldError> {
        let text = match self {
            SecretSource::Inline(s) => s.clone(),
            SecretSource::Env(name) => std::env::var(name).map(SecretString::from).map_err(|_| {
                FieldError::new(
                    field,
                    format!("environment variable {name:?} is not set (or not UTF-8); export it, or write the secret another way"),
                )
            })?,
            SecretSource::File(path) => {
                let mut s = crate::files::read_text(path, MAX_SECRET_FILE).map_err(|e| {
                    FieldError::new(
                        field,
                        format!("cannot read secret file {}: {e}", path.display()),
                    )
                })?;
                if s.ends_with('\n') {
                    s.pop();
                    if s.ends_with('\r') {
                        s.pop();
                    }
                }
                SecretString::from(s)
            }
        };
        if text.expose_secret().trim().is_empty() {
            return Err(FieldError::new(field, "is empty"));
        }
        Ok(text)
    }

    /// Whether the secret is written in the configuration itself.
    pub fn is_inline(&self) -> bool {
        matches!(self, SecretSource::Inline(_))
    }

    /// Makes a relative file path relative to `dir` (the configuration file's directory).
    pub(crate) fn rebase(&mut self, dir: &Path) {
        if let SecretSource::File(path) = self {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }
}

impl From<SecretString> for SecretSource {
    fn from(s: SecretString) -> Self {
        SecretSource::Inline(s)
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline([REDACTED])"),
            SecretSource::Env(name) => f.debug_tuple("Env").field(name).finish(),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// What a secret field accepts, as errors say it.
const SHAPES: &str = "a string, { env = \"NAME\" } or { file = \"PATH\" }";

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

/// Accepts the three shapes and says which ones without ever quoting the value it got.
struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SHAPES)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSource, E> {
        if v.trim().is_empty() {
            return Err(E::custom("is empty"));
        }
        Ok(SecretSource::Inline(SecretString::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<SecretSource, E> {
        Err(E::custom("is required"))
    }

    fn visit_none<E: de::Error>(self) -> Result<SecretSource, E> {
        Err(E::custom("is required"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
        let wrong = || de::Error::custom(format!("must be {SHAPES}"));
        let mut found: Option<(String, serde_json::Value)> = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: serde_json::Value = map.next_value()?;
            if found.is_some() || !matches!(key.as_str(), "env" | "file") {
                return Err(wrong());
            }
            found = Some((key, value));
        }
        let (key, value) = found.ok_or_else(wrong)?;
        let name = value.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
            de::Error::custom("names an empty or non-string environment variable or file")
        })?;
        Ok(if key == "env" {
            SecretSource::Env(name.to_owned())
        } else {
            SecretSource::File(PathBuf::from(name))
        })
    }

    // Every other type: the message names the shapes, never the value.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretSource, E> {
        Err(E::custom(format!("must be {SHAPES}")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretSource, E> {
        Err(E::custom(format!("must be {SHAPES}")))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretSource, E> {
        Err(E::custom(format!("must be {SHAPES}")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretSource, E> {
        Err(E::custom(format!("must be {SHAPES}")))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<SecretSource, A::Error> {
        Err(de::Error::custom(format!("must be {SHAPES}")))
    }
}
