//! Every `CredentialProviderResponse` that `registry-auth kubelet` can write, checked field by
//! field against the response's schema, with unknown fields rejected: the kubelet decodes
//! plugin responses strictly and drops (and pulls without credentials on) any response with a
//! field it does not know.
//!
//! The schema below is the kubelet's published response type, `CredentialProviderResponse` in
//! the Go package `k8s.io/kubelet/pkg/apis/credentialprovider/v1` (file `types.go`; the
//! `v1beta1` and `v1alpha1` packages define the same fields), written as JSON Schema:
//!
//! - `apiVersion`, `kind` (the inline `metav1.TypeMeta`; the kubelet picks the type by them);
//! - `cacheKeyType` (`PluginCacheKeyType`, required): `Image`, `Registry` or `Global`;
//! - `cacheDuration` (`*metav1.Duration`, optional): a string Go's `time.ParseDuration` reads;
//! - `auth` (`map[string]AuthConfig`, optional): each value exactly `username` and `password`,
//!   both strings (`AuthConfig`).
//!
//! Nothing else: in particular not `serviceAccountTokenCacheType`, whose place is the kubelet's
//! own `CredentialProviderConfig` (`tokenAttributes.cacheType`).
//!
//! The validator here implements exactly the JSON Schema keywords the schema uses and refuses
//! any other, so no rule in the schema can go unchecked.

use crate::support;

use std::process::{Command, Output};

use serde_json::{json, Map, Value};
use support::proxy::Proxy;
use support::{pull_policy, Emulator};

/// The response type as JSON Schema (draft 2020-12 keywords).
const RESPONSE_SCHEMA: &str = r#"{
  "$comment": "CredentialProviderResponse, k8s.io/kubelet/pkg/apis/credentialprovider/{v1,v1beta1,v1alpha1}",
  "type": "object",
  "required": ["apiVersion", "kind", "cacheKeyType"],
  "additionalProperties": false,
  "properties": {
    "apiVersion": {
      "type": "string",
      "enum": [
        "credentialprovider.kubelet.k8s.io/v1",
        "credentialprovider.kubelet.k8s.io/v1beta1",
        "credentialprovider.kubelet.k8s.io/v1alpha1"
      ]
    },
    "kind": { "type": "string", "const": "CredentialProviderResponse" },
    "cacheKeyType": { "type": "string", "enum": ["Image", "Registry", "Global"] },
    "cacheDuration": { "type": "string", "format": "go-duration" },
    "auth": {
      "type": "object",
      "additionalProperties": {
        "$comment": "AuthConfig",
        "type": "object",
        "required": ["username", "password"],
        "additionalProperties": false,
        "properties": {
          "username": { "type": "string" },
          "password": { "type": "string" }
        }
      }
    }
  }
}"#;

/// Every way `value` breaks `schema`, as `path: reason`.
fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(schema, value, "$", &mut found);
    found
}

fn check(schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let schema = schema.as_object().expect("a schema is an object");
    for (keyword, rule) in schema {
        match keyword.as_str() {
            "$comment" => {}
            "type" => {
                let fits = match rule.as_str().unwrap() {
                    "object" => value.is_object(),
                    "string" => value.is_string(),
                    other => panic!("type {other} is not used by the schema"),
                };
                if !fits {
                    found.push(format!("{at}: expected {rule}, found {value}"));
                }
            }
            "const" if value != rule => found.push(format!("{at}: must be {rule}, is {value}")),
            "enum" if !rule.as_array().unwrap().contains(value) => {
                found.push(format!("{at}: {value} is not one of {rule}"))
            }
            "const" | "enum" => {}
            "format" => {
                assert_eq!(rule, "go-duration", "the only format the schema uses");
                if let Some(text) = value.as_str().filter(|t| !is_go_duration(t)) {
                    found.push(format!("{at}: {text:?} is not a Go duration"));
                }
            }
            "required" => {
                for name in rule.as_array().unwrap() {
                    let name = name.as_str().unwrap();
                    if value.get(name).is_none() {
                        found.push(format!("{at}: missing required field {name:?}"));
                    }
                }
            }
            "properties" => {
                let Some(object) = value.as_object() else {
                    continue;
                };
                for (name, sub) in rule.as_object().unwrap() {
                    if let Some(field) = object.get(name) {
                        check(sub, field, &format!("{at}.{name}"), found);
                    }
                }
            }
            "additionalProperties" => {
                let Some(object) = value.as_object() else {
                    continue;
                };
                let known: Map<String, Value> = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (name, field) in object.iter().filter(|(n, _)| !known.contains_key(*n)) {
                    match rule {
                        Value::Bool(false) => found.push(format!("{at}: unknown field {name:?}")),
                        sub => check(sub, field, &format!("{at}[{name:?}]"), found),
                    }
                }
            }
            other => panic!("schema keyword {other:?} is not implemented by this validator"),
        }
    }
}

