//! A compiled snapshot of a configuration, for processes that answer one request and exit.
//!
//! Docker runs its credential helper once per pull, and the kubelet its plugin once per image.
//! Parsing a configuration of 100,000 entries and compiling its index takes such a process
//! seconds to answer about one host. The snapshot is the parsed configuration filed by registry
//! host, kept beside the disk token cache: a process reads its header, the one bucket its host
//! hashes to, and the entries with wildcard hosts, and builds a resolver over those alone. Only
//! entries whose host could match are read, so best match among them is best match among all.
//!
//! - **Keyed by the configuration file's identity and content**: its path, device, inode,
//!   size and modification time, and the SHA-256 of its bytes (read in a streaming pass on
//!   every run, so an edit that keeps size and time is still seen). Any difference, and the
//!   snapshot is rebuilt from the file.
//! - **Never a secret**: an entry with a secret written inline is kept only as its pattern and a
//!   mark; when such an entry could serve the request, the process reads the configuration file
//!   itself. Secrets from the environment or a file are references, and stay that.
//! - **Never trusted when odd**: the file passes the disk store's refusals (ours, `0600`, regular,
//!   not a link); its magic, format, crate version, key and every section's checksum are checked;
//!   any mismatch or decoding error means "rebuild", never "use".
//!
//! On disk: `config-HASH.snap`, where HASH is a hash of the configuration's path. A binary
//! header (magic, format version, header length), a JSON header (crate version, the file's
//! identity and SHA-256, the shape, the section offsets and checksums), a table of buckets
//! (offset, length, checksum), and sections holding JSON lists of records: `{"i": position,
//! "v": the entry as written}` or `{"i": position, "p": pattern, "withheld": true}`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::file::{self, Format, Shape};
use super::{ConfigError, RegistryConfig};
use crate::cache::DiskStore;
use crate::pattern::MatchPattern;

const MAGIC: &[u8; 8] = b"RGASNAP\0";
const FORMAT: u32 = 1;
/// A snapshot larger than this is not ours.
const MAX_SNAPSHOT: u64 = 1 << 30;
/// The JSON header is small; more is not ours.
const MAX_HEADER: u32 = 64 * 1024;
/// Entries per bucket the table aims at.
const PER_BUCKET: usize = 4;

/// The configuration file as it is now: what the snapshot must have been built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    path: String,
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    crate_version: String,
    config: Identity,
    origin: String,
    export: bool,
    entries: usize,
    buckets: u64,
    table_at: u64,
    wild_at: u64,
    wild_len: u64,
    wild_sum: u64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    i: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    withheld: bool,
}

/// The entries of the configuration at `path` that could serve the registry `host`/`port`,
/// through the snapshot in `store` (rebuilt when it is missing or stale; a process that has to
/// rebuild it has read the whole file anyway, and gets all of it).
pub(crate) fn load_for_registry(
    path: &Path,
    store: &DiskStore,
    host: &str,
    port: Option<u16>,
) -> Result<RegistryConfig, crate::Error> {
    let identity = match identity_of(path) {
        Some(identity) => identity,
        // Let the plain load say what is wrong with the file.
        None => return RegistryConfig::load(path),
    };
    let name = snapshot_name(&identity.path);
    if let Some(file) = store.open_private(&name, MAX_SNAPSHOT) {
        match read_subset(file, &identity, host, port, path.parent()) {
            Some(Lookup::Subset(config)) => return Ok(config),
            Some(Lookup::NeedsFile) => return RegistryConfig::load(path),
            None => {
                tracing::debug!(snapshot = %name, "the configuration snapshot is stale or not ours; rebuilding it")
            }
        }
    }
    let (config, bytes) = load_and_compile(path, identity.clone())?;
    // The file was read more than once: keep the snapshot only if it did not change meanwhile,
    // so that a snapshot never holds entries of another version than the one it names.
    if identity_of(path).as_ref() != Some(&identity) {
        tracing::debug!("the configuration changed while it was read; no snapshot kept");
    } else if let Err(e) = store.write_private(&name, &bytes) {
        tracing::debug!(error = %e, "could not keep the configuration snapshot");
    }
    Ok(config)
}

