//! Issue 13: the owner report sent over SMTP (`[owner_report] delivery =
//! "smtp"`) instead of APPENDed into INBOX. A real SMTP server (aiosmtpd,
//! scripts/smtp-harness) on loopback receives it: over STARTTLS with the
//! Dovecot harness's certificate and AUTH, the same bytes `compose` gives;
//! a server that refuses the recipient leaves the run as it was, with the
//! reason in the JSON's owner_report.

mod support;

use std::path::Path;

use slimbox::index::{Index, PartFilter};
use slimbox::notify::{compose, OwnerReport, WayBack};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};
use support::smtp::{Smtp, SmtpOptions};

const FILES: [(&str, usize); 2] = [
    ("Budget 2026.xlsx", 700_000),
    ("site photos.zip", 1_300_000),
];
const FROM: &str = "Mail team <it@example.com>";
const OWNER: &str = "Alice Example <alice@example.com>";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Two large attachments in Sent, and a config whose owner report goes
/// through the SMTP server at `port` with `smtp` (the table's other keys).
fn setup(d: &Dovecot, dir: &Path, port: u16, smtp: &str) -> std::path::PathBuf {
    rt().block_on(async {
        for (i, (name, len)) in FILES.iter().enumerate() {
            let m = mailbox::with_attachment(
                &format!("smtp{i}"),
                &format!("Files for the board, part {i}"),
                name,
                "application/octet-stream",
                mailbox::noise(*len, 70 + i as u64),
            );
            mailbox::seed(d, "Sent", &m, &["\\Seen"], "02-Mar-2025 10:00:00 +0000").await;
        }
    });
    let config = mailbox::write_config(d, dir, "100KiB");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "email = \"{OWNER}\"\n[owner_report]\nfrom = \"{FROM}\"\ndelivery = \"smtp\"\n\
         [owner_report.smtp]\nhost = \"127.0.0.1\"\nport = {port}\n{smtp}"
    ));
    std::fs::write(&config, text).unwrap();
    config
}

/// `run --all --json`: its exit status and its summary.
fn run_all(config: &Path) -> (std::process::ExitStatus, serde_json::Value, String) {
    let out = slimbox(config)
        .args(["run", "--all", "--json"])
        .env("SLIMBOX_TEST_SMTP_PASSWORD", "smtp-secret")
        .output()
        .expect("run slimbox");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}); stderr:\n{stderr}"));
    (out.status, json, stderr)
}

/// The report of `account` in a `run --all --json` summary.
fn account<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let list = summary["mailboxes"]
        .as_array()
        .unwrap_or_else(|| panic!("no mailboxes in {summary:#}"));
    let mailbox = list
        .iter()
        .find(|a| a["account"] == name)
        .unwrap_or_else(|| panic!("no account {name} in {summary:#}"));
    &mailbox["report"]
}

