//! A word on stderr when a `get` waits on its credential source for long: a person at a
//! terminal otherwise sees a pull hang with no clue whether AWS, the network or the helper is
//! at fault. Said once, after [`SLOW_AFTER`], and only when stderr is a terminal (docker and
//! scripts read stderr as diagnostics, where a progress note is noise).

use std::future::Future;
use std::time::Duration;

use crate::config::{CredentialSource, RegistryConfig};

/// How long a `get` may wait before the note.
pub const SLOW_AFTER: Duration = Duration::from_secs(2);

/// Awaits `work`. If it is still pending after `after` and `notice` is given, calls `notice`
/// once and goes on waiting.
pub async fn notify_if_slow<F: Future>(
    work: F,
    after: Duration,
    notice: Option<impl FnOnce()>,
) -> F::Output {
    let Some(notice) = notice else {
        return work.await;
    };
    let mut work = std::pin::pin!(work);
    match tokio::time::timeout(after, &mut work).await {
        Ok(out) => out,
        Err(_) => {
            notice();
            work.await
        }
    }
}

/// What a `get` for `registry` through entry `index` of `config` waits for, for the note:
/// `an ECR token for HOST from AWS (registry[0]: iam_user in us-east-1)`.
pub fn waiting_for(config: &RegistryConfig, index: usize, registry: &str) -> String {
    let Some(entry) = config.entries().get(index) else {
        return format!("credentials for {registry}");
    };
    let kind = entry.source.kind();
    let region = entry
        .source
        .region()
        .map(|r| format!(" in {r}"))
        .unwrap_or_default();
    match &entry.source {
        CredentialSource::Basic(_) => {
            format!("credentials for {registry} (registry[{index}]: {kind})")
        }
        CredentialSource::IamUser(_)
        | CredentialSource::InstanceRole(_)
        | CredentialSource::AwsChain(_)
        | CredentialSource::WebIdentity(_) => {
            format!("an ECR token for {registry} from AWS (registry[{index}]: {kind}{region})")
        }
        #[cfg(feature = "gcp")]
        CredentialSource::Gcp(_) => {
            format!("a token for {registry} from Google (registry[{index}]: {kind})")
        }
        #[cfg(feature = "azure")]
        CredentialSource::Azure(_) => {
            format!("a token for {registry} from Azure (registry[{index}]: {kind})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Work that takes `d` of (paused, auto-advancing) Tokio time.
    async fn takes(d: Duration) -> u32 {
        tokio::time::sleep(d).await;
        7
    }

    #[tokio::test(start_paused = true)]
    async fn the_note_comes_once_and_only_after_the_threshold() {
        let said = Cell::new(0);
        let note = || said.set(said.get() + 1);
        let quick = notify_if_slow(takes(Duration::from_millis(1999)), SLOW_AFTER, Some(note));
        assert_eq!(quick.await, 7);
        assert_eq!(said.get(), 0, "finished before the threshold: no note");

        let note = || said.set(said.get() + 1);
        let slow = notify_if_slow(takes(Duration::from_millis(2001)), SLOW_AFTER, Some(note));
        assert_eq!(slow.await, 7);
        assert_eq!(said.get(), 1);

        let note = || said.set(said.get() + 1);
        let very_slow = notify_if_slow(takes(Duration::from_secs(60)), SLOW_AFTER, Some(note));
        assert_eq!(very_slow.await, 7, "the work is not cut short");
        assert_eq!(said.get(), 2, "one note per get, however long it waits");
    }

    #[tokio::test(start_paused = true)]
    async fn no_terminal_no_note() {
        let none: Option<fn()> = None;
        assert_eq!(
            notify_if_slow(takes(Duration::from_secs(60)), SLOW_AFTER, none).await,
            7
        );
    }

    #[test]
    fn the_note_names_the_entry_and_the_source() {
        let config = RegistryConfig::from_toml_str(
            r#"
            [[registry]]
            pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
            instance_role = { role_name = "Worker", region = "us-east-1" }
            [[registry]]
            pattern = "localhost:5000"
            basic = { username = "u", password = { env = "REGISTRY_AUTH_UNSET" } }
            "#,
            "test",
        )
        .unwrap();
        assert_eq!(
            waiting_for(&config, 0, "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            "an ECR token for 123456789012.dkr.ecr.us-east-1.amazonaws.com from AWS (registry[0]: instance_role in us-east-1)"
        );
        assert_eq!(
            waiting_for(&config, 1, "localhost:5000"),
            "credentials for localhost:5000 (registry[1]: basic)"
        );
        assert_eq!(waiting_for(&config, 9, "x.io"), "credentials for x.io");
    }
}
