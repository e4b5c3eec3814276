//! The demo's mailbox side: fills a test account with realistic sent mail
//! (built with lettre) and reports the mailbox size. Used by `scripts/demo`.
//!
//! Usage:
//!   demo_mailbox seed PORT CA_PEM
//!   demo_mailbox size PORT CA_PEM

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use slimbox::imap::{ImapConfig, Session, TlsMode};

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

fn mbox(s: &str) -> Mailbox {
    s.parse().expect("mailbox")
}

fn mail(i: usize, subject: &str, body: &str, attachments: Vec<(&str, &str, Vec<u8>)>) -> Vec<u8> {
    let b = Message::builder()
        .from(mbox("Ada Lovelace <ada@example.com>"))
        .to(mbox("Charles Babbage <charles@example.com>"))
        .subject(subject)
        .message_id(Some(format!("<demo-{i}@example.com>")));
    if attachments.is_empty() {
        return b
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .expect("message")
            .formatted();
    }
    let mut mp = MultiPart::mixed().singlepart(SinglePart::plain(body.to_string()));
    for (name, ctype, data) in attachments {
        mp = mp.singlepart(
            Attachment::new(name.to_string()).body(data, ContentType::parse(ctype).expect("type")),
        );
    }
    b.multipart(mp).expect("message").formatted()
}

fn signed(data: &[u8]) -> Vec<u8> {
    let b64 = base64_simd::STANDARD.encode_to_string(data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "From: Ada Lovelace <ada@example.com>\r\nTo: charles@example.com\r\nSubject: Signed contract\r\nMessage-ID: <demo-signed@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\r\n\r\n--sig\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nThe signed contract.\r\n--in\r\nContent-Type: application/pdf; name=\"contract.pdf\"\r\nContent-Disposition: attachment; filename=\"contract.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--in--\r\n--sig\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIC\r\n--sig--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: demo_mailbox seed|size PORT CA_PEM");
        std::process::exit(2);
    }
    let cfg = ImapConfig {
        host: "127.0.0.1".into(),
        port: args[2].parse().expect("port"),
        tls: TlsMode::Implicit,
        ca_file: Some(args[3].clone().into()),
        user: "alice".into(),
        auth: slimbox::imap::ImapAuth::Password("alicepw".into()),
    };
    let mut s = Session::connect(&cfg).await.expect("connect");
    let folders = s.list_folders().await.expect("list");
    match args[1].as_str() {
        "seed" => {
            let sent = folders
                .iter()
                .find(|f| f.has_special_use("\\Sent"))
                .expect("a \\Sent folder");
            let archive = folders
                .iter()
                .find(|f| f.has_special_use("\\Archive"))
                .expect("an \\Archive folder");
            let mut n = 0;
            let mut put = |m: Vec<u8>| {
                n += 1;
                m
            };
            let batch = vec![
                (
                    sent,
                    put(mail(1, "Lunch?", "Noon at the usual place?\n", vec![])),
                    "02-Oct-2026 09:15:00 +0100",
                ),
                (
                    sent,
                    put(mail(
                        2,
                        "Quarterly report",
                        "The report is attached.\n",
                        vec![("Q3-report.pdf", "application/pdf", noise(2_400_000, 1))],
                    )),
                    "05-Oct-2026 17:02:11 +0100",
                ),
                (
                    sent,
                    put(mail(
                        3,
                        "Photos from the trip",
                        "Some pictures.\n",
                        vec![
                            ("beach.jpg", "image/jpeg", noise(1_800_000, 2)),
                            ("sunset.jpg", "image/jpeg", noise(2_100_000, 3)),
                        ],
                    )),
                    "11-Oct-2026 20:45:00 +0200",
                ),
                (
                    sent,
                    put(signed(&noise(1_500_000, 4))),
                    "14-Oct-2026 08:00:00 +0000",
                ),
                (
                    sent,
                    put(mail(
                        5,
                        "Logo",
                        "Small logo, stays in the mail.\n",
                        vec![("logo.png", "image/png", noise(30_000, 5))],
                    )),
                    "15-Oct-2026 10:00:00 +0000",
                ),
                (
                    sent,
                    put(mail(
                        6,
                        "The video",
                        "Here is the whole talk.\n",
                        vec![("talk.mp4", "video/mp4", noise(25_000_000, 6))],
                    )),
                    "20-Oct-2026 16:30:00 -0400",
                ),
                (
                    archive,
                    put(mail(
                        7,
                        "Q3-report again",
                        "Same report, resent.\n",
                        vec![("Q3-report.pdf", "application/pdf", noise(2_400_000, 1))],
                    )),
                    "21-Oct-2026 12:00:00 +0100",
                ),
                (
                    archive,
                    put(mail(
                        8,
                        "Slides",
                        "The slides.\n",
                        vec![("slides.pdf", "application/pdf", noise(4_000_000, 8))],
                    )),
                    "22-Oct-2026 12:00:00 +0100",
                ),
            ];
            for (folder, msg, date) in batch {
                s.append(folder, &["\\Seen".to_string()], date, &msg)
                    .await
                    .expect("append");
            }
            println!("seeded {n} messages (text, PDFs, photos, a signed message, a 25 MB video; the same PDF twice)");
        }
        "size" => {
            let mut total = 0u64;
            for f in &folders {
                s.examine(f).await.expect("examine");
                let uids = s.search_header("Message-ID", "").await.expect("search");
                let metas = if uids.is_empty() {
                    Vec::new()
                } else {
                    s.fetch_meta(&uids).await.expect("fetch")
                };
                let size: u64 = metas.iter().map(|m| m.size).sum();
                if !metas.is_empty() {
                    println!(
                        "  {:<10} {:>3} messages  {:>10}",
                        f.name,
                        metas.len(),
                        slimbox::units::human_size(size)
                    );
                }
                total += size;
            }
            println!(
                "  {:<10} {:>3}           {:>10}",
                "total",
                "",
                slimbox::units::human_size(total)
            );
        }
        other => {
            eprintln!("unknown command {other}");
            std::process::exit(2);
        }
    }
    let _ = s.logout().await;
}
