//! What a resolve hands back: a registry login that expires.

use std::fmt;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

/// A short-lived registry login: `docker login -u USERNAME -p PASSWORD SERVER`, good until
/// `expires_at`.
///
/// `Debug` never shows the password; read it with [`secrecy::ExposeSecret`].
#[derive(Clone)]
#[non_exhaustive]
pub struct RegistryCredential {
    /// The user name to log in with; `AWS` for every ECR token.
    pub username: String,
    /// The password; for ECR, the part of the decoded authorization token after `AWS:`.
    pub password: SecretString,
    /// The registry endpoint the credential is for, e.g.
    /// `https://123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub server: String,
    /// When the registry stops accepting the password.
    pub expires_at: SystemTime,
}

impl RegistryCredential {
    /// A credential from its parts.
    pub fn new(
        username: impl Into<String>,
        password: SecretString,
        server: impl Into<String>,
        expires_at: SystemTime,
    ) -> Self {
        Self {
            username: username.into(),
            password,
            server: server.into(),
            expires_at,
        }
    }

    /// How long the credential stays good after `now`; zero once it has expired.
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.expires_at
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }
}

impl fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredential")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("server", &self.server)
            .field("expires_at", &crate::time::rfc3339(self.expires_at))
            .finish()
    }
}
