//! Entry scopes: organisation-only entries and environment-restricted roles, applied before
//! best match. A table of contexts × entries × images, the guide's two options side
//! by side against the emulator, and `explain` showing why entries were ruled out.

use crate::support;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use registry_auth::aws::{AwsOptions, InstanceRoleProvider};
use registry_auth::config::{AssumeRole, RegistryConfig};
use registry_auth::reference::ImageReference;
use registry_auth::scope::{EntryScope, ResolveContext};
use registry_auth::Error;
use registry_auth::{DefaultResolver, RegistryResolver};
use support::{pull_policy, Counting, Emulator};

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// Entries of two organisations; `acme` has an open IAM user, a dedicated role for gpu-prod
/// listed first with the same pattern, and a narrowed repository for cpu-dev only.
const CONFIG: &str = r#"
[[registry]]
pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
owner = "acme"
environments = ["gpu-prod"]
instance_role = { role_name = "ValohaiWorkerRole", region = "us-east-1", assume_role_arn = "arn:aws:iam::123456789012:role/gpu-prod-pull" }

[[registry]]
pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/*"
owner = "acme"
iam_user = { access_key_id = "AKIAACMEACMEACMEACME", secret_access_key = "acme-secret", region = "us-east-1" }

[[registry]]
pattern = "123456789012.dkr.ecr.us-east-1.amazonaws.com/research/*"
owner = "acme"
environments = ["cpu-dev"]
iam_user = { access_key_id = "AKIARESEARCHRESEARCH", secret_access_key = "research-secret", region = "us-east-1" }

[[registry]]
pattern = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/*"
owner = "globex"
iam_user = { access_key_id = "AKIAGLOBEXGLOBEXGLOB", secret_access_key = "globex-secret", region = "eu-west-1" }
"#;

fn resolver() -> DefaultResolver {
    let config = RegistryConfig::from_toml_str(CONFIG, "scopes.toml").unwrap();
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    DefaultResolver::builder().config(&config).build().unwrap()
}

enum Want {
    Entry(usize),
    NoMatch,
    OutOfScope(&'static str),
    Personal,
}

#[test]
fn contexts_entries_and_images() {
    let acme = || ResolveContext::organization("acme");
    let cases: Vec<(&str, ResolveContext, String, Want)> = vec![
        (
            "gpu job gets the dedicated role",
            acme().with_environment("gpu-prod"),
            format!("{ECR}/app:v1"),
            Want::Entry(0),
        ),
        (
            "cpu job falls to the open IAM user",
            acme().with_environment("cpu-dev"),
            format!("{ECR}/app:v1"),
            Want::Entry(1),
        ),
        (
            "no environment: the open entry",
            acme(),
            format!("{ECR}/app:v1"),
            Want::Entry(1),
        ),
        (
            "cpu job gets the narrowed research entry",
            acme().with_environment("cpu-dev"),
            format!("{ECR}/research/x:v1"),
            Want::Entry(2),
        ),
        (
            "gpu job: research entry ruled out, dedicated role next",
            acme().with_environment("gpu-prod"),
            format!("{ECR}/research/x:v1"),
            Want::Entry(0),
        ),
        (
            "other env: research ruled out, open IAM user next",
            acme().with_environment("staging"),
            format!("{ECR}/research/x:v1"),
            Want::Entry(1),
        ),
        (
            "acme never gets globex's entry",
            acme().with_environment("gpu-prod"),
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com/app".into(),
            Want::OutOfScope("belongs to another organisation"),
        ),
        (
            "globex gets its own",
            ResolveContext::organization("globex"),
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com/app".into(),
            Want::Entry(3),
        ),
        (
            "globex never gets acme's",
            ResolveContext::organization("globex"),
            format!("{ECR}/app"),
            Want::OutOfScope("belongs to another organisation"),
        ),
        (
            "personal project: no private registries",
            ResolveContext::personal("alice"),
            format!("{ECR}/app"),
            Want::Personal,
        ),
        (
            "personal project, no entry at all: still told",
            ResolveContext::personal("alice"),
            "quay.io/x/y".into(),
            Want::Personal,
        ),
        (
            "no context: scoped entries are never candidates (fail closed)",
            ResolveContext::unscoped(),
            format!("{ECR}/app"),
            Want::OutOfScope("the request names none"),
        ),
        (
            "no context: not globex's either",
            ResolveContext::unscoped(),
            "210987654321.dkr.ecr.eu-west-1.amazonaws.com/app".into(),
            Want::OutOfScope("REGISTRY_AUTH_OWNER"),
        ),
        (
            "nothing matches",
            acme(),
            "quay.io/x/y".into(),
            Want::NoMatch,
        ),
    ];
    let r = resolver();
    for (name, ctx, image, want) in cases {
        let image = ImageReference::parse(&image).unwrap();
        let got = r.select_in(&ctx, &image).map(|m| m.map(|(i, _)| i));
        match want {
            Want::Entry(i) => assert_eq!(got.as_ref().ok(), Some(&Some(i)), "{name}"),
            Want::NoMatch | Want::OutOfScope(_) => {
                assert!(matches!(got, Ok(None)), "{name}: {got:?}")
            }
            Want::Personal => assert!(
                matches!(&got, Err(Error::NoEntry(e)) if e.personal),
                "{name}: {got:?}"
            ),
        }
        // The resolver's error says the same, without any upstream call (nothing to call).
        if let Want::OutOfScope(reason) = want {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let err = rt.block_on(r.resolve_in(&ctx, &image)).unwrap_err();
            assert!(
                matches!(&err, Error::NoEntry(e) if !e.ruled_out.is_empty()),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(reason), "{name}: {err}");
        }
        if let Want::Personal = want {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let err = rt.block_on(r.resolve_in(&ctx, &image)).unwrap_err();
            assert!(
                err.to_string().contains("organisation projects"),
                "{name}: {err}"
            );
        }
    }
}

#[test]
fn explain_lists_ruled_out_entries_with_the_reason() {
    let r = resolver();
    let image = ImageReference::parse(&format!("{ECR}/research/x:v1")).unwrap();
    let ctx = ResolveContext::organization("acme").with_environment("gpu-prod");
    let ex = r.explain_in(&ctx, &image);
    assert_eq!(ex.winner, Some(0));
    let reasons: Vec<(usize, bool, &str)> = ex
        .candidates
        .iter()
        .map(|c| (c.index, c.ruled_out, c.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[2].1 && reasons[2].2 == "ruled out: environment gpu-prod not in [cpu-dev]",
        "{reasons:?}"
    );
    assert!(
        !reasons[0].1 && reasons[0].2.starts_with("won over [1]"),
        "{reasons:?}"
    );
    assert!(
        !reasons[1].1 && reasons[1].2.starts_with("lost to [0]"),
        "{reasons:?}"
    );
}

fn explain_json(dir: &std::path::Path, args: &[&str], image: &str) -> (i32, serde_json::Value) {
    let config = dir.join("scopes.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_registry-auth"))
        .args(["explain", "--json", "--config"])
        .arg(&config)
        .args(args)
        .arg(image)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn the_cli_takes_owner_personal_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{ECR}/research/x:v1");

    let (code, v) = explain_json(
        dir.path(),
        &["--owner", "acme", "--environment", "gpu-prod"],
        &image,
    );
    assert_eq!(code, 0);
    assert_eq!(v["matched"]["index"], 0);
    let research = &v["candidates"][2];
    assert_eq!(research["ruled_out"], true);
    assert_eq!(
        research["reason"],
        "ruled out: environment gpu-prod not in [cpu-dev]"
    );

    let (code, v) = explain_json(dir.path(), &["--owner", "globex"], &image);
    assert_eq!(code, 1);
    assert!(v["matched"].is_null());
    for c in v["candidates"].as_array().unwrap() {
        assert_eq!(
            c["reason"], "ruled out: belongs to another organisation",
            "{c}"
        );
    }

    let (code, v) = explain_json(dir.path(), &["--personal"], &image);
    assert_eq!(code, 1);
    assert!(v["matched"].is_null());
    assert_eq!(v["candidates"].as_array().unwrap().len(), 3);
    for c in v["candidates"].as_array().unwrap() {
        assert_eq!(
            c["reason"], "ruled out: personal projects have no private registries",
            "{c}"
        );
    }

    // No scope flags: the request names no organisation, and every entry here is scoped, so
    // none serves (fail closed).
    let (code, v) = explain_json(dir.path(), &[], &image);
    assert_eq!(code, 1);
    assert!(v["matched"].is_null());
    for c in v["candidates"].as_array().unwrap() {
        assert_eq!(
            c["reason"],
            "ruled out: is scoped to an organisation or environments, and the request names none",
            "{c}"
        );
    }
}

#[test]
fn scopes_load_from_toml_and_the_platform_export() {
    let export = r#"[
      {"type": "aws_ecr_role", "image_pattern": "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
       "owner": "acme", "environments": ["gpu-prod"],
       "configuration": {"role_name": "ValohaiWorkerRole", "region": "us-east-1"}},
      {"type": "aws_ecr", "image_pattern": "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
       "owner": "acme",
       "configuration": {"access_key_id": "AKIAEXAMPLEEXAMPLE00", "secret_access_key": "s", "region": "us-east-1"}}
    ]"#;
    let c = RegistryConfig::from_json_str(export, "export.json").unwrap();
    assert_eq!(
        c.entries()[0].scope,
        EntryScope::new()
            .with_owner("acme")
            .with_environments(["gpu-prod"])
    );
    assert_eq!(c.entries()[1].scope, EntryScope::new().with_owner("acme"));

    let bad = [
        (r#"environments = []"#, "environments: is an empty list"),
        (r#"environments = ["ok", ""]"#, "environments[1]"),
        (r#"environments = "gpu""#, "environments: must be a list"),
        (r#"owner = "" "#, "owner: is empty"),
    ];
    for (line, want) in bad {
        let text = format!(
            "[[registry]]\npattern = \"{ECR}/*\"\n{line}\niam_user = {{ access_key_id = \"AKIAX\", secret_access_key = \"s\", region = \"us-east-1\" }}\n"
        );
        let err = RegistryConfig::from_toml_str(&text, "bad.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("registry[0]") && err.contains(want),
            "{line}: {err}"
        );
    }
}

#[test]
fn a_restricted_entry_listed_after_an_open_one_with_the_same_pattern_is_refused() {
    // It could never be chosen: the open entry is listed first and serves every job it could.
    let text = format!(
        r#"
[[registry]]
pattern = "{ECR}/*"
owner = "acme"
iam_user = {{ access_key_id = "AKIAX", secret_access_key = "s", region = "us-east-1" }}

[[registry]]
pattern = "{ECR}/*"
owner = "acme"
environments = ["gpu-prod"]
instance_role = {{ role_name = "ValohaiWorkerRole", region = "us-east-1" }}
"#
    );
    let err = RegistryConfig::from_toml_str(&text, "order.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("registry[1]")
            && err.contains("never be used")
            && err.contains("list the narrower scope first"),
        "{err}"
    );

    // Same pattern, different organisations: both usable, no error.
    let text = text.replacen(
        "owner = \"acme\"\nenvironments",
        "owner = \"globex\"\nenvironments",
        1,
    );
    RegistryConfig::from_toml_str(&text, "two-orgs.toml").unwrap();
}

#[test]
fn ownerless_entries_beside_owned_ones_are_warned_about() {
    let text = format!(
        r#"
[[registry]]
pattern = "{ECR}/*"
owner = "acme"
iam_user = {{ access_key_id = "AKIAX", secret_access_key = "s", region = "us-east-1" }}

[[registry]]
pattern = "quay.io/*"
iam_user = {{ access_key_id = "AKIAY", secret_access_key = "s", region = "us-east-1" }}
"#
    );
    let c = RegistryConfig::from_toml_str(&text, "mixed.toml").unwrap();
    assert_eq!(c.warnings().len(), 1);
    assert!(
        c.warnings()[0]
            .message
            .contains("serves every organisation"),
        "{}",
        c.warnings()[0]
    );
}

/// The two options of Valohai's ECR guide side by side, for real: an IAM user open to every environment, and
/// a dedicated instance role restricted to one. A job in that environment gets the role; any
/// other job gets the IAM user. Counted at each provider.
#[tokio::test]
async fn the_guides_two_options_side_by_side_against_the_emulator() {
    let emu = Emulator::get();
    let options = AwsOptions::default()
        .with_endpoint_url(&emu.endpoint)
        .with_max_attempts(1);
    let user = emu.user("open-user", Some(&pull_policy()));
    let iam = Counting::new(user.provider(options.clone()));
    let (worker, dedicated) = emu.worker_with_dedicated_role("gpu-prod-worker");
    let role = Counting::new(
        InstanceRoleProvider::builder(&worker.role_name)
            .imds_endpoint(&worker.imds.endpoint)
            .assume_role(AssumeRole::new(&dedicated))
            .options(options)
            .build()
            .unwrap(),
    );
    let (iam_calls, role_calls) = (iam.calls.clone(), role.calls.clone());
    let pattern = || registry_auth::pattern::MatchPattern::parse(&format!("{ECR}/*")).unwrap();
    let r = DefaultResolver::builder()
        .scoped_provider_entry(
            pattern(),
            EntryScope::new()
                .with_owner("acme")
                .with_environments(["gpu-prod"]),
            Arc::new(role),
        )
        .scoped_provider_entry(
            pattern(),
            EntryScope::new().with_owner("acme"),
            Arc::new(iam),
        )
        .build()
        .unwrap();
    let image = ImageReference::parse(&format!("{ECR}/my-ml-image:v1.0")).unwrap();

    let gpu = ResolveContext::organization("acme").with_environment("gpu-prod");
    r.resolve_in(&gpu, &image).await.unwrap();
    assert_eq!(
        (
            role_calls.load(Ordering::SeqCst),
            iam_calls.load(Ordering::SeqCst)
        ),
        (1, 0)
    );

    let cpu = ResolveContext::organization("acme").with_environment("cpu-dev");
    r.resolve_in(&cpu, &image).await.unwrap();
    assert_eq!(
        (
            role_calls.load(Ordering::SeqCst),
            iam_calls.load(Ordering::SeqCst)
        ),
        (1, 1)
    );

    let err = r
        .resolve_in(&ResolveContext::personal("alice"), &image)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::NoEntry(e) if e.personal), "{err:?}");
    assert_eq!(
        (
            role_calls.load(Ordering::SeqCst),
            iam_calls.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
}

mod property {
    use proptest::prelude::*;
    use registry_auth::pattern::{self, MatchPattern};
    use registry_auth::provider::{CacheIdentity, CredentialProvider, RegistryTarget};
    use registry_auth::reference::ImageReference;
    use registry_auth::scope::{EntryScope, ResolveContext};
    use registry_auth::DefaultResolver;
    use registry_auth::{Error, RegistryCredential};
    use std::sync::Arc;

    #[derive(Debug)]
    struct Never;

    #[async_trait::async_trait]
    impl CredentialProvider for Never {
        async fn fetch(&self, _: &RegistryTarget<'_>) -> Result<RegistryCredential, Error> {
            Err(Error::upstream(
                std::io::Error::other("not called in this test"),
                false,
            ))
        }
        fn identity(&self) -> CacheIdentity {
            CacheIdentity::new("never")
        }
    }

    const PATTERNS: &[&str] = &[
        "a.example/*",
        "a.example/team/*",
        "a.example/team",
        "*.example/*",
        "a.example/team/x:v1",
        "b.example/*",
        "*.*/*",
        "a.example/te*",
        "a.example",
    ];
    const ORGS: &[&str] = &["acme", "globex"];
    const ENVS: &[&str] = &["gpu", "cpu", "dev"];
    const IMAGES: &[&str] = &[
        "a.example/team/x:v1",
        "a.example/team:v2",
        "a.example/teammate/y",
        "b.example/z",
        "c.example/q",
    ];

    fn scope() -> impl Strategy<Value = EntryScope> {
        (
            proptest::option::of(0..ORGS.len()),
            proptest::option::of(proptest::collection::btree_set(0..ENVS.len(), 1..=2)),
        )
            .prop_map(|(owner, envs)| {
                let mut s = EntryScope::new();
                if let Some(o) = owner {
                    s = s.with_owner(ORGS[o]);
                }
                if let Some(e) = envs {
                    s = s.with_environments(e.into_iter().map(|i| ENVS[i]));
                }
                s
            })
    }

    fn context() -> impl Strategy<Value = ResolveContext> {
        prop_oneof![
            Just(ResolveContext::unscoped()),
            (0..ORGS.len(), proptest::option::of(0..ENVS.len())).prop_map(|(o, e)| {
                let c = ResolveContext::organization(ORGS[o]);
                match e {
                    Some(e) => c.with_environment(ENVS[e]),
                    None => c,
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The scoped, compiled lookup equals the oracle: a plain scan over the entries the
        /// context may use.
        #[test]
        fn select_in_equals_the_scoped_plain_scan(
            entries in proptest::collection::vec((0..PATTERNS.len(), scope()), 1..8),
            ctx in context(),
            image in 0..IMAGES.len(),
        ) {
            let mut b = DefaultResolver::builder();
            for (p, s) in &entries {
                b = b.scoped_provider_entry(MatchPattern::parse(PATTERNS[*p]).unwrap(), s.clone(), Arc::new(Never));
            }
            // Entries an earlier one shadows are refused at build: nothing to compare then, and
            // proptest counts the case as rejected, so their share is visible.
            let built = b.build();
            prop_assume!(built.is_ok());
            let r = built.unwrap();
            let image = ImageReference::parse(IMAGES[image]).unwrap();
            let patterns: Vec<MatchPattern> = entries.iter().map(|(p, _)| MatchPattern::parse(PATTERNS[*p]).unwrap()).collect();
            let permitted: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].1.check(&ctx).is_ok()).collect();
            let oracle = pattern::best_match(permitted.iter().map(|&i| &patterns[i]), &image).map(|k| permitted[k]);
            let got = r.select_in(&ctx, &image).unwrap().map(|(i, _)| i);
            prop_assert_eq!(got, oracle);
            prop_assert_eq!(r.explain_in(&ctx, &image).winner, oracle);
        }
    }
}
