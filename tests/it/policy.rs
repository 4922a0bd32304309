//! The policy generator: the guide's policy exactly, patterns to repository ARNs, a whole
//! configuration, the CLI, and a generated policy at the moto emulator.

use crate::support;

use std::process::Command;
use std::sync::Arc;

use registry_auth::aws::policy::{ConfigPolicy, PullPolicy, TOKEN_ACTION};
use registry_auth::aws::AwsOptions;
use registry_auth::aws::Partition;
use registry_auth::config::RegistryConfig;
use registry_auth::pattern::MatchPattern;
use registry_auth::Error;
use registry_auth::{DefaultResolver, RegistryResolver};

use serde_json::Value;
use support::{pull_policy, Emulator};

const BIN: &str = env!("CARGO_BIN_EXE_registry-auth");

#[test]
fn one_repository_gives_the_guides_policy_byte_for_byte() {
    let policy = PullPolicy::for_repository("us-east-1", "123456789012", "my-ml-image").unwrap();
    // scripts/policies/valohai-ecr-policy.json is the guide's JSON with the placeholders filled.
    assert_eq!(policy.to_json_pretty(), pull_policy().trim_end());
    assert_eq!(policy.partition(), Partition::Aws);
    let value: Value = serde_json::from_str(&pull_policy()).unwrap();
    assert_eq!(policy.to_json(), value);
}

#[test]
fn the_partition_follows_the_region() {
    for (region, arn_prefix) in [
        ("us-east-1", "arn:aws:ecr:"),
        ("cn-north-1", "arn:aws-cn:ecr:"),
        ("us-gov-west-1", "arn:aws-us-gov:ecr:"),
        ("us-iso-east-1", "arn:aws-iso:ecr:"),
        ("us-isob-east-1", "arn:aws-iso-b:ecr:"),
        ("eu-isoe-west-1", "arn:aws-iso-e:ecr:"),
        ("us-isof-south-1", "arn:aws-iso-f:ecr:"),
        ("eusc-de-east-1", "arn:aws-eusc:ecr:"),
    ] {
        let p = PullPolicy::for_repository(region, "123456789012", "app").unwrap();
        assert_eq!(
            p.resources(),
            [format!("{arn_prefix}{region}:123456789012:repository/app")],
            "{region}"
        );
    }
}

