//! `registry-auth`: parse image references, explain which entry serves an image, get
//! credentials, print pull policies, check a valohai.yaml, and serve the kubelet. A thin shell
//! over the `registry_auth` library: arguments in, one library call, output.
//!
//! Exit codes: 0 success; 1 no entry serves the image (or a check found a problem); 2 bad
//! input (arguments, image, configuration, a file); 3 the registry or cloud refused or failed
//! (credentials, permissions, outages).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use registry_auth::aws::{AwsOptions, EcrHost};
use registry_auth::front::{self, Setup};
use registry_auth::pattern::{self, Explanation, MatchPattern};
use registry_auth::{
    DefaultResolver, Error, ErrorKind, ImageReference, RegistryConfig, RegistryResolver,
    ResolveContext,
};
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
        /// Prove each pull: get each entry's credential and ask the registry (ECR's API, or the
        /// distribution API) whether it would serve the image. Who asks: --owner/--environment,
        /// else REGISTRY_AUTH_OWNER/REGISTRY_AUTH_ENVIRONMENT.
        #[arg(long)]
        live: bool,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Check this machine: configuration, secrets, instance metadata, clock, token cache, docker.
    Doctor {
        /// A registry configuration file; default `REGISTRY_AUTH_CONFIG`, else
        /// `~/.config/registry-auth/registries.toml`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
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
        /// The organisation whose pods pull (default `REGISTRY_AUTH_OWNER`).
        #[arg(
            long,
            value_name = "ORG",
            env = "REGISTRY_AUTH_OWNER",
            conflicts_with = "personal"
        )]
        owner: Option<String>,
        /// The environment (worker pool) of this node (default `REGISTRY_AUTH_ENVIRONMENT`).
        #[arg(
            long,
            value_name = "ENV",
            env = "REGISTRY_AUTH_ENVIRONMENT",
            requires = "owner"
        )]
        environment: Option<String>,
        /// The node runs personal projects, which have no private registries.
        #[arg(long)]
        personal: bool,
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
        front::context(self.owner.clone(), self.environment.clone(), self.personal)
    }
}

