//! Registry configuration: TOML, both JSON shapes, secrets inline / `{ env }` / `{ file }` (read
//! only when the entry serves), every error path of the configuration (each names the file, the
//! entry and the field), duplicates, the region warning, and that no secret ever shows in `Debug`
//! or in an error.

use std::path::{Path, PathBuf};

use registry_auth::config::{CredentialSource, RegistryConfig, RegistryEntry, SecretSource};
use registry_auth::pattern::MatchPattern;
use registry_auth::{DefaultResolver, Error, RegistryResolver};
use secrecy::{ExposeSecret, SecretString};

/// A secret's value, read now as the entry's provider would.
fn read(secret: &SecretSource) -> String {
    secret.read("test").unwrap().expose_secret().to_owned()
}

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// A secret access key no error message or `Debug` output may ever contain.
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-SENTINEL-4242";
/// A secret that only lives in an environment variable.
const ENV_SECRET: &str = "env-secret-SENTINEL-9c1f0e";
/// A secret that only lives in a file.
const FILE_SECRET: &str = "file-secret-SENTINEL-77ab3d";
/// Never set by anyone.
const UNSET_VAR: &str = "REGISTRY_AUTH_TEST_CONFIG_NEVER_SET_5d0c9b";

const TOML_ORIGIN: &str = "team/registries.toml";
const JSON_ORIGIN: &str = "team/registries.json";

/// Replaces `$ECR` and `$SECRET` in a template.
fn fill(template: &str) -> String {
    template.replace("$ECR", ECR).replace("$SECRET", SECRET)
}

/// A valid first TOML entry holding the inline secret: the broken entry comes second.
const TOML_GOOD: &str = r#"
[[registry]]
pattern = "$ECR/*"
[registry.iam_user]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key = "$SECRET"
region = "us-east-1"
"#;

/// A valid first entry of the `{"registry": [...]}` JSON shape.
const JSON_GOOD: &str = r#"{"pattern": "$ECR/*", "iam_user": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "$SECRET", "region": "us-east-1"}}"#;

/// A valid first entry of the platform's export list.
const EXPORT_GOOD: &str = r#"{"type": "aws_ecr", "image_pattern": "$ECR/*", "configuration": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "$SECRET", "region": "us-east-1"}}"#;

#[derive(Clone, Copy, Debug)]
enum Format {
    Toml,
    Json,
}

/// One invalid configuration and what its error must say.
struct Bad {
    name: &'static str,
    format: Format,
    text: String,
    /// `(index, pattern as written)`; the pattern is empty when the entry has none.
    entry: Option<(usize, String)>,
    field: Option<&'static str>,
    says: &'static str,
}

/// The whole text is given (top-level problems).
fn whole(
    name: &'static str,
    format: Format,
    text: &str,
    field: Option<&'static str>,
    says: &'static str,
) -> Bad {
    Bad {
        name,
        format,
        text: fill(text),
        entry: None,
        field,
        says,
    }
}

/// A broken TOML entry at index 1, after a valid one.
fn toml_entry(
    name: &'static str,
    entry: &str,
    pattern: &str,
    field: &'static str,
    says: &'static str,
) -> Bad {
    Bad {
        name,
        format: Format::Toml,
        text: fill(&format!("{TOML_GOOD}\n{entry}")),
        entry: Some((1, fill(pattern))),
        field: Some(field),
        says,
    }
}

