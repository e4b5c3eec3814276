//! The `slimbox serve` load benchmark's client (run by `scripts/bench-serve`
//! after `bench_serve`), for issue 20: what hostile and heavy load costs.
//!
//! `bench_serve_load SLIMBOX_BINARY` fills a local store in a temporary
//! folder (a 25 MB incompressible object, a 25 MB text object stored
//! zstd-compressed, a 16 KiB object; about 35 MB on disk), and starts a
//! fresh `slimbox serve` on loopback for each part, which prints:
//! - hostile: 1,000 connections that requested the 25 MB object and never
//!   read (a 4 KiB receive window), plus 1,000 connections posting a "put
//!   back" form (with a valid page link) one byte every 3 s; meanwhile a
//!   well-behaved client's page and 16 KiB download times (5 of each, new
//!   connections, 10 s timeout), the server's peak RSS and threads;
//! - 200 parallel downloads of the plain 25 MB object, and 40 of the
//!   compressed one: peak RSS and threads, wall time, aggregate MB/s.
//!
//! Nothing is asserted: a server that fails a part shows it in the figures
//! (timed out, errors). Loopback only; every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/serve.rs"]
mod serve_support;

use bytes::Bytes;
use slimbox::links::Secret;
use slimbox::store::{sha256, to_hex, Compression, PutOptions, Store};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

