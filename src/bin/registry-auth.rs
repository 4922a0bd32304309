//! `registry-auth`: parse image references, explain which entry serves an image, and get
//! credentials. A thin shell over the `registry_auth` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use registry_auth::config::RegistryConfig;
use registry_auth::ecr::EcrHost;
use registry_auth::pattern::{self, MatchPattern};
use registry_auth::provider::AwsOptions;
use registry_auth::reference::ImageReference;
use registry_auth::resolver::{DefaultResolver, RegistryResolver};
use registry_auth::scope::{EntryScope, ResolveContext};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// Short-lived credentials for private container registries (AWS ECR first).
#[derive(Parser)]
#[command(name = "registry-auth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and normalise an image reference.
    Parse {
        /// The image, e.g. `ubuntu` or `123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1`.
        image: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show which registry entry serves an image, and why.
    Explain {
        #[command(flatten)]
        entries: EntriesArgs,
        #[command(flatten)]
        scope: ScopeArgs,
        /// The image to look up.
        image: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Get a registry credential for an image.
    Get {
        /// A registry configuration file (.toml or .json).
        #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        scope: ScopeArgs,
        /// The image to log in for.
        image: String,
        /// Send AWS calls here (an emulator); `AWS_ENDPOINT_URL*` also work.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// Print the password instead of `[REDACTED]`.
        #[arg(long)]
        show_password: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the least-privilege IAM pull policy: for one repository, or for every entry.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["config", "region"])))]
    Policy {
        /// The repository's region, e.g. `us-east-1` (with --account and --repository).
        #[arg(long, requires_all = ["account", "repository"])]
        region: Option<String>,
        /// The registry's account id, 12 digits.
        #[arg(long, requires = "region")]
        account: Option<String>,
        /// The repository, e.g. `my-ml-image`.
        #[arg(long, requires = "region")]
        repository: Option<String>,
        /// One policy for every entry of this configuration file (.toml or .json).
        #[arg(long, value_name = "FILE", conflicts_with = "region")]
        config: Option<PathBuf>,
        /// With --config: only this partition's policy (`aws`, `aws-cn`, ...).
        #[arg(long, requires = "config")]
        partition: Option<String>,
    },
    /// Check that an entry serves every private ECR image a valohai.yaml names.
    Check {
        /// The valohai.yaml to check.
        file: PathBuf,
        /// A registry configuration file (.toml or .json).
        #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_CONFIG")]
        config: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Kubelet credential provider: a CredentialProviderRequest on stdin, the response on stdout.
    Kubelet {
        /// A registry configuration file; default `REGISTRY_AUTH_CONFIG`, else
        /// `~/.config/registry-auth/registries.toml`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct EntriesArgs {
    /// A registry configuration file (.toml or .json).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A match pattern standing for an entry; repeat for more, in order.
    #[arg(long = "pattern", value_name = "PATTERN")]
    patterns: Vec<String>,
}

/// Who is asking; none of these: no scope applies (a single-tenant configuration).
#[derive(Args)]
struct ScopeArgs {
    /// The organisation whose project asks.
    #[arg(long, value_name = "ORG", conflicts_with = "personal")]
    owner: Option<String>,
    /// A personal project asks (personal projects have no private registries).
    #[arg(long)]
    personal: bool,
    /// The environment (worker pool) the job runs in.
    #[arg(long, value_name = "ENV", requires = "owner")]
    environment: Option<String>,
}

impl ScopeArgs {
    fn context(&self) -> ResolveContext {
        match (&self.owner, self.personal) {
            (_, true) => ResolveContext::personal("cli"),
            (Some(org), false) => {
                let ctx = ResolveContext::organization(org);
                match &self.environment {
                    Some(env) => ctx.with_environment(env),
                    None => ctx,
                }
            }
            (None, false) => ResolveContext::unscoped(),
        }
    }
}

/// Exit codes: 0 success or match, 1 no match, 2 bad input.
fn main() -> ExitCode {
    let cli = Cli::parse();
    registry_auth::cli::init_tracing();
    match cli.command {
        Command::Parse { image, json } => parse(&image, json),
        Command::Explain {
            entries,
            scope,
            image,
            json,
        } => explain(&entries, &scope.context(), &image, json),
        Command::Get {
            config,
            scope,
            image,
            endpoint_url,
            show_password,
            json,
        } => get(
            &config,
            &scope.context(),
            &image,
            endpoint_url,
            show_password,
            json,
        ),
        Command::Policy {
            region,
            account,
            repository,
            config,
            partition,
        } => policy(region, account, repository, config, partition),
        Command::Check { file, config, json } => check(&file, &config, json),
        Command::Kubelet { config } => kubelet(config.as_deref()),
    }
}

fn fail(json: bool, message: &str) -> ExitCode {
    if json {
        println!("{}", json!({ "error": message }));
    } else {
        eprintln!("registry-auth: {message}");
    }
    ExitCode::from(2)
}

fn parse(image: &str, json: bool) -> ExitCode {
    let r = match ImageReference::parse(image) {
        Ok(r) => r,
        Err(e) => return fail(json, &e.to_string()),
    };
    if json {
        println!(
            "{}",
            json!({
                "domain": r.domain(),
                "repository": r.repository(),
                "tag": r.tag(),
                "digest": r.digest(),
                "normalized": r.as_str(),
            })
        );
    } else {
        println!("{r}");
        println!("  domain:     {}", r.domain());
        println!("  repository: {}", r.repository());
        println!("  tag:        {}", r.tag().unwrap_or("(none)"));
        println!("  digest:     {}", r.digest().unwrap_or("(none)"));
    }
    ExitCode::SUCCESS
}

/// The entries' patterns and scopes; `--pattern` entries have no scope.
fn load_patterns(args: &EntriesArgs) -> Result<Vec<(MatchPattern, EntryScope)>, String> {
    match &args.config {
        Some(path) => Ok(RegistryConfig::load_patterns(path)
            .map_err(|e| e.to_string())?
            .entries()
            .iter()
            .map(|e| (e.pattern.clone(), e.scope.clone()))
            .collect()),
        None => args
            .patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                MatchPattern::parse(p)
                    .map(|p| (p, EntryScope::default()))
                    .map_err(|e| format!("--pattern #{i}: {e}"))
            })
            .collect(),
    }
}

