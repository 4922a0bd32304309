//! Which entry serves a registry named by host alone (the docker credential helper protocol).
//!
//! Every entry here has its own identity (its own user name), and the entries that should lose
//! are listed first, so that a selection that fell back to "the first listed" or mixed up two
//! entries' tokens would be seen in the answer, not hidden by identical credentials.

use std::process::Command;
use std::sync::Arc;

use registry_auth::basic::BasicProvider;
use registry_auth::pattern::{self, MatchPattern};
use registry_auth::scope::{EntryScope, ResolveContext};
use registry_auth::DefaultResolver;

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn p(s: &str) -> MatchPattern {
    MatchPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A resolver whose entry `i` is `patterns[i]`, served by user `user-i`.
fn resolver(patterns: &[String]) -> DefaultResolver {
    let mut builder = DefaultResolver::builder();
    for (i, pattern) in patterns.iter().enumerate() {
        builder = builder.provider_entry(
            p(pattern),
            Arc::new(BasicProvider::new(
                format!("user-{i}"),
                format!("password-{i}").into(),
            )),
        );
    }
    builder.build().unwrap()
}

/// `(patterns, host, port, the entry that must serve)`.
type Case = (Vec<String>, &'static str, Option<u16>, Option<usize>);

/// The cases; in each, the losers are listed first.
fn cases() -> Vec<Case> {
    vec![
        // The whole-host entry beats path entries listed before and after it.
        (
            vec![
                format!("{HOST}/team/*"),
                format!("{HOST}/team"),
                format!("{HOST}/*"),
                format!("{HOST}/other/*"),
            ],
            HOST,
            None,
            Some(2),
        ),
        // A pathless entry is a whole-host entry too.
        (
            vec![format!("{HOST}/team/*"), HOST.to_owned()],
            HOST,
            None,
            Some(1),
        ),
        // Case does not matter, on either side.
        (
            vec![
                format!("{HOST}/team/*"),
                format!("{}/*", HOST.to_ascii_uppercase()),
            ],
            HOST,
            None,
            Some(1),
        ),
        // The host half of best match comes first: a literal host beats a wildcard one even
        // when the wildcard entry serves the whole host and is listed first...
        (
            vec![
                "*.dkr.ecr.us-east-1.amazonaws.com/*".to_owned(),
                format!("{HOST}/team/*"),
            ],
            HOST,
            None,
            Some(1),
        ),
        // ... fewer wildcard labels beat more ...
        (
            vec![
                "*.dkr.ecr.*.amazonaws.com".to_owned(),
                "*.dkr.ecr.us-east-1.amazonaws.com/team/*".to_owned(),
            ],
            HOST,
            None,
            Some(1),
        ),
        // ... and among equal wildcard counts, more literal host characters win.
        (
            vec![
                "*.dkr.ecr.us-east-1.amazonaws.com".to_owned(),
                "1*.dkr.ecr.us-east-1.amazonaws.com/team/*".to_owned(),
            ],
            HOST,
            None,
            Some(1),
        ),
        // Only path entries: the first listed serves the host.
        (
            vec![format!("{HOST}/b/*"), format!("{HOST}/a/*")],
            HOST,
            None,
            Some(0),
        ),
        // An entry with a port is another registry's, even when it serves the whole host.
        (
            vec![format!("{HOST}:443/*"), format!("{HOST}/team/*")],
            HOST,
            None,
            Some(1),
        ),
        // Ports must be equal.
        (
            vec!["localhost:5000/team/*".to_owned(), "localhost/*".to_owned()],
            "localhost",
            Some(5000),
            Some(0),
        ),
        (
            vec!["localhost:5000/*".to_owned(), "localhost/team/*".to_owned()],
            "localhost",
            None,
            Some(1),
        ),
        (
            vec!["localhost:5000/*".to_owned()],
            "localhost",
            Some(5001),
            None,
        ),
        // Another host, or one label more, is never a candidate.
        (
            vec![format!("{HOST}/*"), "*.amazonaws.com/*".to_owned()],
            "evil.example",
            None,
            None,
        ),
        (
            vec!["*.example.com/*".to_owned()],
            "a.b.example.com",
            None,
            None,
        ),
    ]
}

#[test]
fn best_for_host_prefers_the_whole_host_entry_however_the_entries_are_listed() {
    for (patterns, host, port, want) in cases() {
        let parsed: Vec<MatchPattern> = patterns.iter().map(|s| p(s)).collect();
        assert_eq!(
            pattern::best_for_host(&parsed, host, port),
            want,
            "{patterns:?} for {host} port {port:?}"
        );
    }
}

#[tokio::test]
async fn the_resolver_serves_a_host_with_the_selected_entrys_own_credential() {
    let anyone = ResolveContext::unscoped();
    for (patterns, host, port, want) in cases() {
        let r = resolver(&patterns);
        let picked = r.select_host(&anyone, host, port);
        assert_eq!(
            picked.map(|(i, pattern)| (i, pattern.as_str().to_owned())),
            want.map(|i| (i, patterns[i].clone())),
            "{patterns:?} for {host} port {port:?}"
        );
        let registry = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        match (r.resolve_host(&anyone, &registry).await, want) {
            (Ok(resolved), Some(i)) => {
                assert_eq!(resolved.entry, i, "{patterns:?} for {registry}");
                assert_eq!(&*resolved.pattern, patterns[i].as_str());
                assert_eq!(resolved.credential.username(), format!("user-{i}"));
                assert_eq!(
                    resolved.credential.expose_password(),
                    format!("password-{i}")
                );
                assert_eq!(
                    resolved.credential.server(),
                    format!("https://{}", registry.to_ascii_lowercase())
                );
            }
            (Err(e), None) => assert!(
                e.to_string().contains("no registry entry"),
                "{patterns:?} for {registry}: {e}"
            ),
            (got, want) => panic!("{patterns:?} for {registry}: {got:?}, wanted entry {want:?}"),
        }
    }
}

#[test]
fn entries_the_context_may_not_use_are_never_selected_for_a_host() {
    // The whole-host entry belongs to another organisation: the path entry serves acme.
    let r = DefaultResolver::builder()
        .scoped_provider_entry(
            p(&format!("{HOST}/team/*")),
            EntryScope::new().with_owner("acme"),
            Arc::new(BasicProvider::new("acme", "a".into())),
        )
        .scoped_provider_entry(
            p(&format!("{HOST}/*")),
            EntryScope::new().with_owner("globex"),
            Arc::new(BasicProvider::new("globex", "g".into())),
        )
        .build()
        .unwrap();
    let pick = |ctx: &ResolveContext| r.select_host(ctx, HOST, None).map(|(i, _)| i);
    assert_eq!(pick(&ResolveContext::organization("acme")), Some(0));
    assert_eq!(pick(&ResolveContext::organization("globex")), Some(1));
    assert_eq!(pick(&ResolveContext::organization("initech")), None);
    assert_eq!(pick(&ResolveContext::unscoped()), None, "fail closed");
    assert_eq!(pick(&ResolveContext::personal("alice")), None);
}

#[test]
fn the_helper_binary_answers_with_the_whole_host_entrys_login() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[[registry]]
pattern = "{HOST}/team/*"
basic = {{ username = "team-user", password = "team-password" }}

[[registry]]
pattern = "{HOST}/*"
basic = {{ username = "host-user", password = "host-password" }}

[[registry]]
pattern = "localhost:5000/b/*"
basic = {{ username = "b-user", password = "b-password" }}

[[registry]]
pattern = "localhost:5000/a/*"
basic = {{ username = "a-user", password = "a-password" }}
"#
    );
    std::fs::write(dir.path().join("registries.toml"), config).unwrap();
    for (input, user) in [
        (HOST.to_owned(), "host-user"),
        (format!("https://{HOST}/v2/"), "host-user"),
        (format!("{HOST}/team/app"), "host-user"),
        ("localhost:5000".to_owned(), "b-user"),
    ] {
        let out = crate::support::run_with_input(
            Command::new(env!("CARGO_BIN_EXE_docker-credential-registry-auth"))
                .arg("get")
                .env_clear()
                .env("HOME", dir.path())
                .env("XDG_CACHE_HOME", dir.path().join("cache"))
                .env("REGISTRY_AUTH_CONFIG", dir.path().join("registries.toml")),
            input.as_bytes(),
        );
        assert!(
            out.status.success(),
            "{input}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Username"], user, "{input}: {v}");
        assert_eq!(
            v["Secret"],
            user.replace("user", "password"),
            "{input}: {v}"
        );
    }
}
