//! The `slimbox serve` benchmark's client (run by `scripts/bench-serve`).
//!
//! `bench_serve SLIMBOX_BINARY` fills a local store in a temporary folder
//! (one 100 MB incompressible object and 1,000 objects of 16 KiB), starts
//! `slimbox serve` on loopback, and prints:
//! - the throughput of signed-link downloads of the 100 MB object (MB/s,
//!   best and median of 5), against `cat OBJECT > /dev/null` in the same run;
//! - the 1,000 small objects fetched by 16 concurrent clients with
//!   keep-alive (requests/s, p50 and p99 latency), best of 3 rounds.
//!   Every response's length is checked; the server hashes every object.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/serve.rs"]
mod serve_support;

use bytes::Bytes;
use slimbox::links::Secret;
use slimbox::store::{object_key, sha256, to_hex, PutOptions, Store};

const BIG: usize = 100_000_000;
const SMALL: usize = 16 * 1024;
const SMALL_COUNT: usize = 1000;
const CLIENTS: usize = 16;

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

#[tokio::main]
async fn main() {
    let bin = std::env::args()
        .nth(1)
        .expect("usage: bench_serve SLIMBOX_BINARY");
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir.to_string_lossy()).unwrap();
    let big = noise(BIG, 1);
    let big_hash = sha256(&big);
    store.put(&big_hash, big, PutOptions::new()).await.unwrap();
    let mut small = Vec::new();
    for i in 0..SMALL_COUNT {
        let d = noise(SMALL, 1000 + i as u64);
        let h = sha256(&d);
        store.put(&h, d, PutOptions::new()).await.unwrap();
        small.push(to_hex(&h));
    }
    let secret = Secret::load_or_create(&dir.path().join("links.key")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{0}\"\n[index]\npath = \"{1}/index.sqlite\"\n\
             [links]\nsecret_file = \"{1}/links.key\"\n[[account]]\nname = \"b\"\n\
             host = \"127.0.0.1\"\nuser = \"b\"\npassword_env = \"UNUSED\"\n",
            store_dir.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let (mut child, base) = serve_support::start(&bin, &config);
    let client = reqwest::Client::new();

    let file = store_dir.join(object_key(&big_hash).as_ref());
    let big_url = serve_support::file_link(&secret, &base, &to_hex(&big_hash), "big.bin");
    big_object(&client, &big_url, &file).await;
    let urls: Vec<String> = small
        .iter()
        .enumerate()
        .map(|(i, h)| serve_support::file_link(&secret, &base, h, &format!("file{i}.pdf")))
        .collect();
    small_objects(&client, Arc::new(urls)).await;
    let _ = child.kill();
    let _ = child.wait();
}

async fn big_object(client: &reqwest::Client, url: &str, file: &std::path::Path) {
    let mut cat = Vec::new();
    let mut served = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let ok = Command::new("sh")
            .arg("-c")
            .arg("cat \"$1\" > /dev/null")
            .arg("sh")
            .arg(file)
            .status()
            .unwrap();
        assert!(ok.success());
        cat.push(mb_per_s(BIG, t.elapsed()));
        let t = Instant::now();
        let mut res = client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let mut n = 0;
        while let Some(c) = res.chunk().await.unwrap() {
            n += c.len();
        }
        assert_eq!(n, BIG);
        served.push(mb_per_s(BIG, t.elapsed()));
    }
    let (cat_best, cat_med) = best_median(&mut cat);
    let (s_best, s_med) = best_median(&mut served);
    println!("100 MB object, 5 runs each:");
    println!("  cat to /dev/null  best {cat_best:8.0} MB/s   median {cat_med:8.0} MB/s");
    println!("  slimbox serve     best {s_best:8.0} MB/s   median {s_med:8.0} MB/s");
    println!("  serve / cat (median): {:.2}", s_med / cat_med);
}

async fn small_objects(client: &reqwest::Client, urls: Arc<Vec<String>>) {
    let mut best: Option<(f64, Duration, Duration)> = None;
    for _ in 0..3 {
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (client, urls, next) = (client.clone(), Arc::clone(&urls), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = urls.get(i) else { break };
                    let t = Instant::now();
                    let res = client.get(url).send().await.unwrap();
                    assert_eq!(res.status(), 200);
                    assert_eq!(res.bytes().await.unwrap().len(), SMALL);
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut lat = Vec::new();
        for task in tasks {
            lat.extend(task.await.unwrap());
        }
        let rps = urls.len() as f64 / t.elapsed().as_secs_f64();
        lat.sort();
        let p50 = lat[lat.len() / 2];
        let p99 = lat[(lat.len() * 99).div_ceil(100) - 1];
        if best.is_none_or(|b| rps > b.0) {
            best = Some((rps, p50, p99));
        }
    }
    let (rps, p50, p99) = best.unwrap();
    println!("{SMALL_COUNT} objects of 16 KiB, {CLIENTS} concurrent clients (best of 3 rounds):");
    println!(
        "  {rps:.0} requests/s   p50 {:.2} ms   p99 {:.2} ms",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn best_median(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(|a, b| b.total_cmp(a));
    (v[0], v[v.len() / 2])
}
