//! The mailbox side of `scripts/bench-imap`: seeds a test account with a few
//! hundred messages of mixed sizes (built with lettre), reports which of them
//! `slimbox run` would convert, and measures the floor: a client that only
//! FETCHes those same messages once, over the same TLS connection type and
//! with slimbox's own IMAP session, and does nothing else with them.
//!
//! Usage:
//!   bench_imap seed PORT CA_PEM
//!   bench_imap candidates PORT CA_PEM MIN_SIZE
//!   bench_imap fetch PORT CA_PEM MIN_SIZE
//!   bench_imap seed-big PORT CA_PEM BYTES
//!
//! PORT is the implicit-TLS (IMAPS) port, CA_PEM the CA file that signs the
//! server's certificate, MIN_SIZE a size as in the config (`1MiB`, `1048576`).
//! `candidates` and `fetch` print `key=value` lines for the script.
//! `seed-big` appends one message with one attachment of BYTES (decoded) to
//! the \Archive folder and prints its size as `largest=N`.
//! The user is `alice` (password `alicepw`), or the one BENCH_IMAP_USER
//! names (password: the name followed by `pw`, as the Dovecot harness has
//! them), so that one session can seed two mailboxes alike.

use std::time::Instant;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use slimbox::imap::{Folder, ImapConfig, MessageMeta, Session, TlsMode};
use slimbox::pipeline::select::{choose_folders, judge, SelectPolicy, Verdict};

/// Incompressible pseudo-random bytes; the same `seed` and `len` give the
/// same bytes, which is how the duplicates are made.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A small deterministic generator for the mailbox's shape.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const WORDS: &[&str] = &[
    "the", "report", "meeting", "tomorrow", "attached", "please", "review", "budget", "draft",
    "thanks", "project", "schedule", "update", "numbers", "client", "invoice", "call", "notes",
    "quarter", "plan", "team", "next", "week", "agreed", "changes", "final", "version", "see",
];

fn prose(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    let mut col = 0;
    while s.len() < len {
        let w = WORDS[(rng.next() % WORDS.len() as u64) as usize];
        s.push_str(w);
        col += w.len() + 1;
        if col > 66 {
            s.push('\n');
            col = 0;
        } else {
            s.push(' ');
        }
    }
    s.push('\n');
    s
}

fn mbox(s: &str) -> Mailbox {
    s.parse().expect("mailbox")
}

/// One attachment to be: file name, content type, decoded length, noise seed.
#[derive(Clone)]
struct File {
    name: String,
    ctype: &'static str,
    len: usize,
    seed: u64,
}

fn file(name: &str, ctype: &'static str, len: u64, seed: u64) -> File {
    File {
        name: name.to_string(),
        ctype,
        len: len as usize,
        seed,
    }
}

/// One message to seed.
enum Spec {
    Text { len: usize },
    Attached { files: Vec<File> },
    Signed { file: File },
}

fn mail(i: usize, rng: &mut Rng, spec: &Spec) -> Vec<u8> {
    let subject = format!(
        "{} {}",
        WORDS[i % WORDS.len()],
        WORDS[(i * 7 + 3) % WORDS.len()]
    );
    let body_len = rng.range(200, 2_000) as usize;
    let body = prose(rng, body_len);
    let b = Message::builder()
        .from(mbox("Ada Lovelace <ada@example.com>"))
        .to(mbox("Charles Babbage <charles@example.com>"))
        .subject(subject)
        .message_id(Some(format!("<bench-{i}@example.com>")));
    match spec {
        Spec::Text { len } => b
            .header(ContentType::TEXT_PLAIN)
            .body(prose(rng, *len))
            .expect("message")
            .formatted(),
        Spec::Attached { files } => {
            let mut mp = MultiPart::mixed().singlepart(SinglePart::plain(body));
            for f in files {
                mp = mp.singlepart(Attachment::new(f.name.clone()).body(
                    noise(f.len, f.seed),
                    ContentType::parse(f.ctype).expect("type"),
                ));
            }
            b.multipart(mp).expect("message").formatted()
        }
        Spec::Signed { file } => {
            let b64 = base64_simd::STANDARD.encode_to_string(noise(file.len, file.seed));
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).expect("ascii"))
                .collect();
            format!(
                "From: Ada Lovelace <ada@example.com>\r\nTo: charles@example.com\r\nSubject: Signed\r\nMessage-ID: <bench-{i}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\r\n\r\n--sig\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nSigned.\r\n--in\r\nContent-Type: application/pdf; name=\"{n}\"\r\nContent-Disposition: attachment; filename=\"{n}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--in--\r\n--sig\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIC\r\n--sig--\r\n",
                lines.join("\r\n"),
                n = file.name,
            )
            .into_bytes()
        }
    }
}