/// The exit code for an error: 1 no entry, 2 bad input or a local file, 3 upstream.
fn exit_code(e: &Error) -> ExitCode {
    ExitCode::from(match e.kind() {
        ErrorKind::NoEntry => 1,
        ErrorKind::Credentials | ErrorKind::Upstream => 3,
        _ => 2,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    front::init_tracing();
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
        Command::Check {
            file,
            config,
            live: true,
            scope,
            json,
        } => check_live(&file, &config, &scope, json),
        Command::Check {
            file, config, json, ..
        } => check(&file, &config, json),
        Command::Doctor { config, json } => doctor(config, json),
        Command::Kubelet {
            config,
            owner,
            environment,
            personal,
        } => kubelet(config, front::context(owner, environment, personal)),
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

/// An error, on stdout as JSON or on stderr, with its exit code.
fn fail_with(json: bool, e: &Error) -> ExitCode {
    if json {
        println!(
            "{}",
            json!({ "error": e.to_string(), "kind": e.kind().as_str() })
        );
    } else {
        eprintln!("registry-auth: {e}");
    }
    exit_code(e)
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

/// The explanation for `image`: the configuration's resolver's, or the plain patterns'.
fn explanation(
    args: &EntriesArgs,
    context: &ResolveContext,
    image: &ImageReference,
) -> Result<(Explanation, Vec<MatchPattern>), String> {
    match &args.config {
        Some(path) => {
            let config = RegistryConfig::load(path).map_err(|e| e.to_string())?;
            let resolver = DefaultResolver::builder()
                .config(&config)
                .build()
                .map_err(|e| e.to_string())?;
            Ok((
                resolver.explain_in(context, image),
                resolver.patterns().to_vec(),
            ))
        }
        None => {
            let patterns = args
                .patterns
                .iter()
                .enumerate()
                .map(|(i, p)| MatchPattern::parse(p).map_err(|e| format!("--pattern #{i}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some((later, first)) = pattern::first_duplicate(&patterns) {
                return Err(format!(
                    "--pattern #{later} ({:?}) serves the same images as --pattern #{first} ({:?}), so it could never win; give each pattern once",
                    patterns[later].as_str(),
                    patterns[first].as_str()
                ));
            }
            Ok((pattern::explain(&patterns, image), patterns))
        }
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
    let image = match ImageReference::parse(image) {
        Ok(r) => r,
        Err(e) => return fail(json, &e.to_string()),
    };
    let (ex, patterns) = match explanation(args, context, &image) {
        Ok(x) => x,
        Err(e) => return fail(json, &e),
    };
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
    let mut setup = Setup::new(config);
    setup.disk = front::DiskChoice::Off;
    setup.context = context.clone();
    if let Some(url) = endpoint_url {
        setup.aws = AwsOptions::default().with_endpoint_url(url);
    }
    let result = front::runtime().and_then(|runtime| {
        runtime.block_on(async {
            let image = ImageReference::parse(image)?;
            let config = setup.load_config()?;
            let resolver = setup.resolver(&config)?;
            let resolved = resolver.resolve_in(&setup.context, &image).await?;
            Ok::<_, Error>((image, resolved))
        })
    });
    let (image, resolved) = match result {
        Ok(r) => r,
        Err(e) => return fail_with(json, &e),
    };
    let login = &resolved.credential;
    let password = if show_password {
        login.expose_password()
    } else {
        "[REDACTED]"
    };
    let expires = login.expires_at().map(registry_auth::format_time);
    let expired = login
        .expires_at()
        .is_some_and(|at| at <= std::time::SystemTime::now());
    if json {
        println!(
            "{}",
            json!({
                "image": image.as_str(),
                "entry": { "index": resolved.entry, "pattern": &*resolved.pattern },
                "username": login.username(),
                "password": password,
                "server": login.server(),
                "expires_at": expires,
                "expired": expired,
            })
        );
    } else {
        println!("entry:    [{}] {}", resolved.entry, resolved.pattern);
        println!("username: {}", login.username());
        println!(
            "password: {password}{}",
            if show_password {
                ""
            } else {
                " (--show-password prints it)"
            }
        );
        println!("server:   {}", login.server());
        println!(
            "expires:  {}{}",
            expires.as_deref().unwrap_or("never"),
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
    use registry_auth::aws::policy::{ConfigPolicy, PullPolicy};
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
    let config = match RegistryConfig::load(&path) {
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
    let patterns: Vec<MatchPattern> = match RegistryConfig::load(config) {
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

/// `check --live`: exit 0 when every image can be pulled, 1 when one cannot, 2 bad input.
fn check_live(
    file: &std::path::Path,
    config: &std::path::Path,
    scope: &ScopeArgs,
    json: bool,
) -> ExitCode {
    use std::io::IsTerminal;
    let file = match registry_auth::valohai::ValohaiFile::load(file) {
        Ok(f) => f,
        Err(e) => return fail(json, &e.to_string()),
    };
    let mut setup = Setup::new(config);
    setup.disk = front::DiskChoice::Off;
    let given = scope.owner.is_some() || scope.personal;
    setup.context = if given {
        scope.context()
    } else {
        front::context_from_env()
    };
    let mut stderr = std::io::stderr();
    let terminal = stderr.is_terminal();
    let report = front::runtime()
        .and_then(|rt| rt.block_on(front::check::live(&setup, &file, &mut stderr, terminal)));
    let report = match report {
        Ok(r) => r,
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

/// `doctor`: exit 0 when every check passes (or does not apply), 1 otherwise.
fn doctor(config: Option<PathBuf>, json: bool) -> ExitCode {
    let options = front::doctor::Options::from_env(config);
    let report = match front::runtime() {
        Ok(rt) => rt.block_on(front::doctor::run(&options)),
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
fn kubelet(config: Option<PathBuf>, context: ResolveContext) -> ExitCode {
    let mut setup = Setup::from_env();
    if config.is_some() {
        setup.config = config;
    }
    setup.context = context;
    let served = front::runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(front::kubelet::serve(
            &setup,
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
