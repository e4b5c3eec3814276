//! Detach throughput on one message with a 50 MB base64 attachment, next to
//! SHA-256 alone and base64 decode alone of the same data; and the peak
//! memory of detach for that message (measured in a child process, from
//! VmHWM, so nothing else the bench allocates counts).
//!
//! Run: `cargo bench --bench detach`. Prints figures; asserts nothing about
//! time.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use slimbox::mime::{detach, Policy};

const ATTACHMENT: usize = 50 * 1000 * 1000;
const RUNS: usize = 7;

fn message() -> (Vec<u8>, Vec<u8>) {
    // Incompressible, reproducible content: a simple xorshift stream.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..ATTACHMENT)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let b64 = base64_simd::STANDARD.encode_to_string(&data);
    let mut msg = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: video\r\nMessage-ID: <bench@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BENCH\"\r\n\r\n--BENCH\r\nContent-Type: text/plain\r\n\r\nHere it is.\r\n--BENCH\r\nContent-Type: video/mp4; name=\"clip.mp4\"\r\nContent-Disposition: attachment; filename=\"clip.mp4\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    for line in b64.as_bytes().chunks(76) {
        msg.extend_from_slice(line);
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b"--BENCH--\r\n");
    (msg, data)
}

fn best(mut f: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn policy() -> Policy {
    Policy {
        min_size: 1024 * 1024,
        link_template: "file:///store/sha256/{sha256_2}/{sha256}".into(),
        now: 1_795_435_200,
        ..Policy::default()
    }
}

/// In the child: read the message, note the high-water mark, detach, note it
/// again.
fn memory_child(path: &str) {
    let msg = std::fs::read(path).expect("read bench message");
    let before = vm_hwm_kib();
    let d = detach(&msg, &policy());
    assert!(d.rewritten.is_some());
    let after = vm_hwm_kib();
    println!("{before} {after} {}", msg.len());
}

fn main() {
    if let Ok(path) = std::env::var("SLIMBOX_BENCH_MEMORY_CHILD") {
        memory_child(&path);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (msg, data) = message();
    let n = msg.len();
    if std::env::var("SLIMBOX_BENCH_PROFILE").is_ok() {
        // Only detach, many times: for `perf record`.
        for _ in 0..20 {
            std::hint::black_box(detach(&msg, &policy()).rewritten);
        }
        return;
    }
    let body_start = msg
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    let body = &msg[body_start..];

    let t_sha_msg = best(|| {
        std::hint::black_box(Sha256::digest(&msg));
    });
    let t_sha_data = best(|| {
        std::hint::black_box(Sha256::digest(&data));
    });
    let t_b64 = best(|| {
        let mut v = body.to_vec();
        std::hint::black_box(
            base64_simd::forgiving_decode_inplace(&mut v)
                .map(|d| d.len())
                .ok(),
        );
    });
    let t_detach = best(|| {
        let d = detach(&msg, &policy());
        assert_eq!(d.parts.len(), 1);
        std::hint::black_box(d.rewritten);
    });

    println!(
        "detach bench: message {:.1} MB, attachment {:.1} MB decoded",
        n as f64 / 1e6,
        ATTACHMENT as f64 / 1e6
    );
    println!(
        "  sha256 of the message alone     {:8.1} MB/s",
        mbps(n, t_sha_msg)
    );
    println!(
        "  sha256 of the attachment alone  {:8.1} MB/s (of attachment bytes)",
        mbps(ATTACHMENT, t_sha_data)
    );
    println!(
        "  base64 decode alone (simd)      {:8.1} MB/s (of message bytes)",
        mbps(n, t_b64)
    );
    println!(
        "  detach incl. exactness proof    {:8.1} MB/s (of message bytes), {:.1} ms",
        mbps(n, t_detach),
        t_detach.as_secs_f64() * 1e3
    );
    println!(
        "  detach / sha256-of-message      {:8.2}x",
        t_sha_msg.as_secs_f64() / t_detach.as_secs_f64()
    );

    drop(data);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.eml");
    std::fs::write(&path, &msg).expect("write bench message");
    drop(msg);
    let out = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .env("SLIMBOX_BENCH_MEMORY_CHILD", &path)
        .output()
        .expect("run memory child");
    let s = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if let [before, after, len] = v[..] {
        let peak = after * 1024;
        println!(
            "  peak RSS with detach            {:8.1} MB = {:.2}x the message (before detach {:.1} MB)",
            peak as f64 / 1e6,
            peak as f64 / len as f64,
            (before * 1024) as f64 / 1e6
        );
    } else {
        println!(
            "  peak RSS: child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