enum Lookup {
    Subset(RegistryConfig),
    /// An entry whose secret is written inline could serve: read the file itself.
    NeedsFile,
}

/// The file's identity, with the SHA-256 of its bytes read in 64 KiB pieces.
fn identity_of(path: &Path) -> Option<Identity> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let mut file = File::open(&canonical).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > super::MAX_CONFIG_FILE {
        return None;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (dev, ino, mtime_ns) = file_identity(&meta);
    Some(Identity {
        path: canonical.display().to_string(),
        dev,
        ino,
        len: meta.len(),
        mtime_ns,
        sha256,
    })
}

#[cfg(unix)]
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64, i128) {
    use std::os::unix::fs::MetadataExt;
    let ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    (meta.dev(), meta.ino(), ns)
}

#[cfg(not(unix))]
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64, i128) {
    let ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    (0, 0, ns)
}

fn snapshot_name(config_path: &str) -> String {
    format!("config-{:016x}.snap", fnv(config_path.as_bytes()))
}

/// Reads the whole file, builds the configuration, and compiles its snapshot.
fn load_and_compile(
    path: &Path,
    identity: Identity,
) -> Result<(RegistryConfig, Vec<u8>), crate::Error> {
    let config = RegistryConfig::load(path)?;
    let origin = config.origin().to_owned();
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Toml,
    };
    let text = crate::files::read_text(path, super::MAX_CONFIG_FILE).map_err(|e| {
        ConfigError::new(
            &origin,
            format!("cannot read the registry configuration: {e}"),
        )
    })?;
    let (values, shape) = file::parse_raw(&text, format, &origin)?;
    let bytes = compile(&config, values, shape, identity, origin);
    Ok((config, bytes))
}

/// The snapshot of `config`, whose entries were written as `values`.
fn compile(
    config: &RegistryConfig,
    values: Vec<Value>,
    shape: Shape,
    identity: Identity,
    origin: String,
) -> Vec<u8> {
    let entries = config.entries();
    let literal = entries
        .iter()
        .filter(|e| e.pattern.literal_host().is_some())
        .count();
    let buckets = (literal / PER_BUCKET).max(1).next_power_of_two() as u64;
    let mut bodies: Vec<Vec<Record>> = (0..buckets).map(|_| Vec::new()).collect();
    let mut wild = Vec::new();
    for (i, (entry, value)) in entries.iter().zip(values).enumerate() {
        let record = if entry.source.has_inline_secret() {
            Record {
                i,
                v: None,
                p: Some(entry.pattern.as_str().to_owned()),
                withheld: true,
            }
        } else {
            Record {
                i,
                v: Some(value),
                p: None,
                withheld: false,
            }
        };
        match entry.pattern.literal_host() {
            Some(host) => {
                let key = registry_key(host, entry.pattern.port());
                bodies[(fnv(key.as_bytes()) % buckets) as usize].push(record);
            }
            None => wild.push(record),
        }
    }
    let encode =
        |records: &[Record]| serde_json::to_vec(records).unwrap_or_else(|_| b"[]".to_vec());
    let bodies: Vec<Vec<u8>> = bodies.iter().map(|b| encode(b)).collect();
    let wild = encode(&wild);

    // The header's length is needed for the offsets: lay the sections out after a header
    // written with placeholder offsets of the final width, then write it for real.
    let mut header = Header {
        crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        config: identity,
        origin,
        export: shape == Shape::Export,
        entries: entries.len(),
        buckets,
        table_at: u64::MAX,
        wild_at: u64::MAX,
        wild_len: u64::MAX,
        wild_sum: u64::MAX,
    };
    let header_len = serde_json::to_vec(&header).map_or(0, |h| h.len()) as u64;
    let table_at = 16 + header_len;
    let mut offset = table_at + buckets * 20;
    let mut table = Vec::with_capacity(bodies.len() * 20);
    for body in &bodies {
        table.extend_from_slice(&offset.to_le_bytes());
        table.extend_from_slice(&(body.len() as u32).to_le_bytes());
        table.extend_from_slice(&fnv(body).to_le_bytes());
        offset += body.len() as u64;
    }
    header.table_at = table_at;
    header.wild_at = offset;
    header.wild_len = wild.len() as u64;
    header.wild_sum = fnv(&wild);
    let mut json = serde_json::to_vec(&header).unwrap_or_default();
    // Same width as the placeholder (u64::MAX has the most digits): pad with spaces, which
    // JSON ignores.
    json.resize(header_len as usize, b' ');

    let mut out = Vec::with_capacity(offset as usize + wild.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&table);
    for body in &bodies {
        out.extend_from_slice(body);
    }
    out.extend_from_slice(&wild);
    out
}