#[test]
fn bad_input_is_refused_and_named() {
    for (region, account, repo, field) in [
        ("us-east-1", "12345", "app", "account"),
        ("us-east-1", "12345678901a", "app", "account"),
        ("useast1", "123456789012", "app", "region"),
        ("", "123456789012", "app", "region"),
        ("us-east-1", "123456789012", "", "repository"),
        ("us-east-1", "123456789012", "App", "repository"),
        ("us-east-1", "123456789012", "app:v1", "repository"),
        ("us-east-1", "123456789012", "app@sha256:00", "repository"),
        ("us-east-1", "123456789012", "team//app", "repository"),
        ("us-east-1", "123456789012", "app/", "repository"),
        ("us-east-1", "123456789012", "a\"b", "repository"),
    ] {
        let err = PullPolicy::for_repository(region, account, repo).unwrap_err();
        assert_eq!(err.field(), field, "{region} {account} {repo}: {err}");
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

/// One pattern alone: (pattern, [(partition, resources)], a note expected).
type PatternCase = (String, Vec<(&'static str, Vec<String>)>, bool);

#[test]
fn patterns_become_repository_arns_with_wildcards_only_where_the_pattern_has_them() {
    const H: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    const A: &str = "arn:aws:ecr:us-east-1:123456789012:repository";
    let cases: Vec<PatternCase> = vec![
        (
            format!("{H}/*"),
            vec![("aws", vec![format!("{A}/*")])],
            false,
        ),
        (H.to_owned(), vec![("aws", vec![format!("{A}/*")])], false),
        (
            format!("{H}:443/*"),
            vec![("aws", vec![format!("{A}/*")])],
            false,
        ),
        (
            format!("{H}/team/*"),
            vec![("aws", vec![format!("{A}/team/*")])],
            false,
        ),
        (
            format!("{H}/team"),
            vec![("aws", vec![format!("{A}/team"), format!("{A}/team/*")])],
            false,
        ),
        (
            format!("{H}/team/model-?"),
            vec![("aws", vec![format!("{A}/team/model-?")])],
            false,
        ),
        (
            format!("{H}/team:v1"),
            vec![("aws", vec![format!("{A}/team")])],
            true,
        ),
        (
            format!(
                "{H}/team@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            vec![("aws", vec![format!("{A}/team")])],
            true,
        ),
        (
            format!("{H}/team:v*"),
            vec![("aws", vec![format!("{A}/team")])],
            true,
        ),
        (
            format!("{H}/*:v1"),
            vec![("aws", vec![format!("{A}/*")])],
            true,
        ),
        (
            "*.dkr.ecr.*.amazonaws.com/*".into(),
            vec![("aws", vec!["arn:aws:ecr:*:*:repository/*".into()])],
            false,
        ),
        (
            "123456789012.dkr.ecr.us-*.amazonaws.com/app/*".into(),
            vec![(
                "aws",
                vec!["arn:aws:ecr:us-*:123456789012:repository/app/*".into()],
            )],
            false,
        ),
        (
            "1234*.dkr.ecr.eu-west-1.amazonaws.com/*".into(),
            vec![(
                "aws",
                vec!["arn:aws:ecr:eu-west-1:1234*:repository/*".into()],
            )],
            false,
        ),
        (
            "*.dkr.ecr.us-gov-west-1.amazonaws.com/*".into(),
            vec![(
                "aws-us-gov",
                vec!["arn:aws-us-gov:ecr:us-gov-west-1:*:repository/*".into()],
            )],
            false,
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app".into(),
            vec![(
                "aws-cn",
                vec![
                    "arn:aws-cn:ecr:cn-north-1:123456789012:repository/app".into(),
                    "arn:aws-cn:ecr:cn-north-1:123456789012:repository/app/*".into(),
                ],
            )],
            false,
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com/*".into(),
            vec![(
                "aws-us-gov",
                vec!["arn:aws-us-gov:ecr:us-gov-east-1:123456789012:repository/*".into()],
            )],
            false,
        ),
        (
            "123456789012.dkr-ecr.eu-west-1.on.aws/*".into(),
            vec![(
                "aws",
                vec!["arn:aws:ecr:eu-west-1:123456789012:repository/*".into()],
            )],
            false,
        ),
        (
            // FIPS or not, the same repositories.
            "*.dkr.ecr*.eu-west-1.amazonaws.com/*".into(),
            vec![("aws", vec!["arn:aws:ecr:eu-west-1:*:repository/*".into()])],
            false,
        ),
        (
            // A wildcard suffix spans partitions: one policy for each.
            "123456789012.dkr.ecr.eu-west-1.amazonaws.*/*".into(),
            vec![
                (
                    "aws",
                    vec!["arn:aws:ecr:eu-west-1:123456789012:repository/*".into()],
                ),
                (
                    "aws-eusc",
                    vec!["arn:aws-eusc:ecr:eu-west-1:123456789012:repository/*".into()],
                ),
            ],
            false,
        ),
        (
            "*.dkr.ecr.*.sc2s.sgov.gov/*".into(),
            vec![(
                "aws-iso-b",
                vec!["arn:aws-iso-b:ecr:*:*:repository/*".into()],
            )],
            false,
        ),
    ];
    for (pattern, expected, note) in cases {
        let p = MatchPattern::parse(&pattern).unwrap();
        let got = ConfigPolicy::for_patterns([&p]);
        let got_pairs: Vec<(&str, Vec<String>)> = got
            .policies
            .iter()
            .map(|p| (p.partition().as_str(), p.resources().to_vec()))
            .collect();
        assert_eq!(got_pairs, expected, "{pattern}");
        assert_eq!(!got.notes.is_empty(), note, "{pattern}: {:?}", got.notes);
        if note {
            assert!(
                got.notes[0].contains("IAM cannot restrict tags"),
                "{:?}",
                got.notes
            );
        }
    }
}

#[test]
fn hosts_that_are_not_private_ecr_are_skipped_with_a_note() {
    for pattern in [
        "ghcr.io/*",
        "docker.io/library/ubuntu",
        "public.ecr.aws/*",
        "127.0.0.1:5000/*",
        "*.example.com/*",
        "*.dkr.ecr.us-east-1.amazonaws.com.evil.example/*",
        "12345.dkr.ecr.us-east-1.amazonaws.com/*",
        "*.*.*/*",
        "[::1]:5000/*",
    ] {
        let p = MatchPattern::parse(pattern).unwrap();
        let got = ConfigPolicy::for_patterns([&p]);
        assert!(got.policies.is_empty(), "{pattern}: {:?}", got.policies);
        assert_eq!(got.notes.len(), 1, "{pattern}");
        assert!(
            got.notes[0].starts_with(&format!("entry [0] {pattern}: skipped: ")),
            "{}",
            got.notes[0]
        );
    }
}

const CONFIG: &str = r#"
[[registry]]
pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = { env = "NOT_READ" }, region = "us-east-1" }

[[registry]]
pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*"
instance_role = { role_name = "ValohaiWorkerRole", region = "us-east-1" }

[[registry]]
pattern = "*.dkr.ecr.eu-west-1.amazonaws.com/team"
instance_role = { role_name = "ValohaiWorkerRole", region = "eu-west-1" }

[[registry]]
pattern = "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/*"
iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = { file = "nope" }, region = "cn-north-1" }

[[registry]]
pattern = "ghcr.io/my-org/*"
iam_user = { access_key_id = "AKIAIOSFODNN7EXAMPLE", secret_access_key = "x", region = "us-east-1" }
"#;

#[test]
fn a_configuration_gives_one_policy_per_partition_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registries.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = RegistryConfig::load(&path).unwrap();
    let got = ConfigPolicy::for_config(&config);
    let aws = got.partition("aws").unwrap();
    // `my-repo/*` is inside the account-wide `repository/*` of the same registry: left out.
    assert_eq!(
        aws.resources(),
        [
            "arn:aws:ecr:eu-west-1:*:repository/team",
            "arn:aws:ecr:eu-west-1:*:repository/team/*",
            "arn:aws:ecr:us-east-1:123456789012:repository/*",
        ]
    );
    let cn = got.partition("aws-cn").unwrap();
    assert_eq!(
        cn.resources(),
        ["arn:aws-cn:ecr:cn-north-1:123456789012:repository/*"]
    );
    assert_eq!(got.policies.len(), 2);
    assert_eq!(got.notes.len(), 1, "{:?}", got.notes);
    assert!(got.notes[0].starts_with("entry [4] ghcr.io/my-org/*: skipped: not an ECR host"));

    // The token statement is in every policy, on `*`.
    for p in &got.policies {
        let doc = p.to_json();
        assert_eq!(doc["Statement"][1]["Action"], TOKEN_ACTION);
        assert_eq!(doc["Statement"][1]["Resource"], "*");
    }

    // Entry order changes nothing but the notes' entry numbers.
    let mut patterns: Vec<MatchPattern> =
        config.entries().iter().map(|e| e.pattern.clone()).collect();
    patterns.reverse();
    let reversed = ConfigPolicy::for_patterns(&patterns);
    assert_eq!(reversed.policies, got.policies);
    assert_eq!(
        ConfigPolicy::for_config(&config).policies[0].to_json_pretty(),
        aws.to_json_pretty()
    );
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_prints_the_pull_policy_and_the_configs_policies() {
    let (code, out, _) = run(&[
        "policy",
        "--region",
        "us-east-1",
        "--account",
        "123456789012",
        "--repository",
        "my-ml-image",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.trim_end(), pull_policy().trim_end());

    let (code, _, err) = run(&[
        "policy",
        "--region",
        "us-east-1",
        "--account",
        "1",
        "--repository",
        "x",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("account \"1\" is not an AWS account id"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registries.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let path = path.to_str().unwrap();

    // Two partitions: one policy per partition id, and a note saying so.
    let (code, out, err) = run(&["policy", "--config", path]);
    assert_eq!(code, 0, "{err}");
    let all: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        all.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["aws", "aws-cn"]
    );
    assert!(
        err.contains("note: entry [4] ghcr.io/my-org/*: skipped"),
        "{err}"
    );
    assert!(err.contains("--partition"), "{err}");

    let (code, out, _) = run(&["policy", "--config", path, "--partition", "aws-cn"]);
    assert_eq!(code, 0);
    let one: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        one["Statement"][0]["Resource"],
        "arn:aws-cn:ecr:cn-north-1:123456789012:repository/*"
    );

    let (code, _, err) = run(&["policy", "--config", path, "--partition", "aws-iso"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to grant"), "{err}");
}

fn options(emu: &Emulator) -> AwsOptions {
    AwsOptions::default()
        .with_endpoint_url(&emu.endpoint)
        .with_max_attempts(1)
}

async fn resolve_as(
    emu: &Emulator,
    policy: &str,
    pattern: &str,
    image: &str,
) -> Result<registry_auth::RegistryCredential, Error> {
    let user = emu.user("generated-policy", Some(policy));
    let provider = user.provider(options(emu));
    DefaultResolver::builder()
        .provider_entry(MatchPattern::parse(pattern).unwrap(), Arc::new(provider))
        .build()
        .unwrap()
        .resolve_str(image)
        .await
        .map(|resolved| resolved.credential)
}

/// moto checks ECR actions against resource `*` only, so what can be shown there is that the
/// generated document is a policy IAM accepts and that it grants the token a pull starts with.
#[tokio::test]
async fn a_generated_policy_grants_the_token_at_the_emulator() {
    let emu = Emulator::get();
    for (pattern, image) in [
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/train:v1",
        ),
        (
            "*.dkr.ecr.*.amazonaws.com/team",
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/train:v1",
        ),
    ] {
        let p = MatchPattern::parse(pattern).unwrap();
        let generated = ConfigPolicy::for_patterns([&p]);
        let policy = generated.partition("aws").unwrap().to_json_pretty();
        let login = resolve_as(&emu, &policy, pattern, image).await.unwrap();
        let account = &image[..12];
        assert_eq!(login.expose_password(), format!("{account}-auth-token"));
    }
}

#[tokio::test]
async fn without_the_token_statement_the_pull_is_denied() {
    let emu = Emulator::get();
    let pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/*";
    let p = MatchPattern::parse(pattern).unwrap();
    let mut doc = ConfigPolicy::for_patterns([&p]).policies[0].to_json();
    doc["Statement"].as_array_mut().unwrap().truncate(1);
    let err = resolve_as(
        &emu,
        &doc.to_string(),
        pattern,
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo/train:v1",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err.detail(), Some(registry_auth::aws::AwsError::AccessDenied { action, .. }) if action == TOKEN_ACTION),
        "{err:?}"
    );
}

proptest::proptest! {
    /// Any valid pattern gives a policy or a note, any input to the one-repository form a policy or an
    /// error; nothing panics.
    #[test]
    fn any_input_gives_a_policy_or_a_reason(
        pattern in "[0-9*]{0,14}\\.(dkr|dkr-ecr|\\*)(\\.ecr|\\.ecr-fips|)\\.[a-z0-9*-]{0,12}\\.(amazonaws\\.com|on\\.aws|\\*|amazonaws\\.com\\.cn)(/[a-z0-9*?:@./-]{0,12})?",
        region in "[a-z0-9-]{0,14}",
        account in "[0-9a]{0,14}",
        repository in "[a-zA-Z0-9*?:@./-]{0,14}",
    ) {
        if let Ok(p) = MatchPattern::parse(&pattern) {
            let got = ConfigPolicy::for_patterns([&p]);
            proptest::prop_assert!(got.policies.len() + got.notes.len() >= 1);
            for policy in &got.policies {
                let text: serde_json::Value =
                    serde_json::from_str(&policy.to_json_pretty()).unwrap();
                proptest::prop_assert_eq!(&text, &policy.to_json());
                proptest::prop_assert_eq!(&text["Version"], "2012-10-17");
                let arn = format!("arn:{}:ecr:", policy.partition());
                proptest::prop_assert!(
                    !policy.resources().is_empty()
                        && policy.resources().iter().all(|r| r.starts_with(&arn)),
                    "{:?}", policy.resources()
                );
            }
        }
        match PullPolicy::for_repository(&region, &account, &repository) {
            Ok(policy) => {
                proptest::prop_assert_eq!(
                    policy.resources(),
                    &[format!(
                        "arn:{}:ecr:{region}:{account}:repository/{repository}",
                        policy.partition()
                    )][..]
                );
            }
            Err(e) => {
                let field = e.field().to_owned();
                proptest::prop_assert!(
                    ["region", "account", "repository"].contains(&field.as_str()),
                    "{}", field
                );
            }
        }
    }
}