/// A broken entry at index 1 of `{"registry": [...]}`.
fn json_entry(
    name: &'static str,
    entry: &str,
    pattern: &str,
    field: &'static str,
    says: &'static str,
) -> Bad {
    Bad {
        name,
        format: Format::Json,
        text: fill(&format!(r#"{{"registry": [{JSON_GOOD}, {entry}]}}"#)),
        entry: Some((1, fill(pattern))),
        field: Some(field),
        says,
    }
}

/// A broken entry at index 1 of the platform's export list.
fn export_entry(
    name: &'static str,
    entry: &str,
    pattern: &str,
    field: &'static str,
    says: &'static str,
) -> Bad {
    Bad {
        name,
        format: Format::Json,
        text: fill(&format!("[{EXPORT_GOOD}, {entry}]")),
        entry: Some((1, fill(pattern))),
        field: Some(field),
        says,
    }
}

/// `[[registry]]` with `pattern = "$ECR/broken/*"` and an IAM user whose one line is `line`
/// (the other IAM fields valid).
fn iam_with(key: &str, line: &str) -> String {
    let mut lines = vec![
        r#"access_key_id = "AKIAIOSFODNN7EXAMPLE""#.to_owned(),
        r#"secret_access_key = "$SECRET""#.to_owned(),
        r#"region = "us-east-1""#.to_owned(),
    ];
    lines.retain(|l| !l.starts_with(&format!("{key} ")));
    if !line.is_empty() {
        lines.push(line.to_owned());
    }
    format!(
        "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.iam_user]\n{}\n",
        lines.join("\n")
    )
}

/// `[[registry]]` with `pattern = "$ECR/broken/*"` and an instance role: `lines` replace the
/// default `role_name` / `region` where they name the same key.
fn role_with(lines: &[&str]) -> String {
    let mut all: Vec<String> = vec![
        r#"role_name = "ValohaiWorkerRole""#.to_owned(),
        r#"region = "us-east-1""#.to_owned(),
    ];
    for line in lines {
        let key = line.split_whitespace().next().unwrap_or("");
        all.retain(|l| l.split_whitespace().next() != Some(key));
        if !line.ends_with("= <none>") {
            all.push((*line).to_owned());
        }
    }
    format!(
        "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.instance_role]\n{}\n",
        all.join("\n")
    )
}

const BROKEN: &str = "$ECR/broken/*";

fn bad_cases() -> Vec<Bad> {
    use Format::{Json, Toml};
    #[rustfmt::skip]
    let cases = vec![
        // ---- The whole file (Origin::error with no entry). ----
        whole("invalid TOML", Toml, &format!("{TOML_GOOD}\n[[registry]\n"), None, "not valid TOML"),
        whole("invalid TOML on the secret's own line", Toml,
            "[[registry]]\npattern = \"$ECR/*\"\n[registry.iam_user]\nsecret_access_key = \"$SECRET\n", None, "not valid TOML"),
        whole("invalid TOML: secret written twice", Toml,
            &format!("{TOML_GOOD}secret_access_key = \"$SECRET\"\n"), None, "not valid TOML"),
        whole("invalid JSON", Json, &format!(r#"{{"registry": [{JSON_GOOD}"#), None, "not valid JSON"),
        whole("invalid JSON after the secret", Json,
            r#"{"registry": [{"pattern": "x.example", "iam_user": {"secret_access_key": "$SECRET" "region": 1}}]}"#, None, "not valid JSON"),
        whole("unknown top-level key (TOML)", Toml, &format!("title = \"x\"\n{TOML_GOOD}"), None, "unknown top-level key `title`"),
        whole("unknown top-level key (JSON)", Json, &format!(r#"{{"registries": [{JSON_GOOD}]}}"#), None, "unknown top-level key `registries`"),
        whole("registry is a string", Toml, "registry = \"$ECR/*\"\n", Some("registry"), "must be a list of entries"),
        whole("registry is one table, not an array of tables", Toml,
            "[registry]\npattern = \"$ECR/*\"\n", Some("registry"), "must be a list of entries"),
        whole("registry is a JSON object", Json, &format!(r#"{{"registry": {JSON_GOOD}}}"#), Some("registry"), "must be a list of entries"),
        whole("JSON top level is a string", Json, r#""$ECR/*""#, None, "must be a table with `registry` entries, or a JSON list"),
        whole("JSON top level is null", Json, "null", None, "must be a table with `registry` entries, or a JSON list"),
        whole("JSON top level is a number", Json, "42", None, "must be a table with `registry` entries, or a JSON list"),

        // ---- `[[registry]]` entries. ----
        json_entry("entry is not a table", "42", "", "registry", "must be a table"),
        json_entry("entry is a list", r#"["$ECR/*"]"#, "", "registry", "must be a table"),
        toml_entry("unknown key in the entry",
            "[[registry]]\npattern = \"$ECR/broken/*\"\ncomment = \"x\"\n[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n", BROKEN, "comment", "unknown field; expected one of: pattern, iam_user, instance_role"),
        toml_entry("secret at the entry's top level (typo'd table)",
            "[[registry]]\npattern = \"$ECR/broken/*\"\nsecret_access_key = \"$SECRET\"\n", BROKEN, "secret_access_key", "unknown field"),
        toml_entry("pattern missing", "[[registry]]\n[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n",
            "", "pattern", "is required"),
        toml_entry("pattern not a string", "[[registry]]\npattern = 5\n[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n",
            "", "pattern", "must be a string"),
        json_entry("pattern null", r#"{"pattern": null, "instance_role": {"role_name": "R", "region": "us-east-1"}}"#,
            "", "pattern", "must be a string"),
        toml_entry("pattern with a scheme", "[[registry]]\npattern = \"https://$ECR/*\"\n[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n",
            "https://$ECR/*", "pattern", "URL scheme"),
        toml_entry("pattern with a trailing slash", "[[registry]]\npattern = \"$ECR/team/\"\n[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n",
            "$ECR/team/", "pattern", "ends with `/`"),
        toml_entry("pattern with whitespace", "[[registry]]\npattern = \"$ECR/ team\"\n[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n",
            "$ECR/ team", "pattern", "whitespace"),
        toml_entry("two credential sources",
            &format!("{}[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n", iam_with("", "")),
            BROKEN, "iam_user", "an entry has one credential source"),
        toml_entry("no credential source", "[[registry]]\npattern = \"$ECR/broken/*\"\n",
            BROKEN, "iam_user", "no credential source"),
        toml_entry("iam_user is not a table", "[[registry]]\npattern = \"$ECR/broken/*\"\niam_user = \"$SECRET\"\n",
            BROKEN, "iam_user", "must be a table"),
        toml_entry("instance_role is not a table", "[[registry]]\npattern = \"$ECR/broken/*\"\ninstance_role = 5\n",
            BROKEN, "instance_role", "must be a table"),
        toml_entry("unknown iam_user field holding a secret", &iam_with("", "password = \"$SECRET\""),
            BROKEN, "iam_user.password", "unknown field; expected one of: access_key_id, secret_access_key, session_token, region, assume_role"),
        toml_entry("unknown instance_role field", &role_with(&["role_arn = \"arn:aws:iam::123456789012:role/x\""]),
            BROKEN, "instance_role.role_arn", "unknown field; expected one of: role_name, region, assume_role_arn, external_id, session_name"),

        // ---- IAM user fields. ----
        toml_entry("access_key_id missing", &iam_with("access_key_id", ""), BROKEN, "iam_user.access_key_id", "is required"),
        toml_entry("access_key_id empty", &iam_with("access_key_id", "access_key_id = \"\""), BROKEN, "iam_user.access_key_id", "is empty"),
        toml_entry("access_key_id with other characters", &iam_with("access_key_id", "access_key_id = \"AKIA-NOT/AN-ID\""),
            BROKEN, "iam_user.access_key_id", "holds characters an AWS access key id never has"),
        toml_entry("access_key_id of an unknown shape", &iam_with("access_key_id", "access_key_id = { vault = \"x\" }"),
            BROKEN, "iam_user.access_key_id", "must be a string, { env = \"NAME\" } or { file = \"PATH\" }"),
        toml_entry("secret_access_key missing", &iam_with("secret_access_key", ""), BROKEN, "iam_user.secret_access_key", "is required"),
        toml_entry("secret_access_key a number", &iam_with("secret_access_key", "secret_access_key = 5"),
            BROKEN, "iam_user.secret_access_key", "must be a string, { env = \"NAME\" } or { file = \"PATH\" }"),
        toml_entry("secret_access_key a list holding the secret", &iam_with("secret_access_key", "secret_access_key = [\"$SECRET\"]"),
            BROKEN, "iam_user.secret_access_key", "must be a string, { env = \"NAME\" } or { file = \"PATH\" }"),
        toml_entry("secret_access_key from an unknown source", &iam_with("secret_access_key", "secret_access_key = { vault = \"$SECRET\" }"),
            BROKEN, "iam_user.secret_access_key", "must be a string, { env = \"NAME\" } or { file = \"PATH\" }"),
        toml_entry("secret_access_key with both env and file", &iam_with("secret_access_key", "secret_access_key = { env = \"A\", file = \"B\" }"),
            BROKEN, "iam_user.secret_access_key", "must be a string, { env = \"NAME\" } or { file = \"PATH\" }"),
        toml_entry("secret_access_key an empty table", &iam_with("secret_access_key", "secret_access_key = {}"),
            BROKEN, "iam_user.secret_access_key", "must be a string, { env = \"NAME\" } or { file = \"PATH\" }"),
        toml_entry("secret_access_key env empty", &iam_with("secret_access_key", "secret_access_key = { env = \"\" }"),
            BROKEN, "iam_user.secret_access_key", "names an empty or non-string environment variable or file"),
        toml_entry("secret_access_key env not a string", &iam_with("secret_access_key", "secret_access_key = { env = 5 }"),
            BROKEN, "iam_user.secret_access_key", "names an empty or non-string environment variable or file"),
        toml_entry("secret_access_key file empty", &iam_with("secret_access_key", "secret_access_key = { file = \"\" }"),
            BROKEN, "iam_user.secret_access_key", "names an empty or non-string environment variable or file"),
        toml_entry("secret_access_key empty", &iam_with("secret_access_key", "secret_access_key = \"\""),
            BROKEN, "iam_user.secret_access_key", "is empty"),
        toml_entry("secret_access_key blank", &iam_with("secret_access_key", "secret_access_key = \"  \""),
            BROKEN, "iam_user.secret_access_key", "is empty"),
        toml_entry("region missing", &iam_with("region", ""), BROKEN, "iam_user.region", "is required"),
        toml_entry("region empty", &iam_with("region", "region = \"\""), BROKEN, "iam_user.region", "is empty"),
        toml_entry("region with whitespace", &iam_with("region", "region = \" us-east-1\""),
            BROKEN, "iam_user.region", "has leading or trailing whitespace"),
        toml_entry("region not a string", &iam_with("region", "region = 1"), BROKEN, "iam_user.region", "must be a string"),
        toml_entry("region upper case", &iam_with("region", "region = \"US-EAST-1\""),
            BROKEN, "iam_user.region", "\"US-EAST-1\" is not an AWS region"),
        toml_entry("region without dashes", &iam_with("region", "region = \"useast1\""),
            BROKEN, "iam_user.region", "is not an AWS region"),
        toml_entry("region without a number", &iam_with("region", "region = \"us-east\""),
            BROKEN, "iam_user.region", "is not an AWS region"),
        json_entry("JSON: region missing", r#"{"pattern": "$ECR/broken/*", "iam_user": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "$SECRET"}}"#,
            BROKEN, "iam_user.region", "is required"),
        json_entry("JSON: secret null", r#"{"pattern": "$ECR/broken/*", "iam_user": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": null, "region": "us-east-1"}}"#,
            BROKEN, "iam_user.secret_access_key", "is required"),

        // ---- Instance role fields. ----
        toml_entry("role_name missing", &role_with(&["role_name = <none>"]), BROKEN, "instance_role.role_name", "is required"),
        toml_entry("role_name empty", &role_with(&["role_name = \"\""]), BROKEN, "instance_role.role_name", "is empty"),
        toml_entry("role_name is an ARN", &role_with(&["role_name = \"arn:aws:iam::123456789012:role/ValohaiWorkerRole\""]),
            BROKEN, "instance_role.role_name", "looks like an ARN or path"),
        toml_entry("role_name is a path", &role_with(&["role_name = \"service/ValohaiWorkerRole\""]),
            BROKEN, "instance_role.role_name", "looks like an ARN or path"),
        toml_entry("role region missing", &role_with(&["region = <none>"]), BROKEN, "instance_role.region", "is required"),
        toml_entry("role region invalid", &role_with(&["region = \"east\""]), BROKEN, "instance_role.region", "is not an AWS region"),
        toml_entry("assume_role_arn not an ARN", &role_with(&["assume_role_arn = \"ecr-pull\""]),
            BROKEN, "instance_role.assume_role_arn", "is not an IAM role ARN"),
        toml_entry("assume_role_arn with a short account", &role_with(&["assume_role_arn = \"arn:aws:iam::1234:role/x\""]),
            BROKEN, "instance_role.assume_role_arn", "is not an IAM role ARN"),
        toml_entry("assume_role_arn of a user", &role_with(&["assume_role_arn = \"arn:aws:iam::123456789012:user/x\""]),
            BROKEN, "instance_role.assume_role_arn", "is not an IAM role ARN"),
        toml_entry("assume_role_arn not a string", &role_with(&["assume_role_arn = 5"]),
            BROKEN, "instance_role.assume_role_arn", "must be a string"),
        toml_entry("external_id without assume_role_arn", &role_with(&["external_id = \"x\""]),
            BROKEN, "instance_role.external_id", "only applies with assume_role_arn"),
        toml_entry("session_name without assume_role_arn", &role_with(&["session_name = \"x\""]),
            BROKEN, "instance_role.session_name", "only applies with assume_role_arn"),
        toml_entry("external_id empty", &role_with(&["assume_role_arn = \"arn:aws:iam::123456789012:role/x\"", "external_id = \"\""]),
            BROKEN, "instance_role.external_id", "is empty"),
        toml_entry("external_id with whitespace", &role_with(&["assume_role_arn = \"arn:aws:iam::123456789012:role/x\"", "external_id = \"x \""]),
            BROKEN, "instance_role.external_id", "has leading or trailing whitespace"),
        toml_entry("session_name not a string", &role_with(&["assume_role_arn = \"arn:aws:iam::123456789012:role/x\"", "session_name = 5"]),
            BROKEN, "instance_role.session_name", "must be a string"),

        // ---- The platform's export list. ----
        export_entry("export: entry not a table", "42", "", "entry", "must be a table"),
        export_entry("export: unknown key", r#"{"type": "aws_ecr_role", "image_pattern": "$ECR/broken/*", "name": "x", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            BROKEN, "name", "unknown field; expected one of: type, image_pattern, configuration"),
        export_entry("export: image_pattern missing", r#"{"type": "aws_ecr_role", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            "", "image_pattern", "is required"),
        export_entry("export: image_pattern not a string", r#"{"type": "aws_ecr_role", "image_pattern": 5, "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            "", "image_pattern", "must be a string"),
        export_entry("export: image_pattern invalid", r#"{"type": "aws_ecr_role", "image_pattern": "$ECR//x", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            "$ECR//x", "image_pattern", "empty path segment"),
        export_entry("export: type missing", r#"{"image_pattern": "$ECR/broken/*", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            BROKEN, "type", "is required"),
        export_entry("export: type not a string", r#"{"type": 1, "image_pattern": "$ECR/broken/*", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            BROKEN, "type", "must be a string"),
        export_entry("export: type empty", r#"{"type": "", "image_pattern": "$ECR/broken/*", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            BROKEN, "type", "is empty"),
        export_entry("export: unknown type", r#"{"type": "gcr", "image_pattern": "$ECR/broken/*", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            BROKEN, "type", "\"gcr\" is not a registry type this crate knows"),
        export_entry("export: configuration missing", r#"{"type": "aws_ecr_role", "image_pattern": "$ECR/broken/*"}"#,
            BROKEN, "configuration", "is required"),
        export_entry("export: configuration not a table", r#"{"type": "aws_ecr", "image_pattern": "$ECR/broken/*", "configuration": "$SECRET"}"#,
            BROKEN, "configuration", "must be a table"),
        export_entry("export: aws_ecr with a role field", r#"{"type": "aws_ecr", "image_pattern": "$ECR/broken/*", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            BROKEN, "configuration.role_name", "unknown field; expected one of: access_key_id, secret_access_key, session_token, region"),
        export_entry("export: aws_ecr_role with a secret", r#"{"type": "aws_ecr_role", "image_pattern": "$ECR/broken/*", "configuration": {"role_name": "R", "region": "us-east-1", "secret_access_key": "$SECRET"}}"#,
            BROKEN, "configuration.secret_access_key", "unknown field; expected one of: role_name, region"),
        export_entry("export: aws_ecr secret missing", r#"{"type": "aws_ecr", "image_pattern": "$ECR/broken/*", "configuration": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "region": "us-east-1"}}"#,
            BROKEN, "configuration.secret_access_key", "is required"),
        export_entry("export: aws_ecr region invalid", r#"{"type": "aws_ecr", "image_pattern": "$ECR/broken/*", "configuration": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "$SECRET", "region": "global"}}"#,
            BROKEN, "configuration.region", "is not an AWS region"),
        export_entry("export: aws_ecr_role role_name missing", r#"{"type": "aws_ecr_role", "image_pattern": "$ECR/broken/*", "configuration": {"region": "us-east-1"}}"#,
            BROKEN, "configuration.role_name", "is required"),
        export_entry("export: aws_ecr_role region missing", r#"{"type": "aws_ecr_role", "image_pattern": "$ECR/broken/*", "configuration": {"role_name": "R"}}"#,
            BROKEN, "configuration.region", "is required"),

        // ---- Assume-role tables, the standard chain, web identity. ----
        toml_entry("assume_role role_arn not an ARN",
            &format!("{}[registry.iam_user.assume_role]\nrole_arn = \"ecr-pull\"\n", iam_with("", "")),
            BROKEN, "iam_user.assume_role.role_arn", "is not an IAM role ARN"),
        toml_entry("assume_role without role_arn",
            &format!("{}[registry.iam_user.assume_role]\nexternal_id = \"x\"\n", iam_with("", "")),
            BROKEN, "iam_user.assume_role.role_arn", "is required"),
        toml_entry("assume_role duration out of range",
            &format!("{}[registry.iam_user.assume_role]\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\nduration_seconds = 60\n", iam_with("", "")),
            BROKEN, "iam_user.assume_role.duration_seconds", "give 900 to 43200 seconds"),
        toml_entry("assume_role unknown field",
            &format!("{}[registry.iam_user.assume_role]\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\nrole = \"x\"\n", iam_with("", "")),
            BROKEN, "iam_user.assume_role.role", "unknown field; expected one of: role_arn, external_id, session_name, duration_seconds"),
        toml_entry("assume_role session name STS refuses",
            &format!("{}[registry.iam_user.assume_role]\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\nsession_name = \"has space\"\n", iam_with("", "")),
            BROKEN, "iam_user.assume_role.session_name", "what STS accepts as a session name"),
        toml_entry("instance_role with both forms of the role to assume",
            &format!("{}[registry.instance_role.assume_role]\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\n", role_with(&["assume_role_arn = \"arn:aws:iam::123456789012:role/r\""])),
            BROKEN, "instance_role.assume_role", "keep one of the two forms"),
        toml_entry("instance_role assume_role table with a bad ARN",
            &format!("{}[registry.instance_role.assume_role]\nrole_arn = \"arn:aws:iam::1:role/r\"\n", role_with(&[])),
            BROKEN, "instance_role.assume_role.role_arn", "is not an IAM role ARN"),
        toml_entry("aws_chain unknown field", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.aws_chain]\nprofiles = \"ci\"\n",
            BROKEN, "aws_chain.profiles", "unknown field; expected one of: profile, region, assume_role"),
        toml_entry("aws_chain empty profile", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.aws_chain]\nprofile = \"\"\n",
            BROKEN, "aws_chain.profile", "is empty"),
        toml_entry("aws_chain bad region", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.aws_chain]\nregion = \"us-east1\"\n",
            BROKEN, "aws_chain.region", "is not an AWS region"),
        toml_entry("aws_chain assume_role bad ARN", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.aws_chain.assume_role]\nrole_arn = \"x\"\n",
            BROKEN, "aws_chain.assume_role.role_arn", "is not an IAM role ARN"),
        toml_entry("web_identity without a role", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.web_identity]\ntoken_file = \"/t\"\n",
            BROKEN, "web_identity.role_arn", "is required: name the role to assume, or role_arn_annotation"),
        toml_entry("web_identity role not an ARN", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.web_identity]\nrole_arn = \"pull\"\n",
            BROKEN, "web_identity.role_arn", "is not an IAM role ARN"),
        toml_entry("web_identity annotation with a token file", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.web_identity]\nrole_arn_annotation = \"eks.amazonaws.com/ecr-role-arn\"\ntoken_file = \"/t\"\n",
            BROKEN, "web_identity.role_arn_annotation", "applies only to the kubelet's service-account token"),
        toml_entry("web_identity empty annotation key", "[[registry]]\npattern = \"$ECR/broken/*\"\n[registry.web_identity]\nrole_arn_annotation = \" \"\n",
            BROKEN, "web_identity.role_arn_annotation", "is empty"),
        json_entry("web_identity token_file not a string", r#"{"pattern": "$ECR/broken/*", "web_identity": {"role_arn": "arn:aws:iam::123456789012:role/r", "token_file": 5}}"#,
            BROKEN, "web_identity.token_file", "must be"),
        toml_entry("two sources, one of them new",
            &format!("{}[registry.aws_chain]\n", iam_with("", "")),
            BROKEN, "iam_user", "keep one of iam_user, instance_role, aws_chain, web_identity, basic"),
        export_entry("export: aws_chain unknown field", r#"{"type": "aws_chain", "image_pattern": "$ECR/broken/*", "configuration": {"profil": "ci"}}"#,
            BROKEN, "configuration.profil", "unknown field; expected one of: profile, region, assume_role"),
        export_entry("export: aws_web_identity without a role", r#"{"type": "aws_web_identity", "image_pattern": "$ECR/broken/*", "configuration": {"token_file": "/t"}}"#,
            BROKEN, "configuration.role_arn", "is required"),
        export_entry("export: unknown type lists the new ones", r#"{"type": "aws_sso", "image_pattern": "$ECR/broken/*", "configuration": {}}"#,
            BROKEN, "type", "\"aws_chain\" (the standard AWS chain), \"aws_web_identity\" (web identity)"),

        // ---- Duplicates (RegistryConfig::validated). ----
        toml_entry("duplicate pattern", &iam_with("", "").replace("/broken/*", "/*"), "$ECR/*", "pattern", "duplicates the pattern of registry[0]"),
        toml_entry("duplicate pattern, written without `/*`", &role_with(&[]).replace("/broken/*", ""),
            "$ECR", "pattern", "duplicates the pattern of registry[0]"),
        toml_entry("duplicate pattern, host in upper case", &role_with(&[]).replace("$ECR/broken/*", &format!("{}/*", ECR.to_ascii_uppercase())),
            &format!("{}/*", ECR.to_ascii_uppercase()), "pattern", "duplicates the pattern of registry[0]"),
        export_entry("export: duplicate image_pattern", r#"{"type": "aws_ecr_role", "image_pattern": "$ECR/*", "configuration": {"role_name": "R", "region": "us-east-1"}}"#,
            "$ECR/*", "image_pattern", "duplicates the pattern of registry[0]"),
    ];
    cases
}

fn parse(
    format: Format,
    text: &str,
    origin: &str,
) -> Result<RegistryConfig, registry_auth::config::ConfigError> {
    match format {
        Format::Toml => RegistryConfig::from_toml_str(text, origin),
        Format::Json => RegistryConfig::from_json_str(text, origin),
    }
}

/// The secrets a message must never contain.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [SECRET, ENV_SECRET, FILE_SECRET] {
        assert!(!text.contains(secret), "{what}: {text:?} contains a secret");
    }
}

#[test]
fn every_error_names_file_entry_and_field() {
    let cases = bad_cases();
    for c in &cases {
        let origin = match c.format {
            Format::Toml => TOML_ORIGIN,
            Format::Json => JSON_ORIGIN,
        };
        let e = match parse(c.format, &c.text, origin) {
            Ok(config) => panic!(
                "{}: should fail, loaded {} entries from\n{}",
                c.name,
                config.entries().len(),
                c.text
            ),
            Err(e) => e,
        };
        let shown = e.to_string();
        assert_eq!(e.origin(), origin, "{}: origin of {shown:?}", c.name);
        assert!(
            shown.starts_with(origin),
            "{}: {shown:?} should name the file",
            c.name
        );
        assert_eq!(
            e.entry(),
            c.entry.as_ref().map(|(i, p)| (*i, p.as_str())),
            "{}: entry of {shown:?}",
            c.name
        );
        if let Some((i, p)) = &c.entry {
            assert!(
                shown.contains(&format!("registry[{i}]")),
                "{}: {shown:?} should name the entry index",
                c.name
            );
            if !p.is_empty() {
                assert!(
                    shown.contains(&format!("(pattern {p:?})")),
                    "{}: {shown:?} should name the pattern",
                    c.name
                );
            }
        } else {
            assert!(
                !shown.contains("registry["),
                "{}: {shown:?} names no entry",
                c.name
            );
        }
        assert_eq!(e.field(), c.field, "{}: field of {shown:?}", c.name);
        if let Some(field) = c.field {
            assert!(
                shown.contains(&format!(": {field}: ")),
                "{}: {shown:?} should name the field {field}",
                c.name
            );
        }
        assert!(
            shown.contains(c.says),
            "{}: {shown:?} should say {:?}",
            c.name,
            c.says
        );
        assert_no_secret(c.name, &shown);
        assert_no_secret(c.name, &format!("{e:?}"));
        let wrapped = Error::from(e.clone());
        assert_eq!(
            wrapped.to_string(),
            shown,
            "{}: Error::Config shows the ConfigError",
            c.name
        );
        assert_no_secret(c.name, &format!("{wrapped:?}"));
    }
}

/// A temporary directory with a configuration file in it.
/// Writes a config file as a careful user would: readable by its owner only.
fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    write_config_mode(dir, name, text, 0o600)
}

fn write_config_mode(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn inline_secrets_in_a_file_others_can_read_are_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inline = fill(
        "[[registry]]\npattern = \"$ECR/*\"\niam_user = { access_key_id = \"AKIAIOSFODNN7EXAMPLE\", secret_access_key = \"$SECRET\", region = \"us-east-1\" }\n",
    );
    let var = format!("REGISTRY_AUTH_TEST_MODE_{}", std::process::id());
    std::env::set_var(&var, "from-env");
    let from_env = inline.replace(&format!("\"{SECRET}\""), &format!("{{ env = \"{var}\" }}"));
    #[rustfmt::skip]
    let cases = [
        ("inline, 0644", &inline, 0o644, true),
        ("inline, 0640", &inline, 0o640, true),
        ("inline, 0602", &inline, 0o602, true),
        ("inline, 0600", &inline, 0o600, false),
        ("inline, 0400", &inline, 0o400, false),
        ("from env, 0644", &from_env, 0o644, false),
    ];
    for (i, (what, text, mode, warned)) in cases.into_iter().enumerate() {
        let path = write_config_mode(dir.path(), &format!("m{i}.toml"), text, mode);
        let config = RegistryConfig::load(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        let w: Vec<String> = config
            .warnings()
            .iter()
            .map(|w| w.message.clone())
            .collect();
        assert_eq!(!w.is_empty(), warned, "{what}: {w:?}");
        if warned {
            assert!(
                w[0].contains("chmod 600") && w[0].contains(&format!("{mode:04o}")),
                "{what}: {w:?}"
            );
            assert_no_secret(what, &w[0]);
        }
    }
}

fn config_error(
    result: Result<RegistryConfig, Error>,
    what: &str,
) -> registry_auth::config::ConfigError {
    match result {
        Ok(c) => panic!("{what}: should fail, loaded {} entries", c.entries().len()),
        Err(Error::Config(e)) => e,
        Err(other) => panic!("{what}: expected a configuration error, got {other:?}"),
    }
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");

    // Unknown file type.
    let path = write_config(dir.path(), "registries.yaml", &fill(TOML_GOOD));
    let e = config_error(RegistryConfig::load(&path), "yaml");
    assert_eq!(e.origin(), path.display().to_string(), "yaml: origin");
    assert!(e.to_string().contains("unknown file type"), "yaml: {e}");
    assert_eq!(
        (e.entry(), e.field()),
        (None, None),
        "yaml: no entry or field"
    );
    let path = write_config(dir.path(), "registries", &fill(TOML_GOOD));
    let e = config_error(RegistryConfig::load(&path), "no extension");
    assert!(
        e.to_string().contains("unknown file type"),
        "no extension: {e}"
    );

    // A file that is not there: a configuration error naming it.
    let missing = dir.path().join("missing.toml");
    let e = config_error(RegistryConfig::load(&missing), "missing");
    assert_eq!(e.origin(), missing.display().to_string(), "missing: origin");
    assert!(
        e.to_string()
            .contains("cannot read the registry configuration"),
        "missing: {e}"
    );

    // A directory, a device and an oversized file: refused by name, never read whole.
    for (what, path) in [
        ("a directory", dir.path().join("a-dir.toml")),
        ("/dev/zero", PathBuf::from("/dev/zero.toml")),
    ] {
        if what == "a directory" {
            std::fs::create_dir(&path).unwrap();
        }
        let e = config_error(RegistryConfig::load(&path), what);
        assert_eq!(e.origin(), path.display().to_string(), "{what}: origin");
    }
    let zero = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let e = config_error(RegistryConfig::load(&zero), "a link to /dev/zero");
    assert!(
        e.to_string().contains("not a regular file"),
        "/dev/zero: {e}"
    );
    let big = write_config(dir.path(), "big.toml", &"#".repeat(16 * 1024 * 1024 + 1));
    let e = config_error(RegistryConfig::load(&big), "over 16 MiB");
    assert!(e.to_string().contains("16 MiB"), "big: {e}");

    // Errors inside a file name the file's path.
    let text = fill(&format!(
        "{TOML_GOOD}\n{}",
        iam_with("region", "region = \"nowhere\"")
    ));
    let path = write_config(dir.path(), "registries.toml", &text);
    let e = config_error(RegistryConfig::load(&path), "bad region in a file");
    assert_eq!(e.origin(), path.display().to_string(), "bad region: origin");
    assert_eq!(
        e.entry(),
        Some((1, fill(BROKEN).as_str())),
        "bad region: entry"
    );
    assert_eq!(e.field(), Some("iam_user.region"), "bad region: field");
    assert_no_secret("bad region", &e.to_string());

    // A secret file is read relative to the configuration file, and named when missing: once
    // the entry serves.
    let text = fill(&format!(
        "{TOML_GOOD}\n{}",
        iam_with(
            "secret_access_key",
            "secret_access_key = { file = \"secrets/ecr.txt\" }"
        )
    ));
    let path = write_config(dir.path(), "registries.toml", &text);
    let config = RegistryConfig::load(&path).expect("no secret is read at load");
    let e = serving_error(
        &config,
        &format!("{ECR}/broken/x:v1"),
        "missing secret file",
    );
    let expected = dir.path().join("secrets/ecr.txt");
    assert!(
        e.to_string()
            .contains(&format!("cannot read secret file {}", expected.display())),
        "missing secret file: {e} should name {}",
        expected.display()
    );
    assert_eq!(
        e.field(),
        Some("iam_user.secret_access_key"),
        "missing secret file: field"
    );

    // The JSON export read from a file.
    let path = write_config(
        dir.path(),
        "export.JSON",
        &fill(&format!("[{EXPORT_GOOD}, {EXPORT_GOOD}]")),
    );
    let e = config_error(RegistryConfig::load(&path), "duplicate in an export file");
    assert_eq!(
        e.origin(),
        path.display().to_string(),
        "export file: origin"
    );
    assert_eq!(e.field(), Some("image_pattern"), "export file: field");
    assert_no_secret("export file", &e.to_string());
}

/// The configuration error of the entry serving `image`, found when it serves: its provider is
/// made then, and a secret it cannot read fails it before any upstream call.
fn serving_error(
    config: &RegistryConfig,
    image: &str,
    what: &str,
) -> registry_auth::config::ConfigError {
    let resolver = DefaultResolver::builder().config(config).build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(resolver.resolve_str(image)) {
        Ok(_) => panic!("{what}: should fail"),
        Err(Error::Config(e)) => e,
        Err(other) => panic!("{what}: expected a configuration error, got {other:?}"),
    }
}

fn iam(entry: &RegistryEntry) -> &registry_auth::config::IamUser {
    match &entry.source {
        CredentialSource::IamUser(u) => u,
        other => panic!("expected an IAM user, got {other:?}"),
    }
}

fn role(entry: &RegistryEntry) -> &registry_auth::config::InstanceRole {
    match &entry.source {
        CredentialSource::InstanceRole(r) => r,
        other => panic!("expected an instance role, got {other:?}"),
    }
}

/// Checks the three entries every shape below describes.
fn check_three(what: &str, config: &RegistryConfig) {
    let e = config.entries();
    assert_eq!(e.len(), 3, "{what}: entries");
    assert_eq!(
        e[0].pattern.as_str(),
        format!("{ECR}/*"),
        "{what}: [0] pattern"
    );
    let u = iam(&e[0]);
    assert_eq!(
        read(&u.access_key_id),
        "AKIAIOSFODNN7EXAMPLE",
        "{what}: access key id"
    );
    assert_eq!(read(&u.secret_access_key), SECRET, "{what}: secret");
    assert_eq!(u.region, "us-east-1", "{what}: [0] region");
    assert_eq!(e[0].source.kind(), "iam_user", "{what}: [0] kind");
    assert_eq!(
        e[0].source.region(),
        Some("us-east-1"),
        "{what}: [0] source region"
    );

    assert_eq!(
        e[1].pattern.as_str(),
        format!("{ECR}/my-repo/*"),
        "{what}: [1] pattern"
    );
    let r = role(&e[1]);
    assert_eq!(r.role_name, "ValohaiWorkerRole", "{what}: [1] role");
    assert_eq!(r.region, "us-east-1", "{what}: [1] region");
    assert_eq!(r.assume_role, None, "{what}: [1] assume role");
    assert_eq!(e[1].source.kind(), "instance_role", "{what}: [1] kind");

    assert_eq!(
        e[2].pattern.as_str(),
        "*.dkr.ecr.eu-west-1.amazonaws.com/*",
        "{what}: [2] pattern"
    );
    let r = role(&e[2]);
    assert_eq!(r.region, "eu-west-1", "{what}: [2] region");
    let a = r
        .assume_role
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: [2] assume role"));
    assert_eq!(
        a.role_arn, "arn:aws:iam::123456789012:role/ecr-pull-eu",
        "{what}: [2] arn"
    );
    assert_eq!(
        a.external_id.as_deref(),
        Some("pulls-eu"),
        "{what}: [2] external id"
    );

    assert!(
        config.warnings().is_empty(),
        "{what}: warnings {:?}",
        config.warnings()
    );
    assert_no_secret(what, &format!("{config:?}"));
}

#[test]
fn toml_and_both_json_shapes_load() {
    let toml = fill(
        r#"
[[registry]]
pattern = "$ECR/*"
[registry.iam_user]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key = "$SECRET"
region = "us-east-1"

[[registry]]
pattern = "$ECR/my-repo/*"
[registry.instance_role]
role_name = "ValohaiWorkerRole"
region = "us-east-1"

[[registry]]
pattern = "*.dkr.ecr.eu-west-1.amazonaws.com/*"
[registry.instance_role]
role_name = "ValohaiWorkerRole"
region = "eu-west-1"
assume_role_arn = "arn:aws:iam::123456789012:role/ecr-pull-eu"
external_id = "pulls-eu"
session_name = "ci-pulls"
"#,
    );
    let json = fill(
        r#"{"registry": [
  {"pattern": "$ECR/*", "iam_user": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "$SECRET", "region": "us-east-1"}},
  {"pattern": "$ECR/my-repo/*", "instance_role": {"role_name": "ValohaiWorkerRole", "region": "us-east-1"}},
  {"pattern": "*.dkr.ecr.eu-west-1.amazonaws.com/*", "instance_role": {"role_name": "ValohaiWorkerRole", "region": "eu-west-1",
   "assume_role_arn": "arn:aws:iam::123456789012:role/ecr-pull-eu", "external_id": "pulls-eu", "session_name": "ci-pulls"}}
]}"#,
    );
    let export = fill(
        r#"[
  {"type": "aws_ecr", "image_pattern": "$ECR/*", "configuration": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "$SECRET", "region": "us-east-1"}},
  {"type": "aws_ecr_role", "image_pattern": "$ECR/my-repo/*", "configuration": {"role_name": "ValohaiWorkerRole", "region": "us-east-1"}},
  {"type": "aws_ecr_role", "image_pattern": "*.dkr.ecr.eu-west-1.amazonaws.com/*", "configuration": {"role_name": "ValohaiWorkerRole", "region": "eu-west-1",
   "assume_role_arn": "arn:aws:iam::123456789012:role/ecr-pull-eu", "external_id": "pulls-eu", "session_name": "ci-pulls"}}
]"#,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    #[rustfmt::skip]
    let cases: [(&str, Result<RegistryConfig, Error>); 6] = [
        ("TOML string", RegistryConfig::from_toml_str(&toml, "x.toml").map_err(Error::from)),
        ("JSON string", RegistryConfig::from_json_str(&json, "x.json").map_err(Error::from)),
        ("export string", RegistryConfig::from_json_str(&export, "x.json").map_err(Error::from)),
        ("TOML file", RegistryConfig::load(write_config(dir.path(), "a.toml", &toml))),
        ("JSON file", RegistryConfig::load(write_config(dir.path(), "b.json", &json))),
        ("export file, upper-case extension", RegistryConfig::load(write_config(dir.path(), "c.JSON", &export))),
    ];
    for (what, result) in cases {
        let config = result.unwrap_or_else(|e| panic!("{what}: {e}"));
        check_three(what, &config);
        let a = role(&config.entries()[2])
            .assume_role
            .clone()
            .expect("assume role");
        assert_eq!(
            a.session_name.as_deref(),
            Some("ci-pulls"),
            "{what}: session name"
        );
    }

    // Nothing at all is a valid, empty configuration.
    #[rustfmt::skip]
    let empty: [(&str, Format, &str); 4] = [
        ("empty TOML", Format::Toml, ""),
        ("empty registry list", Format::Toml, "registry = []"),
        ("empty JSON object", Format::Json, "{}"),
        ("empty export list", Format::Json, "[]"),
    ];
    for (what, format, text) in empty {
        let config = parse(format, text, "x").unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(config.entries().is_empty(), "{what}: no entries");
    }
}

#[test]
fn secrets_inline_from_env_and_from_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("secrets")).expect("mkdir");
    let env_name = "REGISTRY_AUTH_TEST_CONFIG_SECRET_FROM_ENV_31a7";
    let env_key_name = "REGISTRY_AUTH_TEST_CONFIG_KEY_ID_FROM_ENV_31a7";
    std::env::set_var(env_name, ENV_SECRET);
    std::env::set_var(env_key_name, "AKIAENVKEYID0000");
    let file = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).expect("write secret");
    };
    file("secrets/lf.txt", &format!("{FILE_SECRET}\n"));
    file("secrets/crlf.txt", &format!("{FILE_SECRET}\r\n"));
    file("secrets/bare.txt", FILE_SECRET);
    file("secrets/two.txt", &format!("{FILE_SECRET}\n\n"));
    file("key-id.txt", "AKIAFILEKEYID000\n");
    let absolute = dir.path().join("secrets/lf.txt");

    #[rustfmt::skip]
    let cases: Vec<(&str, String, String, String)> = vec![
        // (what, secret_access_key value, access_key_id value, the secret expected)
        ("inline", format!("{SECRET:?}"), "\"AKIAIOSFODNN7EXAMPLE\"".into(), SECRET.to_owned()),
        ("env", format!("{{ env = {env_name:?} }}"), "\"AKIAIOSFODNN7EXAMPLE\"".into(), ENV_SECRET.to_owned()),
        ("file, relative, LF dropped", "{ file = \"secrets/lf.txt\" }".into(), "\"AKIAIOSFODNN7EXAMPLE\"".into(), FILE_SECRET.to_owned()),
        ("file, CRLF dropped", "{ file = \"secrets/crlf.txt\" }".into(), "\"AKIAIOSFODNN7EXAMPLE\"".into(), FILE_SECRET.to_owned()),
        ("file without newline", "{ file = \"secrets/bare.txt\" }".into(), "\"AKIAIOSFODNN7EXAMPLE\"".into(), FILE_SECRET.to_owned()),
        ("file, only one newline dropped", "{ file = \"secrets/two.txt\" }".into(), "\"AKIAIOSFODNN7EXAMPLE\"".into(), format!("{FILE_SECRET}\n")),
        ("file, absolute", format!("{{ file = {:?} }}", absolute.display().to_string()), "\"AKIAIOSFODNN7EXAMPLE\"".into(), FILE_SECRET.to_owned()),
        ("key id from env", format!("{SECRET:?}"), format!("{{ env = {env_key_name:?} }}"), SECRET.to_owned()),
        ("key id from file", format!("{SECRET:?}"), "{ file = \"key-id.txt\" }".into(), SECRET.to_owned()),
    ];
    for (what, secret, key_id, expected) in &cases {
        let text = format!(
            "[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = {key_id}\nsecret_access_key = {secret}\nregion = \"us-east-1\"\n"
        );
        let path = write_config(dir.path(), "registries.toml", &text);
        let config = RegistryConfig::load(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        let u = iam(&config.entries()[0]);
        assert_eq!(read(&u.secret_access_key), *expected, "{what}: secret");
        let key = match *what {
            "key id from env" => "AKIAENVKEYID0000",
            "key id from file" => "AKIAFILEKEYID000",
            _ => "AKIAIOSFODNN7EXAMPLE",
        };
        assert_eq!(read(&u.access_key_id), key, "{what}: access key id");
        let debug = format!("{config:?}");
        assert_no_secret(what, &debug);
        if *what == "inline" {
            assert!(
                debug.contains("REDACTED"),
                "{what}: Debug {debug:?} should show the secret redacted"
            );
        }
        assert_no_secret(what, &format!("{:?}", config.entries()));
        assert_no_secret(what, &format!("{:?}", config.entries()[0].source));

        // The same through the export shape in a JSON file.
        let json_secret = if secret.starts_with('{') {
            secret.replace(" = ", "\": ").replace("{ ", "{\"")
        } else {
            secret.clone()
        };
        let json_key = if key_id.starts_with('{') {
            key_id.replace(" = ", "\": ").replace("{ ", "{\"")
        } else {
            key_id.clone()
        };
        let export = format!(
            r#"[{{"type": "aws_ecr", "image_pattern": "{ECR}/*", "configuration": {{"access_key_id": {json_key}, "secret_access_key": {json_secret}, "region": "us-east-1"}}}}]"#
        );
        let path = write_config(dir.path(), "export.json", &export);
        let config = RegistryConfig::load(&path)
            .unwrap_or_else(|e| panic!("{what} (export): {e}\n{export}"));
        assert_eq!(
            read(&iam(&config.entries()[0]).secret_access_key),
            *expected,
            "{what} (export): secret"
        );
        assert_no_secret(what, &format!("{config:?}"));
    }

    // Errors after a secret was read from env or file never show it.
    let text = format!(
        "[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = {{ env = {env_name:?} }}\nregion = \"{ENV_SECRET}\"\n\
         [[registry]]\npattern = \"{ECR}/x\"\n[registry.iam_user]\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = {{ file = \"secrets/lf.txt\" }}\nregion = \"us-east-1\"\n"
    );
    let path = write_config(
        dir.path(),
        "registries.toml",
        &text.replace(
            &format!("region = \"{ENV_SECRET}\""),
            "region = \"us-east-1\"",
        ),
    );
    let config = RegistryConfig::load(&path).expect("env + file secrets");
    assert_no_secret("env + file", &format!("{config:?}"));
    let dup = text
        .replace(
            &format!("region = \"{ENV_SECRET}\""),
            "region = \"us-east-1\"",
        )
        .replace(&format!("{ECR}/x"), &format!("{ECR}/*"));
    let path = write_config(dir.path(), "registries.toml", &dup);
    let e = config_error(
        RegistryConfig::load(&path),
        "duplicate after secrets were read",
    );
    assert_no_secret("duplicate after secrets were read", &e.to_string());
    assert_no_secret("duplicate after secrets were read", &format!("{e:?}"));
}

#[test]
fn secrets_are_read_only_by_the_entry_that_serves_and_its_errors_name_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let basic = "[[registry]]\npattern = \"registry.example.com/*\"\n[registry.basic]\nusername = \"ci\"\npassword = \"inline-password\"\n";
    #[rustfmt::skip]
    let cases: [(&str, String, &str, &str); 4] = [
        ("env not set",
            format!("[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = {{ env = \"{UNSET_VAR}\" }}\nregion = \"us-east-1\"\n"),
            "iam_user.secret_access_key", "is not set"),
        ("key id env not set",
            format!("[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = {{ env = \"{UNSET_VAR}\" }}\nsecret_access_key = \"x\"\nregion = \"us-east-1\"\n"),
            "iam_user.access_key_id", "is not set"),
        ("file missing",
            format!("[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = {{ file = \"/nonexistent/registry-auth-test/secret.txt\" }}\nregion = \"us-east-1\"\n"),
            "iam_user.secret_access_key", "cannot read secret file /nonexistent/registry-auth-test/secret.txt"),
        ("basic password env not set",
            format!("[[registry]]\npattern = \"{ECR}/*\"\n[registry.basic]\nusername = \"ci\"\npassword = {{ env = \"{UNSET_VAR}\" }}\n"),
            "basic.password", "is not set"),
    ];
    for (what, entry, field, says) in cases {
        let path = write_config(dir.path(), "registries.toml", &format!("{basic}{entry}"));
        let config = RegistryConfig::load(&path)
            .unwrap_or_else(|e| panic!("{what}: loading reads no secret, yet: {e}"));
        // The other entry serves as if nothing were wrong.
        let resolver = DefaultResolver::builder().config(&config).build().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ok = rt
            .block_on(resolver.resolve_str("registry.example.com/team/app:v1"))
            .unwrap_or_else(|e| panic!("{what}: the basic entry failed: {e}"));
        assert_eq!(ok.credential.expose_password(), "inline-password", "{what}");
        // The broken one names file, entry and field when it serves.
        let e = serving_error(&config, &format!("{ECR}/app:v1"), what);
        assert_eq!(e.origin(), path.display().to_string(), "{what}: origin");
        assert_eq!(
            e.entry(),
            Some((1, format!("{ECR}/*").as_str())),
            "{what}: entry"
        );
        assert_eq!(e.field(), Some(field), "{what}: field");
        assert!(
            e.to_string().contains(says),
            "{what}: {e} should say {says:?}"
        );
        assert_no_secret(what, &e.to_string());
    }

    // The same in the platform's export: the field is under `configuration`.
    let export = format!(
        r#"[{{"type": "aws_ecr", "image_pattern": "{ECR}/*", "configuration": {{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": {{"env": "{UNSET_VAR}"}}, "region": "us-east-1"}}}}]"#
    );
    let path = write_config(dir.path(), "export.json", &export);
    let config = RegistryConfig::load(&path).expect("export loads");
    let e = serving_error(&config, &format!("{ECR}/app:v1"), "export env not set");
    assert_eq!(
        e.field(),
        Some("configuration.secret_access_key"),
        "export: {e}"
    );
    assert!(e.to_string().contains("is not set"), "export: {e}");

    // The secret's shape is still checked at load.
    #[rustfmt::skip]
    let shapes: [(&str, &str, &str); 7] = [
        ("env and file", "{ env = \"A\", file = \"B\" }", "must be a string, { env"),
        ("empty table", "{}", "must be a string, { env"),
        ("env and another key", "{ env = \"A\", vault = \"B\" }", "must be a string, { env"),
        ("unknown source", "{ vault = \"B\" }", "must be a string, { env"),
        ("empty env name", "{ env = \"\" }", "names an empty or non-string"),
        ("file not a string", "{ file = 5 }", "names an empty or non-string"),
        ("a number", "5", "must be a string, { env"),
    ];
    for (what, secret, says) in shapes {
        let text = format!(
            "[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = {secret}\nregion = \"us-east-1\"\n"
        );
        let path = write_config(dir.path(), "shape.toml", &text);
        let e = config_error(RegistryConfig::load(&path), what);
        assert_eq!(e.field(), Some("iam_user.secret_access_key"), "{what}: {e}");
        assert!(
            e.to_string().contains(says),
            "{what}: {e} should say {says:?}"
        );
    }
}

#[test]
fn shipped_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/registries.toml");
    let config = RegistryConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let patterns: Vec<&str> = config
        .entries()
        .iter()
        .map(|e| e.pattern.as_str())
        .collect();
    assert_eq!(
        patterns,
        [
            format!("{ECR}/*").as_str(),
            format!("{ECR}/my-repo/*").as_str(),
            "*.dkr.ecr.eu-west-1.amazonaws.com/*"
        ],
        "example patterns"
    );
    let kinds: Vec<&str> = config.entries().iter().map(|e| e.source.kind()).collect();
    assert_eq!(
        kinds,
        ["iam_user", "instance_role", "instance_role"],
        "example sources"
    );
    assert!(
        config.warnings().is_empty(),
        "example warnings: {:?}",
        config.warnings()
    );
}

#[test]
fn region_disagreeing_with_a_literal_ecr_host_is_a_warning() {
    #[rustfmt::skip]
    let cases: [(String, &str, bool); 9] = [
        (ECR.into(), "us-west-2", true),
        (format!("{ECR}/team/*"), "eu-west-1", true),
        (format!("{}:443/*", ECR.to_ascii_uppercase()), "us-west-2", true),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/*".into(), "us-gov-east-1", true),
        (ECR.into(), "us-east-1", false),
        ("*.dkr.ecr.us-east-1.amazonaws.com/*".into(), "us-west-2", false),
        ("registry.example.com/*".into(), "us-west-2", false),
        ("public.ecr.aws/*".into(), "us-west-2", false),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/*".into(), "us-west-2", false),
    ];
    for (pattern, region, warns) in &cases {
        let (pattern, region, warns) = (pattern.as_str(), *region, *warns);
        let text = format!(
            "[[registry]]\npattern = \"registry.example.org/*\"\n[registry.instance_role]\nrole_name = \"R\"\nregion = \"us-east-1\"\n\
             [[registry]]\npattern = \"{pattern}\"\n[registry.iam_user]\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = \"{SECRET}\"\nregion = \"{region}\"\n"
        );
        let config = RegistryConfig::from_toml_str(&text, TOML_ORIGIN)
            .unwrap_or_else(|e| panic!("{pattern} / {region}: a warning is not an error: {e}"));
        let w = config.warnings();
        if !warns {
            assert!(
                w.is_empty(),
                "{pattern} / {region}: no warning expected, got {w:?}"
            );
            continue;
        }
        assert_eq!(w.len(), 1, "{pattern} / {region}: one warning, got {w:?}");
        assert_eq!(w[0].index, 1, "{pattern} / {region}: warning index");
        let shown = w[0].to_string();
        let host_region = registry_auth::aws::EcrHost::parse(pattern.split('/').next().unwrap())
            .and_then(|h| h.region().map(str::to_owned))
            .expect("an ECR host");
        for part in [
            TOML_ORIGIN,
            "registry[1]",
            &format!("{pattern:?}"),
            region,
            &host_region,
        ] {
            assert!(
                shown.contains(part),
                "{pattern} / {region}: warning {shown:?} should name {part:?}"
            );
        }
        assert_no_secret(pattern, &shown);
    }
}

#[test]
fn from_entries_validates_too() {
    let p = |s: &str| MatchPattern::parse(s).expect("pattern");
    let user = || {
        CredentialSource::IamUser(registry_auth::config::IamUser::new(
            "AKIAIOSFODNN7EXAMPLE",
            SecretString::from(SECRET),
            "us-west-2",
        ))
    };
    let entries = vec![
        RegistryEntry::new(p(&format!("{ECR}/*")), user()),
        RegistryEntry::new(p(&format!("{ECR}/team")), user()),
    ];
    let config = RegistryConfig::from_entries(entries).expect("two distinct patterns");
    assert_eq!(
        config.warnings().len(),
        2,
        "both disagree with the host's region"
    );
    assert!(
        config
            .warnings()
            .iter()
            .all(|w| w.to_string().starts_with("<entries>")),
        "origin <entries>"
    );
    assert_no_secret("from_entries", &format!("{config:?}"));

    let entries = vec![
        RegistryEntry::new(p(&format!("{ECR}/team")), user()),
        RegistryEntry::new(p(&format!("{ECR}/x")), user()),
        RegistryEntry::new(p(&format!("{ECR}/team")), user()),
    ];
    let e = RegistryConfig::from_entries(entries).expect_err("duplicate");
    assert_eq!(e.origin(), "<entries>", "duplicate: origin");
    let team = format!("{ECR}/team");
    assert_eq!(e.entry(), Some((2, team.as_str())), "duplicate: entry");
    assert_eq!(e.field(), Some("pattern"), "duplicate: field");
    assert!(
        e.to_string().contains("registry[0]"),
        "duplicate: names the first: {e}"
    );
    assert_no_secret("from_entries duplicate", &format!("{e} {e:?}"));

    // Different meanings are not duplicates: `team` covers `team/x`, `team/*` does not cover `team`.
    let entries = vec![
        RegistryEntry::new(p(&format!("{ECR}/team")), user()),
        RegistryEntry::new(p(&format!("{ECR}/team/*")), user()),
        RegistryEntry::new(p(&format!("{ECR}/team:*")), user()),
        RegistryEntry::new(p(&format!("{ECR}:443/team")), user()),
    ];
    assert!(
        RegistryConfig::from_entries(entries).is_ok(),
        "distinct patterns"
    );
}

#[test]
fn json_objects_may_not_repeat_a_key_and_toml_errors_say_where() {
    let json = fill(
        r#"{"registry": [{"pattern": "$ECR/*", "pattern": "$ECR/other/*", "instance_role": {"role_name": "R", "region": "us-east-1"}}]}"#,
    );
    let e = RegistryConfig::from_json_str(&json, JSON_ORIGIN).unwrap_err();
    assert!(
        e.to_string().contains("duplicate key `pattern`") && e.to_string().contains("line 1"),
        "{e}"
    );
    let e = RegistryConfig::from_toml_str(
        "[[registry]]\npattern = \"x.example\"\nowner = \n",
        TOML_ORIGIN,
    )
    .unwrap_err();
    assert!(e.to_string().contains("at line 3, column"), "{e}");
}

#[test]
fn a_secret_file_that_is_a_device_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[[registry]]\npattern = \"{ECR}/*\"\n[registry.iam_user]\naccess_key_id = \"AKIAIOSFODNN7EXAMPLE\"\nsecret_access_key = {{ file = \"/dev/zero\" }}\nregion = \"us-east-1\"\n"
    );
    let path = write_config(dir.path(), "registries.toml", &text);
    let config = RegistryConfig::load(&path).unwrap();
    let e = serving_error(&config, &format!("{ECR}/app:v1"), "/dev/zero");
    assert!(
        e.to_string().contains("/dev/zero") && e.to_string().contains("not a regular file"),
        "{e}"
    );
}

#[test]
fn the_standard_chain_web_identity_and_assume_role_tables_read_in_every_shape() {
    let toml = format!(
        r#"
[[registry]]
pattern = "{ECR}/chain/*"
[registry.aws_chain]
profile = "ci"
region = "eu-west-1"
[registry.aws_chain.assume_role]
role_arn = "arn:aws:iam::123456789012:role/pull"
external_id = "x-1"
session_name = "ci-pull"
duration_seconds = 900

[[registry]]
pattern = "{ECR}/irsa/*"
[registry.web_identity]
role_arn = "arn:aws:iam::123456789012:role/irsa"
token_file = "token"

[[registry]]
pattern = "{ECR}/kubelet/*"
web_identity = {{ role_arn_annotation = "eks.amazonaws.com/ecr-role-arn" }}

[[registry]]
pattern = "{ECR}/user/*"
[registry.iam_user]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key = {{ env = "{UNSET_VAR}" }}
session_token = {{ env = "{UNSET_VAR}" }}
region = "us-east-1"
[registry.iam_user.assume_role]
role_arn = "arn:aws:iam::123456789012:role/pull"

[[registry]]
pattern = "{ECR}/worker/*"
[registry.instance_role]
role_name = "Worker"
region = "us-east-1"
[registry.instance_role.assume_role]
role_arn = "arn:aws:iam::123456789012:role/pull"
duration_seconds = 3600
"#
    );
    let config = RegistryConfig::from_toml_str(&toml, TOML_ORIGIN).unwrap();
    let kinds: Vec<&str> = config.entries().iter().map(|e| e.source.kind()).collect();
    assert_eq!(
        kinds,
        [
            "aws_chain",
            "web_identity",
            "web_identity",
            "iam_user",
            "instance_role"
        ]
    );
    match &config.entries()[0].source {
        CredentialSource::AwsChain(c) => {
            assert_eq!(c.profile.as_deref(), Some("ci"));
            let role = c.assume_role.as_ref().unwrap();
            assert_eq!(
                (role.external_id.as_deref(), role.duration_seconds),
                (Some("x-1"), Some(900))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(config.entries()[0].source.region(), Some("eu-west-1"));
    match &config.entries()[2].source {
        CredentialSource::WebIdentity(w) => {
            assert_eq!(
                w.role_arn_annotation.as_deref(),
                Some("eks.amazonaws.com/ecr-role-arn")
            );
            assert!(w.token_file.is_none() && w.role_arn.is_none());
        }
        other => panic!("{other:?}"),
    }
    match &config.entries()[4].source {
        CredentialSource::InstanceRole(r) => {
            assert_eq!(r.assume_role.as_ref().unwrap().duration_seconds, Some(3600))
        }
        other => panic!("{other:?}"),
    }
    // The IAM user's session token is a secret like its key: read only when it serves.
    match &config.entries()[3].source {
        CredentialSource::IamUser(u) => {
            assert!(u.session_token.is_some() && u.assume_role.is_some())
        }
        other => panic!("{other:?}"),
    }

    // The same in both JSON shapes.
    let json = format!(
        r#"{{"registry": [{{"pattern": "{ECR}/*", "aws_chain": {{"assume_role": {{"role_arn": "arn:aws:iam::123456789012:role/pull"}}}}}},
                          {{"pattern": "{ECR}/k/*", "web_identity": {{"role_arn_annotation": "eks.amazonaws.com/ecr-role-arn", "role_arn": "arn:aws:iam::123456789012:role/fallback"}}}}]}}"#
    );
    let config = RegistryConfig::from_json_str(&json, JSON_ORIGIN).unwrap();
    assert_eq!(config.entries()[1].source.kind(), "web_identity");
    let export = format!(
        r#"[{{"type": "aws_chain", "image_pattern": "{ECR}/*", "configuration": {{"profile": "ci"}}}},
            {{"type": "aws_web_identity", "image_pattern": "{ECR}/k/*", "configuration": {{"role_arn": "arn:aws:iam::123456789012:role/r", "token_file": "/var/run/token"}}}},
            {{"type": "aws_ecr", "image_pattern": "{ECR}/u/*", "configuration": {{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "x", "session_token": "y", "region": "us-east-1"}}}}]"#
    );
    let config = RegistryConfig::from_json_str(&export, JSON_ORIGIN).unwrap();
    let kinds: Vec<&str> = config.entries().iter().map(|e| e.source.kind()).collect();
    assert_eq!(kinds, ["aws_chain", "web_identity", "iam_user"]);
}

#[test]
fn a_relative_token_file_is_next_to_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registries.toml");
    std::fs::write(
        &path,
        format!("[[registry]]\npattern = \"{ECR}/*\"\n[registry.web_identity]\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\ntoken_file = \"sa/token\"\n"),
    )
    .unwrap();
    let config = RegistryConfig::load(&path).unwrap();
    match &config.entries()[0].source {
        CredentialSource::WebIdentity(w) => {
            assert_eq!(
                w.token_file.as_deref(),
                Some(dir.path().join("sa/token").as_path())
            )
        }
        other => panic!("{other:?}"),
    }
}