/// The entries for `host`/`port` from the snapshot in `file`, if it is one we can trust for
/// `identity`; `None` means "rebuild".
fn read_subset(
    mut file: File,
    identity: &Identity,
    host: &str,
    port: Option<u16>,
    dir: Option<&Path>,
) -> Option<Lookup> {
    let mut fixed = [0u8; 16];
    file.read_exact(&mut fixed).ok()?;
    if &fixed[..8] != MAGIC || u32::from_le_bytes(fixed[8..12].try_into().ok()?) != FORMAT {
        return None;
    }
    let header_len = u32::from_le_bytes(fixed[12..16].try_into().ok()?);
    if header_len > MAX_HEADER {
        return None;
    }
    let header: Header =
        serde_json::from_slice(&read_at(&mut file, 16, u64::from(header_len))?).ok()?;
    if header.crate_version != env!("CARGO_PKG_VERSION") || header.config != *identity {
        return None;
    }
    let key = registry_key(&host.to_ascii_lowercase(), port);
    let bucket = fnv(key.as_bytes()) % header.buckets.max(1);
    let row = read_at(
        &mut file,
        header.table_at.checked_add(bucket.checked_mul(20)?)?,
        20,
    )?;
    let at = u64::from_le_bytes(row[0..8].try_into().ok()?);
    let len = u64::from(u32::from_le_bytes(row[8..12].try_into().ok()?));
    let sum = u64::from_le_bytes(row[12..20].try_into().ok()?);
    let mut records = section(&mut file, at, len, sum)?;
    records.extend(section(
        &mut file,
        header.wild_at,
        header.wild_len,
        header.wild_sum,
    )?);
    records.sort_by_key(|r| r.i);

    let shape = if header.export {
        Shape::Export
    } else {
        Shape::Registry
    };
    let mut entries = Vec::new();
    let mut positions = Vec::new();
    for record in records {
        if record.i >= header.entries {
            return None;
        }
        if record.withheld {
            let pattern = MatchPattern::parse(record.p.as_deref()?).ok()?;
            if pattern.serves_registry(host, port) {
                return Some(Lookup::NeedsFile);
            }
            continue;
        }
        let entry = file::entry(record.v.as_ref()?, shape, record.i, &header.origin).ok()?;
        // Another host in the same bucket: never a candidate.
        if entry.pattern.serves_registry(host, port) {
            entries.push(entry);
            positions.push(record.i);
        }
    }
    Some(Lookup::Subset(RegistryConfig::subset(
        entries,
        positions,
        header.origin,
        shape,
        dir,
    )))
}

