//! Load: 10,000 concurrent resolves over 100 registries with a cold cache make exactly 100
//! upstream calls (counted at the provider in front of the emulator) and never deadlock.

use crate::support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use registry_auth::aws::AwsOptions;
use registry_auth::pattern::MatchPattern;
use registry_auth::reference::ImageReference;
use registry_auth::{DefaultResolver, RegistryResolver};

use support::{clock_before_moto_expiry, pull_policy, Counting, Emulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cold_resolves_over_a_hundred_registries_make_a_hundred_calls() {
    let emu = Emulator::get();
    let user = emu.user("load", Some(&pull_policy()));
    let provider =
        Counting::new(user.provider(AwsOptions::default().with_endpoint_url(&emu.endpoint)));
    let calls = provider.calls.clone();
    let resolver = Arc::new(
        DefaultResolver::builder()
            .clock(clock_before_moto_expiry())
            .provider_entry(
                MatchPattern::parse("*.dkr.ecr.us-east-1.amazonaws.com/*").unwrap(),
                Arc::new(provider),
            )
            .build()
            .unwrap(),
    );
    let accounts: Vec<String> = (0..100)
        .map(|i| format!("{:012}", 200_000_000_000u64 + i))
        .collect();
    let images: Vec<ImageReference> = accounts
        .iter()
        .map(|a| {
            ImageReference::parse(&format!("{a}.dkr.ecr.us-east-1.amazonaws.com/app:v1")).unwrap()
        })
        .collect();

    let run = async {
        let mut tasks = Vec::with_capacity(10_000);
        for n in 0..10_000 {
            let resolver = resolver.clone();
            let image = images[n % 100].clone();
            tasks.push(tokio::spawn(async move {
                (n % 100, resolver.resolve(&image).await)
            }));
        }
        for t in tasks {
            let (i, login) = t.await.unwrap();
            let login = login.unwrap();
            assert_eq!(
                login.credential.expose_password(),
                &format!("{}-auth-token", accounts[i])
            );
        }
    };
    // A deadlock fails the test instead of hanging it.
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("10,000 resolves finish within 120 s");
    assert_eq!(calls.load(Ordering::SeqCst), 100);
}
