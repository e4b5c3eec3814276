//! Getting it back after a real run on Dovecot: `restore` writes files whose
//! SHA-256 equal the originals, hostile names stay inside the folder,
//! nothing is overwritten without --force; `reattach` puts the byte-exact
//! original back with its flags and date, exactly once.

mod support;

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("run slimbox");
    assert!(
        out.status.success(),
        "slimbox failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A message whose attachment's file name header is given raw.
fn raw_named(id: &str, disposition_params: &str, data: &[u8]) -> Vec<u8> {
    let b64 = base64_simd::STANDARD.encode_to_string(data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let mut m = format!(
        "From: Mallory <mallory@example.com>\r\nTo: alice@example.com\r\nSubject: names\r\nMessage-ID: <{id}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"n\"\r\n\r\n--n\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--n\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
    )
    .into_bytes();
    m.extend_from_slice(disposition_params.as_bytes());
    m.extend_from_slice(b"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    m.extend_from_slice(lines.join("\r\n").as_bytes());
    m.extend_from_slice(b"\r\n--n--\r\n");
    m
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn restore_gives_the_files_back_and_keeps_hostile_names_inside() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let pdf = mailbox::noise(300_000, 21);
    let jpg = mailbox::noise(200_000, 22);
    let msg = {
        // Two attachments in one message.
        let m = lettre::Message::builder()
            .from("Ada <ada@example.com>".parse().unwrap())
            .to("bob@example.com".parse().unwrap())
            .subject("two files")
            .message_id(Some("<two@example.com>".into()))
            .multipart(
                lettre::message::MultiPart::mixed()
                    .singlepart(lettre::message::SinglePart::plain("hi".to_string()))
                    .singlepart(lettre::message::Attachment::new("report.pdf".into()).body(
                        pdf.clone(),
                        lettre::message::header::ContentType::parse("application/pdf").unwrap(),
                    ))
                    .singlepart(lettre::message::Attachment::new("photo.jpg".into()).body(
                        jpg.clone(),
                        lettre::message::header::ContentType::parse("image/jpeg").unwrap(),
                    )),
            )
            .unwrap();
        m.formatted()
    };
    let hostile: Vec<Vec<u8>> = vec![
        raw_named(
            "h1",
            "filename=\"../../etc/passwd\"",
            &mailbox::noise(150_000, 31),
        ),
        raw_named(
            "h2",
            "filename=\"..\\\\win.ini\"",
            &mailbox::noise(150_000, 32),
        ),
        raw_named(
            "h3",
            "filename*=utf-8''a%0D%0ABcc%3A%20x.txt",
            &mailbox::noise(150_000, 33),
        ),
        raw_named(
            "h4",
            &format!("filename=\"{}.pdf\"", "L".repeat(400)),
            &mailbox::noise(150_000, 34),
        ),
        {
            let mut m = raw_named(
                "h5",
                "filename=\"caf\u{fffd}.pdf\"",
                &mailbox::noise(150_000, 35),
            );
            // A raw Latin-1 byte in the header: not UTF-8.
            let pos = m
                .windows(3)
                .position(|w| w == "\u{fffd}".as_bytes())
                .unwrap();
            m.splice(pos..pos + 3, [0xE9u8]);
            m
        },
        raw_named("h6", "filename=\"CON\"", &mailbox::noise(150_000, 36)),
    ];
    rt().block_on(async {
        mailbox::seed(&d, "Sent", &msg, &["\\Seen"], DATE).await;
        for h in &hostile {
            mailbox::seed(&d, "Sent", h, &[], DATE).await;
        }
    });
    ok(slimbox(&config).arg("run"));

    // By Message-ID: both files, with their names and hashes.
    let out = dir.path().join("out");
    ok(slimbox(&config)
        .args(["restore", "--message-id", "two@example.com", "--to"])
        .arg(&out));
    assert_eq!(files_in(&out), ["photo.jpg", "report.pdf"]);
    assert_eq!(
        Sha256::digest(std::fs::read(out.join("report.pdf")).unwrap()),
        Sha256::digest(&pdf)
    );
    assert_eq!(
        Sha256::digest(std::fs::read(out.join("photo.jpg")).unwrap()),
        Sha256::digest(&jpg)
    );

    // Not overwritten without --force; overwritten with it.
    std::fs::write(out.join("report.pdf"), b"mine").unwrap();
    let again = slimbox(&config)
        .args(["restore", "--message-id", "two@example.com", "--to"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not overwritten"));
    assert_eq!(std::fs::read(out.join("report.pdf")).unwrap(), b"mine");
    ok(slimbox(&config)
        .args([
            "restore",
            "--message-id",
            "two@example.com",
            "--force",
            "--to",
        ])
        .arg(&out));
    assert_eq!(
        Sha256::digest(std::fs::read(out.join("report.pdf")).unwrap()),
        Sha256::digest(&pdf)
    );

    // By hash prefix.
    let by_hash = dir.path().join("by-hash");
    let prefix = hex::encode(Sha256::digest(&jpg))[..10].to_string();
    ok(slimbox(&config)
        .args(["restore", &prefix, "--to"])
        .arg(&by_hash));
    assert_eq!(files_in(&by_hash), ["photo.jpg"]);

    // Hostile names: everything lands inside the folder, one level deep.
    let jail = dir.path().join("jail").join("inner");
    ok(slimbox(&config)
        .args(["restore", "--from", "mallory", "--to"])
        .arg(&jail));
    let names = files_in(&jail);
    assert_eq!(names.len(), hostile.len(), "{names:?}");
    for n in &names {
        assert!(
            !n.contains('/') && !n.contains('\\') && !n.contains('\r') && !n.contains('\n'),
            "{n:?}"
        );
        assert!(n != "." && n != ".." && n.len() <= 200, "{n:?}");
        assert!(!n.eq_ignore_ascii_case("CON"), "{n:?}");
    }
    assert_eq!(
        files_in(&dir.path().join("jail")),
        ["inner"],
        "nothing written beside the folder"
    );
    assert!(names.iter().any(|n| n.ends_with("passwd")));
}

#[test]
fn reattach_puts_the_exact_original_back_once() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let original = mailbox::with_attachment(
        "back",
        "Back",
        "b.pdf",
        "application/pdf",
        mailbox::noise(400_000, 41),
    );
    rt().block_on(mailbox::seed(
        &d,
        "Sent",
        &original,
        &["\\Seen", "$Work"],
        DATE,
    ));
    let before = rt().block_on(mailbox::snapshot(&d, "Sent"));
    ok(slimbox(&config).arg("run"));
    let mid = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(slimbox::mime::is_processed(
        &mid.values().next().unwrap().bytes
    ));

    let out = ok(slimbox(&config).args(["reattach", "--message-id", "back@example.com"]));
    assert!(out.contains("whole again"), "{out}");
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(after.len(), 1, "exactly one copy");
    let now = after.values().next().unwrap();
    let was = before.values().next().unwrap();
    assert_eq!(now.bytes, original, "byte-exact");
    assert_eq!(now.flags, was.flags);
    assert_eq!(now.internal_ts, was.internal_ts);
    // The index knows: list no longer shows it; a run would convert it again.
    let listed = ok(slimbox(&config).args(["list", "--json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&listed)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // And stats / list work on a fresh index too.
    ok(slimbox(&config).arg("stats"));
}
