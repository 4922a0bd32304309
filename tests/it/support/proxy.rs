//! A loopback HTTP proxy in front of the moto emulator, for tests that must count upstream calls
//! made by *other processes* (the helper binaries), and inject faults.
//!
//! - Listens on 127.0.0.1:0 and forwards every request to moto unchanged (headers included, so
//!   SigV4 signatures still verify), one upstream connection per request.
//! - Counts requests by AWS action: the `X-Amz-Target` operation (`GetAuthorizationToken`), or
//!   the query protocol's `Action=` (`AssumeRole`), else `METHOD PATH`.
//! - Rewrites `expiresAt` in ECR `GetAuthorizationToken` replies to now + the token lifetime
//!   (12 h by default), standing in for real ECR: moto always answers 2015-01-01, which no cache
//!   may keep.
//! - Per-request fault hooks ([`Proxy::set_hook`]): a delay, a status override with a body, or a
//!   connection reset, chosen from the request's action and its number.
//!
//! It runs on its own thread with its own Tokio runtime, so tests can block on child processes.
//! Nothing it handles is printed: bodies hold tokens.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request or response head, and body, the proxy handles.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the proxy knows about a request when it asks the hook.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `GetAuthorizationToken`, `AssumeRole`, or `METHOD PATH`.
    pub action: String,
    /// 1 for the first request with this action, 2 for the second, …
    pub nth: usize,
}

/// What to do to one request. The default forwards it untouched.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    /// Wait this long before anything else.
    pub delay: Option<Duration>,
    /// Answer with this status and body instead of forwarding.
    pub status: Option<(u16, String)>,
    /// The answer's content type; JSON (AWS's JSON 1.1 protocol) when unset.
    pub content_type: Option<&'static str>,
    /// Drop the connection with a TCP reset instead of answering.
    pub reset: bool,
}

impl Fault {
    pub fn delay(d: Duration) -> Self {
        Fault {
            delay: Some(d),
            ..Fault::default()
        }
    }

    pub fn status(code: u16, body: impl Into<String>) -> Self {
        Fault {
            status: Some((code, body.into())),
            ..Fault::default()
        }
    }

    /// Answer with `code`, a body of `content_type`.
    pub fn reply(code: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Fault {
            status: Some((code, body.into())),
            content_type: Some(content_type),
            ..Fault::default()
        }
    }

    pub fn reset() -> Self {
        Fault {
            reset: true,
            ..Fault::default()
        }
    }
}

type Hook = Arc<dyn Fn(&RequestInfo) -> Fault + Send + Sync>;

struct State {
    upstream: String,
    counts: Mutex<BTreeMap<String, usize>>,
    hook: Mutex<Option<Hook>>,
    token_lifetime: Mutex<Option<Duration>>,
}

/// The running proxy; stopped when dropped.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`: point `AWS_ENDPOINT_URL` here.
    pub endpoint: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://HOST:PORT`).
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream,
            counts: Mutex::default(),
            hook: Mutex::default(),
            token_lifetime: Mutex::new(Some(Duration::from_secs(12 * 3600))),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, served, stopped));
        });
        Proxy {
            endpoint,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Requests seen with this action.
    pub fn count(&self, action: &str) -> usize {
        self.counts().get(action).copied().unwrap_or(0)
    }

    /// Requests seen, per action.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        lock(&self.state.counts).clone()
    }

    /// Decide per request what fault to inject.
    pub fn set_hook(&self, hook: impl Fn(&RequestInfo) -> Fault + Send + Sync + 'static) {
        *lock(&self.state.hook) = Some(Arc::new(hook));
    }

    /// Forward everything untouched again.
    pub fn clear_hook(&self) {
        *lock(&self.state.hook) = None;
    }

    /// Rewrite ECR `expiresAt` to now + `lifetime`; `None` leaves moto's answer alone.
    pub fn set_token_lifetime(&self, lifetime: Option<Duration>) {
        *lock(&self.state.token_lifetime) = lifetime;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(handle(stream, Arc::clone(&state)));
                }
            }
        }
    }
}

/// One HTTP message: the head as text lines and the body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one message; `until_eof` for a response without length (the server closes).
async fn read_message(stream: &mut TcpStream, until_eof: bool) -> Option<Message> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let start = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut msg = Message {
        start,
        headers,
        body: Vec::new(),
    };
    let chunked = msg
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if let Some(len) = msg
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > MAX_BODY {
            return None;
        }
        while rest.len() < len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        msg.body = rest;
    } else if chunked || until_eof {
        while rest.len() <= MAX_BODY {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 || (chunked && rest.ends_with(b"0\r\n\r\n")) {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
            if chunked && rest.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        msg.body = if chunked { dechunk(&rest)? } else { rest };
    }
    msg.headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case("transfer-encoding") && !k.eq_ignore_ascii_case("content-length")
    });
    Some(msg)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

async fn write_message(stream: &mut TcpStream, msg: &Message) -> std::io::Result<()> {
    let mut head = format!("{}\r\n", msg.start);
    for (k, v) in &msg.headers {
        if k.eq_ignore_ascii_case("connection") {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        msg.body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&msg.body).await?;
    stream.flush().await
}

fn action_of(req: &Message) -> String {
    if let Some(target) = req.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let body = String::from_utf8_lossy(&req.body);
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return action.to_owned();
    }
    let mut parts = req.start.split(' ');
    format!(
        "{} {}",
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("")
    )
}

async fn handle(mut client: TcpStream, state: Arc<State>) {
    let Some(req) = read_message(&mut client, false).await else {
        return;
    };
    let action = action_of(&req);
    let nth = {
        let mut counts = lock(&state.counts);
        let n = counts.entry(action.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let hook = lock(&state.hook).clone();
    let fault = hook
        .map(|h| {
            h(&RequestInfo {
                action: action.clone(),
                nth,
            })
        })
        .unwrap_or_default();
    if let Some(d) = fault.delay {
        tokio::time::sleep(d).await;
    }
    if fault.reset {
        let _ = client.set_zero_linger();
        drop(client);
        return;
    }
    if let Some((code, body)) = fault.status {
        let msg = Message {
            start: format!("HTTP/1.1 {code} Injected"),
            headers: vec![(
                "Content-Type".to_owned(),
                fault
                    .content_type
                    .unwrap_or("application/x-amz-json-1.1")
                    .to_owned(),
            )],
            body: body.into_bytes(),
        };
        let _ = write_message(&mut client, &msg).await;
        return;
    }
    let Some(mut resp) = forward(&state.upstream, req).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let lifetime = *lock(&state.token_lifetime);
    if let (Some(life), "GetAuthorizationToken") = (lifetime, action.as_str()) {
        if resp.start.split(' ').nth(1) == Some("200") {
            resp.body = rewrite_expiry(&resp.body, life).unwrap_or(resp.body);
        }
    }
    let _ = write_message(&mut client, &resp).await;
}

async fn forward(upstream: &str, mut req: Message) -> Option<Message> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    // Everything else stays as signed; only the connection is ours to manage.
    req.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("connection"));
    write_message(&mut server, &req).await.ok()?;
    read_message(&mut server, true).await
}

fn rewrite_expiry(body: &[u8], life: Duration) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let expires = SystemTime::now()
        .checked_add(life)?
        .duration_since(UNIX_EPOCH)
        .ok()?;
    for data in v.get_mut("authorizationData")?.as_array_mut()? {
        data["expiresAt"] = serde_json::json!(expires.as_secs());
    }
    serde_json::to_vec(&v).ok()
}