/// The mailbox's shape: about 300 messages, two thirds plain text; the rest
/// carry attachments from 200 KB to 30 MB (decoded), some of them the same
/// file sent again, one signed message (never converted) and one 30 MB video.
fn specs(rng: &mut Rng) -> Vec<Spec> {
    const SMALL: [(&str, &str); 4] = [
        ("photo.jpg", "image/jpeg"),
        ("logo.png", "image/png"),
        ("memo.pdf", "application/pdf"),
        (
            "notes.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ];
    const MEDIUM: [(&str, &str); 4] = [
        ("scan.pdf", "application/pdf"),
        ("IMG_4032.jpg", "image/jpeg"),
        (
            "slides.pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        (
            "data.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ];
    let mut seed = 1000u64;
    let mut next_seed = || {
        seed += 1;
        seed
    };
    let mut v = Vec::new();
    for _ in 0..200 {
        v.push(Spec::Text {
            len: rng.range(300, 6_000) as usize,
        });
    }
    for k in 0..40 {
        let (n, t) = SMALL[k % SMALL.len()];
        v.push(Spec::Attached {
            files: vec![file(n, t, rng.range(200_000, 900_000), next_seed())],
        });
    }
    for k in 0..45 {
        let (n, t) = MEDIUM[k % MEDIUM.len()];
        let mut files = vec![file(n, t, rng.range(1_000_000, 4_000_000), next_seed())];
        if k % 5 == 0 {
            // A second attachment: one large photo, or one small one that
            // stays in the mail.
            let len = if k % 10 == 0 {
                rng.range(1_200_000, 2_500_000)
            } else {
                rng.range(200_000, 600_000)
            };
            files.push(file("IMG_4033.jpg", "image/jpeg", len, next_seed()));
        }
        v.push(Spec::Attached { files });
    }
    // The same files sent more than once.
    let contract = file("contract.pdf", "application/pdf", 2_400_000, 1);
    let brochure = file("brochure.pdf", "application/pdf", 6_000_000, 2);
    let album = [
        file("party-1.jpg", "image/jpeg", 2_200_000, 3),
        file("party-2.jpg", "image/jpeg", 1_800_000, 4),
    ];
    for _ in 0..4 {
        v.push(Spec::Attached {
            files: vec![contract.clone()],
        });
    }
    for _ in 0..3 {
        v.push(Spec::Attached {
            files: vec![brochure.clone()],
        });
    }
    for _ in 0..2 {
        v.push(Spec::Attached {
            files: album.to_vec(),
        });
    }
    const LARGE: [(&str, &str); 3] = [
        ("archive.zip", "application/zip"),
        ("interview.mov", "video/quicktime"),
        ("backup.tar.gz", "application/gzip"),
    ];
    for k in 0..6 {
        let (n, t) = LARGE[k % LARGE.len()];
        v.push(Spec::Attached {
            files: vec![file(n, t, rng.range(8_000_000, 16_000_000), next_seed())],
        });
    }
    v.push(Spec::Attached {
        files: vec![file("talk.mp4", "video/mp4", 30_000_000, 6)],
    });
    v.push(Spec::Signed {
        file: file("signed.pdf", "application/pdf", 2_000_000, next_seed()),
    });
    v
}

fn policy(min_size: u64) -> SelectPolicy {
    // The config defaults: every type, signed mail left alone.
    SelectPolicy {
        min_size,
        include_types: Vec::new(),
        exclude_types: Vec::new(),
        detach_signed: false,
    }
}

fn sent(folders: &[Folder]) -> Folder {
    let chosen = choose_folders(folders, &["\\Sent".to_string()]);
    assert_eq!(chosen.len(), 1, "exactly one \\Sent folder");
    chosen[0].clone()
}

/// What `slimbox run` selects in the \Sent folder, the same way its planner
/// does: UID SEARCH LARGER, then BODYSTRUCTURE judged by the policy.
async fn select_candidates(s: &mut Session, min_size: u64) -> (Vec<MessageMeta>, usize) {
    let folders = s.list_folders().await.expect("list");
    s.examine(&sent(&folders)).await.expect("examine");
    let uids = s
        .search_candidates(min_size.max(1), None)
        .await
        .expect("search");
    let metas = if uids.is_empty() {
        Vec::new()
    } else {
        s.fetch_meta(&uids).await.expect("fetch meta")
    };
    let searched = metas.len();
    let p = policy(min_size);
    let chosen = metas
        .into_iter()
        .filter(|m| matches!(judge(m, &p), Verdict::Candidate { .. }))
        .collect();
    (chosen, searched)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!(
            "usage: bench_imap seed PORT CA_PEM | candidates PORT CA_PEM MIN_SIZE | fetch PORT CA_PEM MIN_SIZE | seed-big PORT CA_PEM BYTES"
        );
        std::process::exit(2);
    };
    if args.len() < 4 {
        usage();
    }
    let min_size = || -> u64 {
        let Some(s) = args.get(4) else { usage() };
        slimbox::units::parse_size(s).unwrap_or_else(|e| {
            eprintln!("bench_imap: {e}");
            std::process::exit(2);
        })
    };
    let user = std::env::var("BENCH_IMAP_USER").unwrap_or_else(|_| "alice".into());
    let cfg = ImapConfig {
        host: "127.0.0.1".into(),
        port: args[2].parse().expect("port"),
        tls: TlsMode::Implicit,
        ca_file: Some(args[3].clone().into()),
        auth: slimbox::imap::ImapAuth::Password(format!("{user}pw")),
        user,
    };
    let mut s = Session::connect(&cfg).await.expect("connect");
    match args[1].as_str() {
        "seed" => {
            let folders = s.list_folders().await.expect("list");
            let folder = sent(&folders);
            let mut rng = Rng(0x5EED_1234_ABCD_0001);
            let mut specs = specs(&mut rng);
            // Interleave the kinds, as a real mailbox would be.
            for i in (1..specs.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                specs.swap(i, j);
            }
            let (mut text, mut attached, mut signed) = (0, 0, 0);
            let mut total = 0u64;
            let mut largest = 0u64;
            // One message every ~2.5 days, ending early in 2026.
            let mut t = 1_704_067_200i64; // 2024-01-01
            for (i, spec) in specs.iter().enumerate() {
                match spec {
                    Spec::Text { .. } => text += 1,
                    Spec::Attached { .. } => attached += 1,
                    Spec::Signed { .. } => signed += 1,
                }
                let msg = mail(i, &mut rng, spec);
                total += msg.len() as u64;
                largest = largest.max(msg.len() as u64);
                t += rng.range(100_000, 330_000) as i64;
                let date = slimbox::imap::datetime::format_datetime(t, 60);
                s.append(&folder, &["\\Seen".to_string()], &date, &msg)
                    .await
                    .expect("append");
            }
            println!(
                "seeded {} messages in {}: {text} text only, {attached} with attachments, {signed} signed; {total} bytes ({}), largest {largest} bytes ({}), in {:.1}s",
                specs.len(),
                folder.name,
                slimbox::units::human_size(total),
                slimbox::units::human_size(largest),
                started.elapsed().as_secs_f64()
            );
        }
        "candidates" => {
            let min = min_size();
            let (chosen, searched) = select_candidates(&mut s, min).await;
            println!("searched={searched}");
            println!("candidates={}", chosen.len());
            println!(
                "candidate_bytes={}",
                chosen.iter().map(|m| m.size).sum::<u64>()
            );
            println!(
                "largest={}",
                chosen.iter().map(|m| m.size).max().unwrap_or(0)
            );
        }
        "fetch" => {
            let min = min_size();
            let (chosen, _) = select_candidates(&mut s, min).await;
            let t0 = Instant::now();
            let mut bytes = 0u64;
            for m in &chosen {
                let body = s
                    .fetch_message(m.uid)
                    .await
                    .expect("fetch")
                    .expect("the message is there");
                bytes += body.len() as u64;
            }
            let fetch = t0.elapsed().as_secs_f64();
            println!("fetched_messages={}", chosen.len());
            println!("fetched_bytes={bytes}");
            println!("fetch_seconds={fetch:.3}");
            println!("total_seconds={:.3}", started.elapsed().as_secs_f64());
        }
        "seed-big" => {
            let len = min_size() as usize;
            let folders = s.list_folders().await.expect("list");
            let chosen = choose_folders(&folders, &["\\Archive".to_string()]);
            assert_eq!(chosen.len(), 1, "exactly one \\Archive folder");
            let spec = Spec::Attached {
                files: vec![file("keynote.mov", "video/quicktime", len as u64, 77)],
            };
            let msg = mail(9999, &mut Rng(0x5EED_0000_0000_0040), &spec);
            let date = slimbox::imap::datetime::format_datetime(1_767_225_600, 60);
            s.append(chosen[0], &["\\Seen".to_string()], &date, &msg)
                .await
                .expect("append");
            println!("largest={}", msg.len());
        }
        _ => usage(),
    }
    let _ = s.logout().await;
}