/// What Go's `time.ParseDuration` accepts: `0`, or an optional sign and one or more
/// `NUMBER[.FRACTION]UNIT` with units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
fn is_go_duration(text: &str) -> bool {
    let rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest == "0" {
        return true;
    }
    let mut rest = rest;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            // `m` must not take the `m` of `ms`.
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len())
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

fn schema() -> Value {
    serde_json::from_str(RESPONSE_SCHEMA).unwrap()
}

#[test]
fn the_validator_enforces_every_rule_of_the_schema() {
    let schema = schema();
    let good = json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderResponse",
        "cacheKeyType": "Registry",
        "cacheDuration": "6h0m0s",
        "auth": { "example.com": { "username": "AWS", "password": "" } },
    });
    assert_eq!(violations(&schema, &good), Vec::<String>::new());

    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        violations(&schema, &v).join("; ")
    };
    // The field the kubelet's strict decoder rejected.
    let e = broken(&|v| v["serviceAccountTokenCacheType"] = json!("Token"));
    assert!(
        e.contains("unknown field \"serviceAccountTokenCacheType\""),
        "{e}"
    );
    assert!(broken(&|v| v["auth"]["example.com"]["email"] = json!("x"))
        .contains("unknown field \"email\""));
    assert!(broken(&|v| {
        v["auth"]["example.com"]
            .as_object_mut()
            .unwrap()
            .remove("password");
    })
    .contains("missing required field \"password\""));
    assert!(broken(&|v| v["auth"]["example.com"]["username"] = json!(5))
        .contains("expected \"string\""));
    assert!(broken(&|v| v["cacheKeyType"] = json!("Host")).contains("not one of"));
    assert!(broken(&|v| {
        v.as_object_mut().unwrap().remove("cacheKeyType");
    })
    .contains("missing required field \"cacheKeyType\""));
    assert!(broken(&|v| v["cacheDuration"] = json!("6 hours")).contains("not a Go duration"));
    assert!(broken(&|v| v["cacheDuration"] = json!(21600)).contains("expected \"string\""));
    assert!(broken(&|v| v["kind"] = json!("CredentialProviderRequest")).contains("must be"));
    assert!(
        broken(&|v| v["apiVersion"] = json!("credentialprovider.kubelet.k8s.io/v2"))
            .contains("not one of")
    );

    for ok in [
        "0", "0s", "6h0m0s", "1h0m0s", "59s", "1.5h", "300ms", "2h45m", "-1m",
    ] {
        assert!(is_go_duration(ok), "{ok}");
    }
    for bad in ["", "6", "h", "1d", "1.2.3s", "6 h", "s6", "-", "1hh"] {
        assert!(!is_go_duration(bad), "{bad}");
    }
}

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// A second ECR registry, whose entries narrow by path: its responses are keyed per image.
const PATHS_HOST: &str = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
const VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

fn run_kubelet(dir: &std::path::Path, endpoint: &str, request: &Value) -> Output {
    support::run_with_input(
        Command::new(env!("CARGO_BIN_EXE_registry-auth"))
            .args(["kubelet", "--no-disk-cache", "--config"])
            .arg(dir.join("registries.toml"))
            .env_clear()
            .env("HOME", dir)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true"),
        request.to_string().as_bytes(),
    )
}