/// A section's records, if its bytes match the checksum the table gives.
fn section(file: &mut File, at: u64, len: u64, sum: u64) -> Option<Vec<Record>> {
    let bytes = read_at(file, at, len)?;
    if fnv(&bytes) != sum {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

fn read_at(file: &mut File, at: u64, len: u64) -> Option<Vec<u8>> {
    if len > MAX_SNAPSHOT {
        return None;
    }
    file.seek(SeekFrom::Start(at)).ok()?;
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// `host` or `host:port`, the host lowercased by the caller.
fn registry_key(host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// FNV-1a, 64 bits: stable across builds, which std's hashers are not promised to be.
fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, DiskStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path().join("cache")).unwrap();
        (dir, store)
    }

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("registries.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const CONFIG: &str = r#"
[[registry]]
pattern = "a.example.com/*"
basic = { username = "a", password = { env = "A_PASSWORD" } }

[[registry]]
pattern = "b.example.com/team/*"
basic = { username = "b", password = { env = "B_PASSWORD" } }

[[registry]]
pattern = "*.example.com/*"
basic = { username = "wild", password = { env = "W_PASSWORD" } }

[[registry]]
pattern = "inline.example.com/*"
basic = { username = "i", password = "inline-secret-never-in-a-snapshot" }
"#;

    #[test]
    fn a_snapshot_serves_the_candidates_of_one_host_and_keeps_no_inline_secret() {
        let (dir, store) = store();
        let path = write(dir.path(), CONFIG);
        // First run: builds the snapshot, answers with everything.
        let first = load_for_registry(&path, &store, "b.example.com", None).unwrap();
        assert_eq!(first.entries().len(), 4);
        let snap = std::fs::read(store.dir().join(snapshot_name(
            &std::fs::canonicalize(&path).unwrap().display().to_string(),
        )))
        .unwrap();
        assert!(!String::from_utf8_lossy(&snap).contains("inline-secret"));

        // Later runs: the host's own entries and the wildcard ones, at their positions.
        let second = load_for_registry(&path, &store, "B.example.com", None).unwrap();
        let patterns: Vec<&str> = second
            .entries()
            .iter()
            .map(|e| e.pattern.as_str())
            .collect();
        assert_eq!(patterns, ["b.example.com/team/*", "*.example.com/*"]);
        assert_eq!(second.position(0), 1);
        assert_eq!(second.position(1), 2);
        // Another port: only what serves it (nothing here).
        let other = load_for_registry(&path, &store, "b.example.com", Some(5000)).unwrap();
        assert!(other.entries().is_empty());
        // The inline entry's host: the file itself is read.
        let inline = load_for_registry(&path, &store, "inline.example.com", None).unwrap();
        assert_eq!(inline.entries().len(), 4);
    }

    #[test]
    fn an_edited_or_tampered_snapshot_is_rebuilt_never_used() {
        let (dir, store) = store();
        let path = write(dir.path(), CONFIG);
        load_for_registry(&path, &store, "a.example.com", None).unwrap();
        // An edit of the same size: the content hash sees it.
        let edited = CONFIG.replace("a.example.com/*", "c.example.com/*");
        assert_eq!(edited.len(), CONFIG.len());
        std::fs::write(&path, &edited).unwrap();
        let got = load_for_registry(&path, &store, "c.example.com", None).unwrap();
        assert_eq!(got.entries().len(), 4, "rebuilt from the file");
        let got = load_for_registry(&path, &store, "c.example.com", None).unwrap();
        assert_eq!(got.entries()[0].pattern.as_str(), "c.example.com/*");

        // A flipped byte in a section: its checksum refuses it.
        let name = snapshot_name(&std::fs::canonicalize(&path).unwrap().display().to_string());
        let snap_path = store.dir().join(&name);
        let mut bytes = std::fs::read(&snap_path).unwrap();
        let at = bytes
            .windows(15)
            .position(|w| w == b"c.example.com/*")
            .unwrap();
        bytes[at] = b'd';
        std::fs::write(&snap_path, &bytes).unwrap();
        let got = load_for_registry(&path, &store, "d.example.com", None).unwrap();
        assert!(
            got.entries()
                .iter()
                .all(|e| e.pattern.as_str() != "d.example.com/*"),
            "a tampered record was used"
        );
    }
}
