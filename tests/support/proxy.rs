//! Misbehaving networks for tests: an HTTP proxy in front of the test homeserver that answers
//! chosen requests itself, and a "black hole" that accepts connections and never answers.
//!
//! Both run on plain threads with blocking sockets, one connection at a time per thread; the
//! proxy serves one request per connection (it tells both sides `Connection: close`), and puts
//! its own URL for the homeserver's in what it forwards back (the login's `well_known`), so
//! that the client stays behind it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Decides, from a request's method and path (with its query), whether the proxy answers it
/// itself with a `404` and an empty body instead of forwarding it.
pub type Refuse = fn(method: &str, path: &str) -> bool;

/// Gives, from a request's method and path (with its query), the path to forward instead, if
/// it is to change.
pub type Rewrite = fn(method: &str, path: &str) -> Option<String>;

/// A running proxy; it lives as long as the test process.
pub struct Proxy {
    /// Its base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The requests it answered itself, as `METHOD path`.
    pub refused: Arc<Mutex<Vec<String>>>,
    /// How many requests it forwarded.
    pub forwarded: Arc<AtomicUsize>,
    /// How many requests it forwarded rewritten.
    pub rewritten: Arc<AtomicUsize>,
}

/// Starts a proxy in front of `upstream` (`http://host:port`) that answers what `refuse` picks
/// with `404` and an empty body, as a reverse proxy without the endpoint does.
pub fn start(upstream: &str, refuse: Refuse) -> Proxy {
    start_with(upstream, refuse, |_, _| None)
}

/// [`start`], also forwarding what `rewrite` picks with its new path.
pub fn start_with(upstream: &str, refuse: Refuse, rewrite: Rewrite) -> Proxy {
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the proxy");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let refused = Arc::new(Mutex::new(Vec::new()));
    let forwarded = Arc::new(AtomicUsize::new(0));
    let rewritten = Arc::new(AtomicUsize::new(0));
    let (r, f, own) = (refused.clone(), forwarded.clone(), url.clone());
    let w = rewritten.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (upstream, r, f) = (upstream.clone(), r.clone(), f.clone());
            let (own, w) = (own.clone(), w.clone());
            std::thread::spawn(move || {
                let rules = (refuse, rewrite, &*w);
                if let Err(e) = serve(client, (&upstream, &own), rules, &r, &f) {
                    eprintln!("proxy: {e}");
                }
            });
        }
    });
    Proxy {
        url,
        refused,
        forwarded,
        rewritten,
    }
}

/// A listener that accepts every connection and never answers (nor closes it): a homeserver
/// that hangs. Returns its base URL.
pub fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the black hole");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// Reads one HTTP message head (up to the blank line) and its `Content-Length` body.
fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(None);
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

/// `head` with its `Connection` header replaced by `Connection: close`.
fn closing(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| {
            !l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case("connection"))
        })
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

fn serve(
    mut client: TcpStream,
    (upstream, own): (&str, &str),
    (refuse, rewrite, rewritten): (Refuse, Rewrite, &AtomicUsize),
    refused: &Mutex<Vec<String>>,
    forwarded: &AtomicUsize,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    let Some((head, body)) = read_message(&mut client)? else {
        return Ok(());
    };
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if refuse(method, path) {
        refused.lock().unwrap().push(format!("{method} {path}"));
        return client.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    forwarded.fetch_add(1, Ordering::SeqCst);
    let head = match rewrite(method, path) {
        Some(new_path) => {
            rewritten.fetch_add(1, Ordering::SeqCst);
            head.replacen(path, &new_path, 1)
        }
        None => head.clone(),
    };
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(closing(&head).as_bytes())?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    let (head, body) = response.split_at(split);
    let head = String::from_utf8_lossy(head);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    let body = String::from_utf8_lossy(&body).replace(&format!("http://{upstream}"), own);
    let head: Vec<String> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| {
            !l.split_once(':').is_some_and(|(n, _)| {
                n.eq_ignore_ascii_case("content-length")
                    || n.eq_ignore_ascii_case("transfer-encoding")
            })
        })
        .map(str::to_owned)
        .chain([format!("Content-Length: {}", body.len())])
        .collect();
    client.write_all(closing(&head.join("\r\n")).as_bytes())?;
    client.write_all(body.as_bytes())
}

/// The body of a chunked transfer, joined.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&raw[..end]);
        let size = size.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    body
}
