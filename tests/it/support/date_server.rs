//! A loopback server that stands in for an AWS endpoint whose clock is off: every request gets
//! a `403` (as an unsigned request to AWS does) with a `Date` header `offset` seconds from this
//! machine's clock. Stopped when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::primitives::{DateTime, DateTimeFormat};

pub struct DateServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DateServer {
    /// Answers with the time `offset` seconds ahead (negative: behind) of this machine's.
    pub fn start(offset: i64) -> DateServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the date server");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    answer(stream, offset);
                }
            }
        });
        DateServer {
            endpoint,
            stop,
            thread: Some(thread),
        }
    }
}

fn answer(mut stream: TcpStream, offset: i64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let date = DateTime::from_secs(now + offset)
        .fmt(DateTimeFormat::HttpDate)
        .unwrap();
    let reply = format!(
        "HTTP/1.1 403 Forbidden\r\ndate: {date}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let _ = stream.write_all(reply.as_bytes());
}

impl Drop for DateServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
