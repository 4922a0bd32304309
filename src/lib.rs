//! registry-auth: short-lived credentials for private container registries.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
mod credential;
pub mod ecr;
mod error;
pub mod index;
pub mod pattern;
pub mod provider;
pub mod reference;
pub mod resolver;
mod time;

pub use credential::RegistryCredential;
pub use error::Error;

/// Formats a time as RFC 3339 in UTC, whole seconds: `2026-11-27T19:42:52Z`.
pub fn format_time(t: std::time::SystemTime) -> String {
    time::rfc3339(t)
}
