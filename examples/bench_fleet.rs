//! The mailbox side of `scripts/bench-fleet`: seeds many mailboxes alike
//! through the Dovecot harness's master user, and measures the floor of a
//! `run --all`: the same number of parallel clients that only FETCH every
//! message of those mailboxes once, and do nothing else with them.
//!
//! Usage:
//!   bench_fleet seed PORT CA_PEM USERS MESSAGES ATTACHMENT_BYTES
//!   bench_fleet fetch PORT CA_PEM USERS CONCURRENCY
//!
//! USERS is a comma-separated list of mailboxes (logged in to as
//! `user*admin` with `adminpw`); messages go to, and are fetched from,
//! their \Archive folder. `fetch` prints `key=value` lines for the script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use slimbox::imap::{Folder, ImapAuth, ImapConfig, Session, TlsMode};

/// Incompressible pseudo-random bytes (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A message with one PDF attachment, base64 in 76-character lines. The
/// i-th message of every mailbox carries the same attachment (as a file
/// sent to everyone is stored once), unless BENCH_DISTINCT=1 makes each
/// mailbox's its own.
fn message(user: &str, i: usize, bytes: usize) -> Vec<u8> {
    let mut seed = (i as u64 + 1) * 7919;
    if std::env::var("BENCH_DISTINCT").as_deref() == Ok("1") {
        seed = user
            .bytes()
            .fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    }
    let b64 = base64_simd::STANDARD.encode_to_string(noise(bytes, seed));
    let mut body = String::with_capacity(b64.len() + b64.len() / 76 * 2 + 1024);
    body.push_str(&format!(
        "From: Ada <ada@example.com>\r\nTo: {user} <{user}@example.com>\r\n\
         Subject: Quarterly figures {i}\r\nDate: Thu, 01 Feb 2024 10:00:00 +0100\r\n\
         Message-ID: <bench-{user}-{i}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThe figures are attached.\r\n\
         --b\r\nContent-Type: application/pdf; name=\"figures-{i}.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"figures-{i}.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    ));
    for line in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        body.push_str("\r\n");
    }
    body.push_str("--b--\r\n");
    body.into_bytes()
}

fn config(port: u16, ca: &str, user: &str) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::Implicit,
        ca_file: Some(ca.into()),
        user: format!("{user}*admin"),
        auth: ImapAuth::Password("adminpw".into()),
    }
}

async fn archive(s: &mut Session) -> Folder {
    let folders = s.list_folders().await.expect("list");
    folders
        .into_iter()
        .find(|f| f.special_use.iter().any(|u| u == "\\Archive"))
        .expect("an \\Archive folder")
}

/// Every message of one mailbox's Archive, fetched once; its bytes.
async fn fetch_all(port: u16, ca: &str, user: &str) -> (u64, u64) {
    let mut s = Session::connect(&config(port, ca, user))
        .await
        .expect("connect");
    let f = archive(&mut s).await;
    s.examine(&f).await.expect("examine");
    let uids = s.search_header("Message-ID", "").await.expect("search");
    let mut bytes = 0;
    for &uid in &uids {
        let m = s.fetch_message(uid).await.expect("fetch").expect("there");
        bytes += m.len() as u64;
    }
    let _ = s.logout().await;
    (uids.len() as u64, bytes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: bench_fleet seed PORT CA_PEM USERS MESSAGES BYTES | fetch PORT CA_PEM USERS CONCURRENCY");
        std::process::exit(2);
    }
    let port: u16 = args[2].parse().expect("port");
    let ca = args[3].clone();
    let users: Vec<String> = args[4].split(',').map(str::to_string).collect();
    let n: usize = args[5].parse().expect("a number");
    let t0 = Instant::now();
    match args[1].as_str() {
        "seed" => {
            let bytes: usize = args.get(6).and_then(|b| b.parse().ok()).expect("BYTES");
            for user in &users {
                let mut s = Session::connect(&config(port, &ca, user))
                    .await
                    .expect("connect");
                let f = archive(&mut s).await;
                for i in 0..n {
                    let date = "01-Feb-2024 10:00:00 +0100";
                    s.append(&f, &["\\Seen".to_string()], date, &message(user, i, bytes))
                        .await
                        .expect("append");
                }
                let _ = s.logout().await;
            }
            println!("seed_seconds={:.3}", t0.elapsed().as_secs_f64());
        }
        "fetch" => {
            let queue = Arc::new(Mutex::new(users.into_iter().collect::<VecDeque<_>>()));
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..n.max(1) {
                let (queue, ca) = (queue.clone(), ca.clone());
                set.spawn(async move {
                    let mut total = (0, 0);
                    loop {
                        let next = queue.lock().expect("queue").pop_front();
                        let Some(user) = next else { break total };
                        let (m, b) = fetch_all(port, &ca, &user).await;
                        total = (total.0 + m, total.1 + b);
                    }
                });
            }
            let (mut messages, mut bytes) = (0, 0);
            while let Some(r) = set.join_next().await {
                let (m, b) = r.expect("client");
                messages += m;
                bytes += b;
            }
            println!("fetched_messages={messages}");
            println!("fetched_bytes={bytes}");
            println!("fetch_seconds={:.3}", t0.elapsed().as_secs_f64());
        }
        _ => {
            eprintln!("bench_fleet: unknown command {}", args[1]);
            std::process::exit(2);
        }
    }
}