fn ecr_json(image: &ImageReference) -> Value {
    match EcrHost::parse(image.domain()) {
        Some(h) => json!({
            "account": h.account_id(),
            "region": h.region(),
            "fips": h.fips(),
            "dual_stack": h.dual_stack(),
            "public": h.is_public(),
        }),
        None => Value::Null,
    }
}

fn explain(args: &EntriesArgs, context: &ResolveContext, image: &str, json: bool) -> ExitCode {
    let entries = match load_patterns(args) {
        Ok(p) => p,
        Err(e) => return fail(json, &e),
    };
    let image = match ImageReference::parse(image) {
        Ok(r) => r,
        Err(e) => return fail(json, &e.to_string()),
    };
    let patterns: Vec<&MatchPattern> = entries.iter().map(|(p, _)| p).collect();
    let ex = pattern::explain_by(patterns.iter().copied(), &image, |i| {
        entries[i].1.check(context).err().map(|d| d.to_string())
    });
    if json {
        let matched = ex
            .winner
            .map(|i| json!({ "index": i, "pattern": patterns[i].as_str() }));
        let candidates: Vec<Value> = ex
            .candidates
            .iter()
            .map(|c| {
                json!({
                    "index": c.index,
                    "pattern": c.pattern,
                    "won": Some(c.index) == ex.winner,
                    "ruled_out": c.ruled_out,
                    "reason": c.reason,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "image": image.as_str(),
                "matched": matched,
                "candidates": candidates,
                "ecr": ecr_json(&image),
            })
        );
    } else {
        println!("image: {image}");
        match ex.winner {
            Some(i) => println!("served by entry {i}: {}", patterns[i]),
            None if ex.candidates.is_empty() => println!(
                "no entry serves it ({} pattern(s) tried); add an entry whose pattern covers {}",
                patterns.len(),
                image.name()
            ),
            None => println!("no entry that {context} may use serves it"),
        }
        for c in &ex.candidates {
            println!("  [{}] {}: {}", c.index, c.pattern, c.reason);
        }
    }
    if ex.winner.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn get(
    config: &std::path::Path,
    context: &ResolveContext,
    image: &str,
    endpoint_url: Option<String>,
    show_password: bool,
    json: bool,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(json, &format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let image = ImageReference::parse(image)?;
        let config = RegistryConfig::load(config)?;
        let mut aws = AwsOptions::default();
        if let Some(url) = endpoint_url {
            aws = aws.with_endpoint_url(url);
        }
        let resolver = DefaultResolver::builder()
            .aws_options(aws)
            .config(&config)?
            .build()?;
        let entry = resolver
            .select_in(context, &image)?
            .map(|(i, p)| (i, p.to_string()));
        let login = resolver.resolve_in(context, &image).await?;
        Ok::<_, registry_auth::Error>((image, entry, login))
    });
    let (image, entry, login) = match result {
        Ok(r) => r,
        Err(e) => {
            let code = match e {
                registry_auth::Error::NoMatch { .. }
                | registry_auth::Error::OutOfScope { .. }
                | registry_auth::Error::PersonalProject { .. } => 1,
                _ => 2,
            };
            if json {
                println!("{}", json!({ "error": e.to_string() }));
            } else {
                eprintln!("registry-auth: {e}");
            }
            return ExitCode::from(code);
        }
    };
    let password = if show_password {
        login.password.expose_secret().to_owned()
    } else {
        "[REDACTED]".to_owned()
    };
    let expires = registry_auth::format_time(login.expires_at);
    let expired = login.expires_at <= std::time::SystemTime::now();
    if json {
        println!(
            "{}",
            json!({
                "image": image.as_str(),
                "entry": entry.as_ref().map(|(i, p)| json!({ "index": i, "pattern": p })),
                "username": login.username,
                "password": password,
                "server": login.server,
                "expires_at": expires,
                "expired": expired,
            })
        );
    } else {
        if let Some((i, p)) = &entry {
            println!("entry:    [{i}] {p}");
        }
        println!("username: {}", login.username);
        println!(
            "password: {password}{}",
            if show_password {
                ""
            } else {
                " (--show-password prints it)"
            }
        );
        println!("server:   {}", login.server);
        println!(
            "expires:  {expires}{}",
            if expired {
                " (already expired: the registry's clock or the emulator says so)"
            } else {
                ""
            }
        );
    }
    ExitCode::SUCCESS
}

fn policy(
    region: Option<String>,
    account: Option<String>,
    repository: Option<String>,
    config: Option<PathBuf>,
    partition: Option<String>,
) -> ExitCode {
    use registry_auth::policy::{ConfigPolicy, PullPolicy};
    let Some(path) = config else {
        let (region, account, repository) = (
            region.unwrap_or_default(),
            account.unwrap_or_default(),
            repository.unwrap_or_default(),
        );
        return match PullPolicy::for_repository(&region, &account, &repository) {
            Ok(p) => {
                println!("{}", p.to_json_pretty());
                ExitCode::SUCCESS
            }
            Err(e) => fail(false, &e.to_string()),
        };
    };
    let config = match RegistryConfig::load_patterns(&path) {
        Ok(c) => c,
        Err(e) => return fail(false, &e.to_string()),
    };
    let generated = ConfigPolicy::for_config(&config);
    for note in &generated.notes {
        eprintln!("registry-auth: note: {note}");
    }
    let mut policies: Vec<&PullPolicy> = generated.policies.iter().collect();
    if let Some(id) = &partition {
        policies.retain(|p| p.partition().as_str() == id);
    }
    match policies.as_slice() {
        [] => fail(
            false,
            &format!(
                "{}: no entry names a private ECR registry{}, so there is nothing to grant",
                path.display(),
                partition
                    .map(|p| format!(" in partition {p}"))
                    .unwrap_or_default()
            ),
        ),
        [one] => {
            println!("{}", one.to_json_pretty());
            ExitCode::SUCCESS
        }
        many => {
            eprintln!("registry-auth: note: the entries span {} partitions and an IAM policy lives in one: printing one policy per partition id; --partition ID prints one", many.len());
            let all: serde_json::Map<String, Value> = many
                .iter()
                .map(|p| (p.partition().as_str().to_owned(), p.to_json()))
                .collect();
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
            ExitCode::SUCCESS
        }
    }
}

/// Exit codes: 0 every image served or public, 1 an unserved or invalid image, 2 bad input.
fn check(file: &std::path::Path, config: &std::path::Path, json: bool) -> ExitCode {
    use registry_auth::valohai::ValohaiFile;
    let patterns: Vec<MatchPattern> = match RegistryConfig::load_patterns(config) {
        Ok(c) => c.entries().iter().map(|e| e.pattern.clone()).collect(),
        Err(e) => return fail(json, &e.to_string()),
    };
    let report = match ValohaiFile::load(file) {
        Ok(f) => f.check(&patterns),
        Err(e) => return fail(json, &e.to_string()),
    };
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `kubelet`: one request on stdin, one response on stdout; exit 1 with the reason on stderr.
fn kubelet(config: Option<&std::path::Path>) -> ExitCode {
    let served = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|rt| {
            rt.block_on(registry_auth::kubelet::serve(
                config,
                AwsOptions::default(),
                std::io::stdin().lock(),
                std::io::stdout().lock(),
            ))
            .map_err(|e| e.to_string())
        });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry-auth kubelet: {e}");
            ExitCode::from(1)
        }
    }
}