const BIG: usize = 25_000_000;
const SMALL: usize = 16 * 1024;
const STALLED: usize = 1000;
const SLOW_BODIES: usize = 1000;
const PARALLEL_PLAIN: usize = 200;
const PARALLEL_ZSTD: usize = 40;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Incompressible bytes (xorshift), different per `seed`.
fn noise(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// Text that compresses about 5:1, like a CSV export.
fn text(len: usize) -> Bytes {
    let mut out = Vec::with_capacity(len + 64);
    let mut i: u64 = 0;
    while out.len() < len {
        i += 1;
        let row = format!(
            "{i},customer {},{}.{:02},EUR,2024-03-{:02}\n",
            i % 997,
            i * 7 % 10_000,
            i % 100,
            i % 28 + 1
        );
        out.extend_from_slice(row.as_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

struct Links {
    base_dir: PathBuf,
    config: PathBuf,
    secret: Secret,
    big: (String, usize),
    zstd: (String, usize),
    small: String,
}

async fn fill(dir: &Path) -> Links {
    let store_dir = dir.join("store");
    let store = Store::open(&store_dir.to_string_lossy())
        .unwrap()
        .with_compression(Compression::from_zstd_level(Some(3)));
    let big = noise(BIG, 1);
    let big_hash = sha256(&big);
    store.put(&big_hash, big, PutOptions::new()).await.unwrap();
    let csv = text(BIG);
    let csv_hash = sha256(&csv);
    let put = store
        .put(
            &csv_hash,
            csv,
            PutOptions::new()
                .compress_as(Some("text/csv"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .unwrap();
    store.sync_later(vec![csv_hash]).wait().await.unwrap();
    assert!(
        put.compressed_size.is_some(),
        "the text was not stored compressed"
    );
    let small = noise(SMALL, 7);
    let small_hash = sha256(&small);
    store
        .put(&small_hash, small, PutOptions::new())
        .await
        .unwrap();
    // The page reads the index: an empty one is enough.
    slimbox::index::Index::open(&dir.join("index.sqlite")).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{0}\"\n[index]\npath = \"{1}/index.sqlite\"\n\
             [links]\nsecret_file = \"{1}/links.key\"\n[[account]]\nname = \"b\"\n\
             host = \"127.0.0.1\"\nuser = \"b\"\npassword_env = \"UNUSED\"\n",
            store_dir.display(),
            dir.display()
        ),
    )
    .unwrap();
    Links {
        base_dir: dir.to_path_buf(),
        config,
        secret: Secret::load_or_create(&dir.join("links.key")).unwrap(),
        big: (to_hex(&big_hash), BIG),
        zstd: (to_hex(&csv_hash), BIG),
        small: to_hex(&small_hash),
    }
}

struct Server {
    child: Child,
    base: String,
    addr: std::net::SocketAddr,
}

impl Server {
    fn start(bin: &str, config: &Path) -> Server {
        let (child, base) = serve_support::start(bin, config);
        let addr = base.strip_prefix("http://").unwrap().parse().unwrap();
        Server { child, base, addr }
    }

    /// A `/proc/PID/status` figure (kB for sizes).
    fn status(&self, key: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn peak_rss_mib(&self) -> f64 {
        self.status("VmHWM:") as f64 / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The most threads the server had while `stop` was false.
fn watch_threads(server: &Server, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let path = format!("/proc/{}/status", server.child.id());
    std::thread::spawn(move || {
        let mut most = 0;
        while !stop.load(Ordering::Relaxed) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let n = text
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            most = most.max(n);
            std::thread::sleep(Duration::from_millis(100));
        }
        most
    })
}

#[tokio::main]
async fn main() {
    let bin = std::env::args()
        .nth(1)
        .expect("usage: bench_serve_load SLIMBOX_BINARY");
    let dir = tempfile::tempdir().unwrap();
    let links = fill(dir.path()).await;
    hostile(&bin, &links).await;
    let (hash, len) = links.big.clone();
    parallel(&bin, &links, &hash, len, PARALLEL_PLAIN, "plain").await;
    let (hash, len) = links.zstd.clone();
    parallel(&bin, &links, &hash, len, PARALLEL_ZSTD, "zstd-compressed").await;
    drop(links.base_dir);
}

/// A connection that asks for `path` and never reads.
async fn stalled(addr: std::net::SocketAddr, path: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut s = tokio::time::timeout(CLIENT_TIMEOUT, socket.connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    Ok(s)
}

/// A "put back" POST whose body is still to come.
async fn slow_post(addr: std::net::SocketAddr, path: &str) -> std::io::Result<TcpStream> {
    let mut s = tokio::time::timeout(CLIENT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await?;
    Ok(s)
}

async fn hostile(bin: &str, links: &Links) {
    let server = Server::start(bin, &links.config);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = watch_threads(&server, stop.clone());
    let at = |link: String| link[server.base.len()..].to_string();
    let big = at(serve_support::file_link(
        &links.secret,
        &server.base,
        &links.big.0,
        "big.bin",
    ));
    let page = serve_support::page_link(&links.secret, &server.base, "b");
    let put_back = at(page.replacen("/m/b?", "/m/b/put-back?", 1));
    let small = serve_support::file_link(&links.secret, &server.base, &links.small, "small.pdf");
    let t = Instant::now();
    let mut held = Vec::new();
    let mut failed = 0;
    for _ in 0..STALLED {
        match stalled(server.addr, &big).await {
            Ok(s) => held.push(s),
            Err(_) => failed += 1,
        }
    }
    let mut slow = Vec::new();
    for _ in 0..SLOW_BODIES {
        match slow_post(server.addr, &put_back).await {
            Ok(s) => slow.push(s),
            Err(_) => failed += 1,
        }
    }
    println!(
        "hostile: {STALLED} stalled 25 MB downloads + {SLOW_BODIES} slow bodies opened in {:.1} s \
         ({failed} failed to connect)",
        t.elapsed().as_secs_f64()
    );
    let dribbled = Arc::new(AtomicU64::new(0));
    let dribbler = tokio::spawn(dribble(slow, dribbled.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut page_times = Vec::new();
    let mut small_times = Vec::new();
    for _ in 0..5 {
        page_times.push(timed_get(&page, None).await);
        small_times.push(timed_get(&small, Some(SMALL)).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "  page by a well-behaved client:         {}",
        summary(&page_times)
    );
    println!(
        "  16 KiB download by a well-behaved one: {}",
        summary(&small_times)
    );
    stop.store(true, Ordering::Relaxed);
    let most = threads.join().unwrap_or(0);
    println!(
        "  server peak RSS {:.0} MiB, peak threads {most}; {} slow-body bytes written",
        server.peak_rss_mib(),
        dribbled.load(Ordering::Relaxed)
    );
    dribbler.abort();
    drop(held);
}

/// One byte to each slow connection every 3 s, for at most 60 s.
async fn dribble(mut conns: Vec<TcpStream>, written: Arc<AtomicU64>) {
    for _ in 0..20 {
        for c in conns.iter_mut() {
            if let Ok(Ok(())) =
                tokio::time::timeout(Duration::from_millis(5), c.write_all(b"t")).await
            {
                written.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Time of one GET on a new connection, read whole; `Err` says why not.
async fn timed_get(url: &str, len: Option<usize>) -> Result<Duration, String> {
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let t = Instant::now();
    let res = client.get(url).send().await.map_err(|e| short(&e))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| short(&e))?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    if len.is_some_and(|n| n != body.len()) {
        return Err(format!("{} bytes", body.len()));
    }
    Ok(t.elapsed())
}

fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("timed out ({} s)", CLIENT_TIMEOUT.as_secs())
    } else {
        "failed".to_string()
    }
}

fn summary(times: &[Result<Duration, String>]) -> String {
    let mut ok: Vec<f64> = times
        .iter()
        .filter_map(|t| t.as_ref().ok().map(|d| d.as_secs_f64() * 1000.0))
        .collect();
    let bad: Vec<&String> = times.iter().filter_map(|t| t.as_ref().err()).collect();
    ok.sort_by(f64::total_cmp);
    let mut s = match ok.as_slice() {
        [] => "no answer".to_string(),
        v => format!(
            "median {:.0} ms, worst {:.0} ms ({} of {})",
            v[v.len() / 2],
            v[v.len() - 1],
            v.len(),
            times.len()
        ),
    };
    if let Some(why) = bad.first() {
        s.push_str(&format!("; {} failed: {why}", bad.len()));
    }
    s
}

async fn parallel(bin: &str, links: &Links, hash: &str, len: usize, n: usize, what: &str) {
    let server = Server::start(bin, &links.config);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = watch_threads(&server, stop.clone());
    let url = serve_support::file_link(&links.secret, &server.base, hash, "object.bin");
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap();
            let mut res = client.get(&url).send().await.ok()?;
            let mut got = 0;
            while let Some(c) = res.chunk().await.ok()? {
                got += c.len();
            }
            (got == len).then_some(())
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if let Ok(Some(())) = task.await {
            ok += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let most = threads.join().unwrap_or(0);
    println!(
        "{n} parallel downloads of a 25 MB {what} object: {ok} complete in {secs:.1} s \
         ({:.0} MB/s in all), server peak RSS {:.0} MiB, peak threads {most}",
        (ok * len) as f64 / 1e6 / secs,
        server.peak_rss_mib()
    );
}