#[test]
fn every_response_the_kubelet_plugin_writes_fits_the_schema() {
    let emu = Emulator::get();
    let user = emu.user("kubelet-schema", Some(&pull_policy()));
    let proxy = Proxy::start(&emu.endpoint);
    let dir = tempfile::tempdir().unwrap();
    let iam = format!(
        "iam_user = {{ access_key_id = \"{}\", secret_access_key = \"{}\", region = \"us-east-1\" }}",
        user.access_key_id, user.secret_access_key
    );
    std::fs::write(
        dir.path().join("registries.toml"),
        format!(
            r#"
[[registry]]
pattern = "{HOST}/*"
{iam}

[[registry]]
pattern = "{PATHS_HOST}/*"
{iam}

[[registry]]
pattern = "{PATHS_HOST}/team/*"
{iam}

[[registry]]
pattern = "localhost:5000"
[registry.basic]
username = "ci"
password = "plain-registry-password"
"#
        ),
    )
    .unwrap();

    // (image, endpoint, what the response must say besides fitting the schema)
    let live = proxy.endpoint.clone();
    let cases: [(String, &str, &str, Option<&str>); 6] = [
        (format!("{HOST}/app:v1"), &live, "Registry", Some(HOST)),
        (
            format!("{PATHS_HOST}/team/app:v1"),
            &live,
            "Image",
            Some(PATHS_HOST),
        ),
        (
            format!("{PATHS_HOST}/other@sha256:{}", "a".repeat(64)),
            &live,
            "Image",
            Some(PATHS_HOST),
        ),
        // A password without expiry: an hour's caching.
        (
            "localhost:5000/team/app".to_owned(),
            &live,
            "Registry",
            Some("localhost:5000"),
        ),
        // Straight to moto, whose tokens expired in 2015: served, not cached.
        (format!("{HOST}/app"), &emu.endpoint, "Registry", Some(HOST)),
        // No entry: no auth, no caching.
        ("ghcr.io/org/app:v1".to_owned(), &live, "Image", None),
    ];
    let schema = schema();
    let mut seen = std::collections::BTreeSet::new();
    for version in VERSIONS {
        for (image, endpoint, key_type, auth_key) in &cases {
            for token in [None, Some("eyJhbGciOiJSUzI1NiJ9.sa-token.sig")] {
                let mut request = json!({
                    "apiVersion": version,
                    "kind": "CredentialProviderRequest",
                    "image": image,
                });
                if let Some(token) = token {
                    request["serviceAccountToken"] = json!(token);
                    request["serviceAccountAnnotations"] = json!({ "example.com/role": "puller" });
                }
                let out = run_kubelet(dir.path(), endpoint, &request);
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "{request}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let response: Value = serde_json::from_str(&stdout).unwrap();
                let broken = violations(&schema, &response);
                assert!(broken.is_empty(), "{request}\n{response}\n{broken:#?}");
                // What the schema cannot say: the version answered in kind, and the case's
                // own key type and auth key.
                assert_eq!(response["apiVersion"], *version);
                assert_eq!(response["cacheKeyType"], *key_type, "{request}");
                match auth_key {
                    Some(key) => {
                        let auth = response["auth"].as_object().unwrap();
                        assert_eq!(auth.keys().collect::<Vec<_>>(), vec![key], "{response}");
                    }
                    None => assert!(response.get("auth").is_none(), "{response}"),
                }
                seen.insert((
                    response["cacheKeyType"].to_string(),
                    response["cacheDuration"].to_string(),
                    response.get("auth").is_some(),
                ));
                assert!(!stdout.contains("sa-token"));
            }
        }
    }
    // Each kind of answer came up: both key types, served and unserved, every duration kind.
    let durations: std::collections::BTreeSet<&str> =
        seen.iter().map(|(_, d, _)| d.as_str()).collect();
    assert!(
        durations.contains("\"0s\"") && durations.contains("\"1h0m0s\""),
        "{durations:?}"
    );
    assert!(
        durations
            .iter()
            .any(|d| d.starts_with("\"5h") || d.starts_with("\"6h")),
        "half of a fresh 12-hour token: {durations:?}"
    );
}