#[test]
fn issue13_the_owner_report_goes_out_over_smtp_with_starttls_and_auth() {
    let d = Dovecot::start(DovecotOptions::default());
    let tls = d.dir.path().join("tls");
    let server = Smtp::start(SmtpOptions {
        tls: Some((tls.join("cert.pem"), tls.join("key.pem"))),
        auth: Some("reports:smtp-secret".into()),
        refuse: Vec::new(),
    });
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        &d,
        dir.path(),
        server.port,
        &format!(
            "tls = \"starttls\"\nca_file = \"{}\"\nuser = \"reports\"\n\
             password_env = \"SLIMBOX_TEST_SMTP_PASSWORD\"\n",
            d.ca_pem.display()
        ),
    );

    let (status, summary, stderr) = run_all(&config);
    assert!(status.success(), "run failed: {stderr}\n{summary:#}");
    let alice = account(&summary, "alice");
    assert_eq!(alice["owner_report"]["files"], 2, "{summary:#}\n{stderr}");
    assert!(alice["owner_report"].get("error").is_none(), "{summary:#}");
    assert!(
        rt().block_on(mailbox::snapshot(&d, "INBOX")).is_empty(),
        "sent over SMTP, not APPENDed"
    );

    let got = server.received();
    assert_eq!(got.len(), 1, "one report; server log:\n{}", server.log());
    let r = &got[0];
    assert_eq!(r.mail_from, "it@example.com");
    assert_eq!(r.rcpt_tos, ["alice@example.com"]);
    assert_eq!(r.login.as_deref(), Some("reports"));
    assert!(r.tls, "STARTTLS before the message");

    let m = mail_parser::MessageParser::default()
        .parse(&r.bytes)
        .unwrap();
    let subject = m.subject().unwrap();
    assert!(
        subject.starts_with("Your mailbox is ")
            && subject.ends_with("2 attachments moved to file storage"),
        "{subject}"
    );
    let body = m.body_text(0).unwrap();
    let index = Index::open(&dir.path().join("index.sqlite")).expect("index");
    let moved = index
        .find_parts(&PartFilter {
            account: Some("alice".into()),
            after_message: Some(0),
            ..PartFilter::default()
        })
        .expect("moved parts");
    assert_eq!(moved.len(), 2);
    for p in &moved {
        let size = slimbox::units::human_size(p.size);
        let line = body
            .lines()
            .find(|l| l.contains(p.filename.as_str()))
            .unwrap_or_else(|| panic!("{} not listed:\n{body}", p.filename));
        assert!(line.contains(&size), "no size {size} in {line:?}");
    }

    // Byte for byte what `compose` writes for the same run: the same
    // message as INBOX delivery would have put there.
    let folders = alice["folders"].as_array().expect("folders");
    let saved: u64 = folders
        .iter()
        .map(|f| f["bytes_before"].as_u64().unwrap() - f["bytes_after"].as_u64().unwrap())
        .sum();
    let now = m.date().expect("Date").to_timestamp();
    let want = compose(&OwnerReport {
        to: OWNER,
        from: FROM,
        moved: &moved,
        saved,
        way_back: &WayBack::Commands {
            account: "alice".into(),
        },
        now,
        target: None,
    })
    .expect("compose");
    assert_eq!(
        String::from_utf8_lossy(&r.bytes),
        String::from_utf8_lossy(&want),
        "the message sent is the one compose gives"
    );
    assert_eq!(r.bytes, want);
}

#[test]
fn issue13_a_refusing_smtp_server_leaves_the_run_as_it_was() {
    let d = Dovecot::start(DovecotOptions::default());
    let server = Smtp::start(SmtpOptions {
        refuse: vec!["alice@example.com".into()],
        ..SmtpOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    // No TLS: allowed to a loopback host, and no AUTH.
    let config = setup(&d, dir.path(), server.port, "tls = \"none\"\n");

    let (status, summary, stderr) = run_all(&config);
    // As for a report that cannot be put into INBOX (README): exit status
    // 1, the conversions themselves stand.
    assert_eq!(status.code(), Some(1), "{stderr}\n{summary:#}");
    let alice = account(&summary, "alice");
    assert!(alice["error"].is_null(), "{summary:#}");
    assert_eq!(alice["folders"][0]["converted"], 2, "{summary:#}");
    let note = &alice["owner_report"];
    assert_eq!(note["files"], 0, "{summary:#}");
    let error = note["error"].as_str().expect("the error is noted");
    assert!(
        error.contains("127.0.0.1") && error.contains("550") && error.contains("no such mailbox"),
        "{error}"
    );
    assert!(server.received().is_empty());
    // The run itself did its work: both files are in the index.
    let index = Index::open(&dir.path().join("index.sqlite")).expect("index");
    let moved = index
        .find_parts(&PartFilter {
            account: Some("alice".into()),
            ..PartFilter::default()
        })
        .expect("parts");
    assert_eq!(moved.len(), 2);
}
