//! Azure failures in words a user can act on: which cloud, which identity, what to fix.
//!
//! Entra ID names its refusals by number (`AADSTS7000215`: a wrong client secret) and ACR by a
//! code and a sentence. The number and code are kept (checked to look like one), with Entra's
//! trace id for a support case; the sentences are read to choose our words and never
//! repeated, since a reply body is not ours to echo.

use crate::Error;

/// What went wrong getting an ACR refresh token. Reached through
/// [`Error::detail`](crate::Error::detail).
///
/// ```
/// use registry_auth::azure::AzureError;
///
/// # fn show(error: &registry_auth::Error) {
/// if let Some(AzureError::Refused { identity, code, .. }) = error.detail::<AzureError>() {
///     eprintln!("{identity} was refused ({code:?})");
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AzureError {
    /// Entra ID, the managed-identity endpoint or the registry refused the identity: a wrong or
    /// expired secret, an unknown application, a certificate not uploaded, a token for another
    /// audience or an expired one. Retrying does not help.
    #[error("Azure refused {identity} at {endpoint}{}: {reason}", facts(Some(*status), code.as_deref(), trace_id.as_deref()))]
    Refused {
        /// Who asked: `service principal CLIENT_ID in tenant TENANT`, or a managed identity.
        identity: String,
        /// The endpoint that refused.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// `AADSTS7000215`, or the registry's error code (`UNAUTHORIZED`), when there was one.
        code: Option<String>,
        /// Entra ID's trace id, for a support case.
        trace_id: Option<String>,
        /// Why, and what to do, in our words.
        reason: String,
    },
    /// The registry handed out a refresh token that has already expired by this machine's
    /// clock: the clock is off (hours, since ACR's tokens live about three).
    #[error("Azure: the ACR refresh token {endpoint} gave {identity} expired at {}, before this machine's time ({}): this machine's clock is off; synchronise it (NTP) and retry", crate::time::rfc3339(*expired_at), crate::time::rfc3339(*now))]
    Expired {
        /// Who asked.
        identity: String,
        /// The exchange endpoint.
        endpoint: String,
        /// The token's `exp`.
        expired_at: std::time::SystemTime,
        /// This machine's time when the token arrived.
        now: std::time::SystemTime,
    },
    /// An endpoint could not be reached, failed, or answered something unusable.
    #[error("Azure: no token for {identity} from {endpoint}{}: {what}", facts(*status, None, None))]
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

impl From<AzureError> for Error {
    fn from(e: AzureError) -> Self {
        match e {
            AzureError::Refused { .. } | AzureError::Expired { .. } => Error::credentials(e),
            AzureError::Unavailable { retryable, .. } => Error::upstream(e, retryable),
        }
    }
}

/// ` (HTTP 401, AADSTS7000215, trace id …)`, or nothing.
fn facts(status: Option<u16>, code: Option<&str>, trace_id: Option<&str>) -> String {
    let facts: Vec<String> = [
        status.map(|s| format!("HTTP {s}")),
        code.map(str::to_owned),
        trace_id.map(|t| format!("trace id {t}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", facts.join(", "))
    }
}

/// A code as Azure writes them (`UNAUTHORIZED`, `invalid_client`), or `None`.
pub(crate) fn code(raw: Option<&str>) -> Option<String> {
    raw.filter(|c| {
        !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
    .map(str::to_owned)
}

/// A GUID (Entra's trace and correlation ids), or `None`.
pub(crate) fn guid(raw: Option<&str>) -> Option<String> {
    raw.filter(|g| is_guid(g)).map(str::to_owned)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits.
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `AADSTS` numbers [`entra_reason`] has words for.
const KNOWN: [u64; 14] = [
    7_000_215, 7_000_222, 700_016, 90_002, 900_023, 90_023, 700_027, 700_021, 700_024, 700_023,
    50_012, 500_011, 70_011, 7_000_112,
];

/// The number to explain among those Entra ID gave (`[70002, 50012]`: a generic one, then the
/// cause): the first this crate has words for, else the first.
pub(crate) fn entra_number(codes: &[u64]) -> Option<u64> {
    codes
        .iter()
        .find(|n| KNOWN.contains(n))
        .or(codes.first())
        .copied()
}

/// What the caller does about an Entra ID refusal, by its `AADSTS` number.
pub(crate) fn entra_reason(
    number: Option<u64>,
    client_id: &str,
    tenant: &str,
    scope: &str,
    certificate: Option<&str>,
) -> String {
    let cert = certificate.unwrap_or("the client_certificate file");
    match number {
        Some(7_000_215) => format!("the client secret is wrong for application {client_id}: copy the secret's Value (not its Secret ID) from the app registration's Certificates & secrets, or create a new secret"),
        Some(7_000_222) => format!("the client secret of application {client_id} has expired: create a new one in the app registration's Certificates & secrets and update client_secret"),
        Some(700_016) => format!("tenant {tenant} has no application {client_id}: check client_id and tenant_id, and that the app is registered (or consented to) in that tenant"),
        Some(90_002 | 900_023 | 90_023) => format!("tenant {tenant} does not exist in this cloud: check tenant_id (the directory id), and authority_host for a sovereign cloud"),
        Some(700_027 | 700_021) => format!("the client assertion signed with {cert} does not verify: that certificate is not uploaded to application {client_id}, or the key in the file is not the certificate's; upload the certificate (Certificates & secrets, Certificates) or fix the file"),
        Some(700_024) => "the client assertion is expired or not yet valid by Entra ID's clock: this machine's clock is off by minutes; synchronise it (NTP) and retry".to_owned(),
        Some(700_023 | 50_012) => "the client assertion's audience is not the token endpoint Entra ID serves: authority_host (or AZURE_AUTHORITY_HOST) reaches the authority under another name; set it to the authority's own URL, e.g. https://login.microsoftonline.com".to_owned(),
        Some(500_011) => format!("tenant {tenant} knows no resource for scope {scope}: check scope (ACR's is https://containerregistry.azure.net/.default)"),
        Some(70_011) => format!("scope {scope} is not valid: it must be a resource's URI followed by /.default"),
        Some(7_000_112) => format!("application {client_id} is disabled in tenant {tenant}: enable it"),
        Some(n) => format!("Entra ID refused the sign-in (AADSTS{n}); look the code up at https://login.microsoftonline.com/error?code={n}"),
        None => "Entra ID refused the sign-in: check tenant_id, client_id and the secret or certificate".to_owned(),
    }
}

/// Our words for a registry's refusal of the exchange, chosen from its message (which is not
/// repeated).
pub(crate) fn exchange_reason(
    message: &str,
    registry: &str,
    scope: &str,
    tenant: Option<&str>,
) -> String {
    let m = message.to_ascii_lowercase();
    let tenant = tenant.map_or(String::new(), |t| format!(" ({t})"));
    if m.contains("expired") {
        "the Entra ID token had expired when the registry checked it: this machine's clock or the registry's is off; synchronise this one (NTP) and retry".to_owned()
    } else if m.contains("audience") {
        format!("the registry does not accept tokens for the audience asked for (scope {scope}): use scope https://containerregistry.azure.net/.default, or let the registry accept Azure Resource Manager tokens (az acr config authentication-as-arm update --status enabled)")
    } else if m.contains("tenant") {
        format!("{registry} belongs to another tenant than the identity's{tenant}: sign in to the registry's tenant (tenant_id)")
    } else {
        format!("{registry} did not accept the Entra ID token: check that the identity's tenant{tenant} is the registry's, that scope is {scope}, and that the registry lets Entra ID identities in")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_and_guids_are_repeated() {
        assert_eq!(code(Some("UNAUTHORIZED")).as_deref(), Some("UNAUTHORIZED"));
        assert_eq!(code(Some("eyJhbGciOi.J9")), None);
        assert!(is_guid("0a1b2c3d-0000-4000-8000-00000000abcd"));
        assert!(!is_guid("0a1b2c3d-0000-4000-8000-00000000abcg"));
        assert_eq!(guid(Some("not a guid")), None);
        assert_eq!(entra_number(&[70_002, 50_012]), Some(50_012));
        assert_eq!(entra_number(&[70_002]), Some(70_002));
        assert_eq!(entra_number(&[]), None);
    }

    #[test]
    fn refusals_name_the_cloud_the_identity_and_the_fix() {
        let e = AzureError::Refused {
            identity: "service principal 11111111-2222-3333-4444-555555555555 in tenant contoso.onmicrosoft.com".into(),
            endpoint: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token".into(),
            status: 401,
            code: Some("AADSTS7000215".into()),
            trace_id: Some("0a1b2c3d-0000-4000-8000-00000000abcd".into()),
            reason: entra_reason(Some(7_000_215), "11111111-2222-3333-4444-555555555555", "contoso.onmicrosoft.com", "s", None),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("Azure refused service principal 1111"),
            "{text}"
        );
        assert!(
            text.contains("(HTTP 401, AADSTS7000215, trace id 0a1b2c3d"),
            "{text}"
        );
        assert!(text.contains("client secret is wrong"), "{text}");
        assert_eq!(Error::from(e).kind(), crate::ErrorKind::Credentials);
    }
}
