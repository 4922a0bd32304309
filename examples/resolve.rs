//! Embed the resolver: load registry entries, resolve an image, use the credential.
//!
//! ```text
//! cargo run --example resolve -- examples/registries.toml 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:v1.0
//! ```
//! Point it at the emulator with `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` (`scripts/demo` shows
//! the whole set-up).

use registry_auth::{DefaultResolver, RegistryConfig, RegistryResolver};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(image)) = (args.next(), args.next()) else {
        return Err("usage: resolve CONFIG IMAGE".into());
    };

    let config = RegistryConfig::load(&config)?;
    let resolver = DefaultResolver::builder().config(&config).build()?;
    let resolved = resolver.resolve_str(&image).await?;
    let login = &resolved.credential;

    // Hand `login.expose_password()` to your registry client; never print it.
    println!(
        "{image} can log in to {} as {} until {} (entry [{}] {})",
        login.server(),
        login.username(),
        login
            .expires_at()
            .map_or_else(|| "it is revoked".to_owned(), registry_auth::format_time),
        resolved.entry,
        resolved.pattern,
    );
    Ok(())
}
