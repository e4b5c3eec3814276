//! issue 12, links on a real run on Dovecot: without a server, a local
//! store's stubs link to readable copies `files/<account>/<YYYY>/<MM>/<name>`
//! that end in the original name and hash to the object's SHA-256 (for a
//! compressed object too); with `[links] base_url`, stubs carry signed
//! links the server's check accepts, and html stubs reattach byte for byte.

mod support;

use std::path::{Path, PathBuf};

use sha2::Digest;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, ok, slimbox};

const DATE: &str = "14-Mar-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn add_lines(config: &Path, before: &str, lines: &str) {
    let t = std::fs::read_to_string(config).expect("config");
    let t = t.replacen(before, &format!("{lines}\n{before}"), 1);
    std::fs::write(config, t).expect("config");
}

fn csv(len: usize, seed: u64) -> Vec<u8> {
    let mut out = b"id,customer,amount\r\n".to_vec();
    let mut i = seed;
    while out.len() < len {
        out.extend_from_slice(
            format!("{i},customer-{},{}.00\r\n", i % 97, i * 7 % 1000).as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Every stub link of every converted message in `folder`, with its hash.
fn links(d: &Dovecot, folder: &str) -> Vec<(String, String, Vec<u8>)> {
    let snap = rt().block_on(mailbox::snapshot(d, folder));
    let mut out = Vec::new();
    for m in snap.values() {
        let c = slimbox::mime::read_converted(&m.bytes).expect("converted");
        for p in c.parts {
            out.push((hex::encode(p.sha256), p.link, m.bytes.clone()));
        }
    }
    out
}

#[test]
fn issue12_file_links_open_readable_copies_by_name() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    add_lines(&config, "[index]", "compress = \"zstd\"");
    let store = dir.path().join("store");

    let ledger = csv(400_000, 1);
    let other_ledger = csv(300_000, 5);
    let photo = {
        let mut j = b"\xff\xd8\xff\xe0\x00\x10JFIF".to_vec();
        j.extend(mailbox::noise(200_000, 3));
        j
    };
    let messages = [
        ("m1", "ledger.csv", "text/csv", ledger.clone()),
        ("m2", "photo 1.jpg", "image/jpeg", photo.clone()),
        // Another file under the same name that month: numbered.
        ("m3", "ledger.csv", "text/csv", other_ledger.clone()),
        // The same file under the same name again: the same entry.
        ("m4", "ledger.csv", "text/csv", ledger.clone()),
    ];
    rt().block_on(async {
        for (id, name, ct, data) in &messages {
            let m = mailbox::with_attachment(id, id, name, ct, data.clone());
            mailbox::seed(&d, "Sent", &m, &["\\Seen"], DATE).await;
        }
    });
    ok(slimbox(&config).arg("run"));

    let h = sha_hex(&ledger);
    assert!(
        store
            .join("sha256")
            .join(&h[..2])
            .join(format!("{h}.zst"))
            .exists(),
        "the ledger is stored compressed"
    );
    let h = sha_hex(&photo);
    assert!(store.join("sha256").join(&h[..2]).join(&h).exists());

    let month = store.join("files").join("alice").join("2024").join("03");
    let found = links(&d, "Sent");
    assert_eq!(found.len(), 4);
    let mut names = Vec::new();
    for (sha, link, _) in &found {
        assert!(link.starts_with("file:///"), "{link}");
        let path: PathBuf = url::Url::parse(link)
            .expect("url")
            .to_file_path()
            .expect("file path");
        assert_eq!(path.parent(), Some(month.as_path()), "{link}");
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{link}: {e}"));
        assert_eq!(&sha_hex(&data), sha, "{link} holds its file");
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    names.dedup();
    assert_eq!(names, ["ledger (2).csv", "ledger.csv", "photo 1.jpg"]);
    let by_name = |n: &str| std::fs::read(month.join(n)).expect(n);
    assert!(by_name("ledger.csv") == ledger);
    assert!(by_name("ledger (2).csv") == other_ledger);
    assert!(by_name("photo 1.jpg") == photo);
    assert_eq!(std::fs::read_dir(&month).expect("month").count(), 3);

    // The objects are unchanged and verify still finds all well.
    let out = ok(slimbox(&config).args(["verify", "--read-data"]));
    assert!(out.contains("all is well"), "{out}");
}

#[test]
fn issue12_signed_links_and_html_stubs_on_a_run() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let t = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!(
            "{t}\n[links]\nbase_url = \"https://files.example.com/\"\nstub_format = \"html\"\n"
        ),
    )
    .expect("config");
    let data = mailbox::noise(300_000, 9);
    let original =
        mailbox::with_attachment("s1", "s1", "plan <v2>.pdf", "application/pdf", data.clone());
    rt().block_on(mailbox::seed(&d, "Sent", &original, &["\\Seen"], DATE));
    ok(slimbox(&config).arg("run"));

    let found = links(&d, "Sent");
    assert_eq!(found.len(), 1);
    let (sha, link, rewritten) = &found[0];
    assert_eq!(sha, &sha_hex(&data));
    // The short form (issue 19), at most 100 characters.
    let target = link
        .strip_prefix("https://files.example.com")
        .expect("under base_url");
    assert!(target.starts_with("/f/"), "{link}");
    assert!(target.ends_with("/plan%20%3Cv2%3E.pdf"), "{link}");
    assert!(link.len() <= slimbox::links::LINK_MAX, "{link}");
    // The secret was created beside the index, and the server's check
    // accepts the link with it.
    let secret = slimbox::links::Secret::load(&dir.path().join("links.key")).expect("secret");
    let hash = slimbox::store::parse_hex(sha).expect("hash");
    let checked = secret.check_file_target(target, &[hash], 0);
    assert_eq!(checked.map(|f| f.name), Ok("plan <v2>.pdf".to_string()));

    let text = String::from_utf8_lossy(rewritten);
    assert!(
        text.contains("Content-Type: text/html; charset=utf-8;"),
        "{text}"
    );
    // The stub names its link in slimbox's own header (an https link is no
    // Thunderbird external attachment: Thunderbird never fetches one).
    assert!(text.contains(&format!("X-Slimbox-Link: {link}")));
    assert!(!text.contains("X-Mozilla-External-Attachment-URL"));
    // The note lists the file with its link, on a line of its own.
    assert!(text.contains("X-Slimbox-Note: v=1"));
    assert!(text.contains(&format!("\r\n{link}\r\n")), "{text}");
    assert!(text.contains("plan &lt;v2&gt;.pdf"), "{text}");
    let store = dir.path().join("store");
    assert!(mailbox::reattach_from_disk(&store, rewritten) == original);
    // And slimbox reattach puts the exact original back on the server.
    ok(slimbox(&config).args(["reattach", "--message-id", "s1@example.com"]));
    let back = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(back.values().any(|m| m.bytes == original));
}
