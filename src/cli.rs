//! What the crate's two binaries share. Not part of the library's API.

use std::io::IsTerminal;

/// Logs to stderr at `warn`, or as `REGISTRY_AUTH_LOG` says (an `EnvFilter` directive such as
/// `debug` or `registry_auth=trace`). Secrets never reach the log at any level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGISTRY_AUTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}
