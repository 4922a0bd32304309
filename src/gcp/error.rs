//! Google failures in words a user can act on: which cloud, which identity, what to fix.
//!
//! A token endpoint's reply body holds the token on success and a description on failure; the
//! description is read to choose our words, never repeated. What an error keeps is the
//! identity (a service account's email and key id, or the metadata server's address), the
//! endpoint, the HTTP status and the OAuth or API error code (checked to look like one).

use crate::Error;

/// What went wrong getting a Google access token. Reached through
/// [`Error::detail`](crate::Error::detail).
///
/// ```
/// use registry_auth::gcp::GcpError;
///
/// # fn show(error: &registry_auth::Error) {
/// if let Some(GcpError::Refused { identity, reason, .. }) = error.detail::<GcpError>() {
///     eprintln!("{identity}: {reason}");
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GcpError {
    /// Google refused the identity: a deleted or foreign key, a disabled or missing account, a
    /// clock that is off, a permission the identity lacks. Retrying does not help.
    #[error("Google Cloud refused {identity} at {endpoint}{}: {reason}", facts(Some(*status), code.as_deref()))]
    Refused {
        /// Who asked: `service account EMAIL (key KEY_ID)`, the metadata server's account, or an
        /// impersonation.
        identity: String,
        /// The endpoint that refused.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The OAuth or API error code, when the reply had one (`invalid_grant`,
        /// `PERMISSION_DENIED`).
        code: Option<String>,
        /// Why, and what to do, in our words.
        reason: String,
    },
    /// The token service or metadata server could not be reached, failed, or answered
    /// something unusable.
    #[error("Google Cloud: no token for {identity} from {endpoint}{}: {what}", facts(*status, None))]
    Unavailable {
        /// Who asked.
        identity: String,
        /// The endpoint asked.
        endpoint: String,
        /// The HTTP status, when there was a reply.
        status: Option<u16>,
        /// What happened, with the fix where one is known.
        what: String,
        /// Whether trying again later may help (a timeout, a 5xx, throttling).
        retryable: bool,
    },
}

impl From<GcpError> for Error {
    fn from(e: GcpError) -> Self {
        match e {
            GcpError::Refused { .. } => Error::credentials(e),
            GcpError::Unavailable { retryable, .. } => Error::upstream(e, retryable),
        }
    }
}

/// ` (HTTP 400, invalid_grant)`, or nothing.
fn facts(status: Option<u16>, code: Option<&str>) -> String {
    match (status, code) {
        (Some(s), Some(c)) => format!(" (HTTP {s}, {c})"),
        (Some(s), None) => format!(" (HTTP {s})"),
        (None, Some(c)) => format!(" ({c})"),
        (None, None) => String::new(),
    }
}

/// An error code as Google writes them (`invalid_grant`, `PERMISSION_DENIED`), or `None` for
/// anything else, which is then not repeated.
pub(crate) fn code(raw: Option<&str>) -> Option<String> {
    raw.filter(|c| {
        !c.is_empty()
            && c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    })
    .map(str::to_owned)
}

/// Our words for a refusal of a service account's JWT grant, chosen from the OAuth error code
/// and description that the token endpoint gave (neither is repeated).
pub(crate) fn grant_refusal(code: &str, description: &str, email: &str, token_uri: &str) -> String {
    let d = description.to_ascii_lowercase();
    if d.contains("signature") {
        format!("the assertion's signature matches no key of {email}: the key was deleted or disabled, or key_file holds another account's key; create a key (gcloud iam service-accounts keys create FILE --iam-account {email}) and point key_file at it")
    } else if d.contains("audience") {
        format!("the assertion's audience, the key file's token_uri ({token_uri}), is not this endpoint's: the key file's token_uri was changed; restore it to https://oauth2.googleapis.com/token")
    } else if ["iat and exp", "timeframe", "short-lived", "expired"]
        .iter()
        .any(|w| d.contains(w))
    {
        "the assertion is expired or not yet valid by the endpoint's clock: this machine's clock is off by minutes; synchronise it (NTP) and retry".to_owned()
    } else if d.contains("account not found")
        || d.contains("not a valid email")
        || d.contains("disabled")
    {
        format!("{email} does not exist or is disabled: enable the service account, or use a key of one that exists")
    } else if code == "invalid_scope" {
        "the endpoint refused the cloud-platform scope: the key file is not a Google service-account key".to_owned()
    } else {
        format!("the endpoint refused the service-account grant: check that key_file is a current key of an enabled service account ({email})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_repeated_only_when_they_look_like_codes() {
        assert_eq!(
            code(Some("invalid_grant")).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(
            code(Some("PERMISSION_DENIED")).as_deref(),
            Some("PERMISSION_DENIED")
        );
        assert_eq!(code(Some("ya29.a0 secret token")), None);
        assert_eq!(code(Some(&"x".repeat(65))), None);
        assert_eq!(code(None), None);
    }

    #[test]
    fn refusals_name_the_cloud_and_identity_and_keep_the_kind() {
        let e = GcpError::Refused {
            identity: "service account a@p.iam.gserviceaccount.com (key k1)".into(),
            endpoint: "https://oauth2.googleapis.com/token".into(),
            status: 400,
            code: Some("invalid_grant".into()),
            reason: grant_refusal(
                "invalid_grant",
                "Invalid JWT Signature.",
                "a@p.iam.gserviceaccount.com",
                "t",
            ),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("Google Cloud refused service account a@p"),
            "{text}"
        );
        assert!(
            text.contains("(HTTP 400, invalid_grant)") && text.contains("keys create"),
            "{text}"
        );
        assert_eq!(Error::from(e).kind(), crate::ErrorKind::Credentials);
    }
}
