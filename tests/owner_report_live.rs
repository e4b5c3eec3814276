//! Issue 13: the owner report. After a run that moved something, the
//! mailbox's owner finds a short message in their INBOX saying what moved,
//! the space freed and how to get files back; a run that moves nothing
//! writes none.

mod support;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn run(config: &std::path::Path) -> serde_json::Value {
    let out = slimbox(config)
        .args(["run", "--json"])
        .output()
        .expect("run slimbox");
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

#[test]
fn issue13_the_owner_report_lands_in_inbox_and_reads_well() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("Budget 2026.xlsx", 700_000),
        ("site photos.zip", 1_300_000),
    ];
    rt().block_on(async {
        for (i, (name, len)) in files.iter().enumerate() {
            let m = mailbox::with_attachment(
                &format!("owner{i}"),
                &format!("Files for the board, part {i}"),
                name,
                "application/octet-stream",
                mailbox::noise(*len, 40 + i as u64),
            );
            mailbox::seed(&d, "Sent", &m, &["\\Seen"], "02-Mar-2025 10:00:00 +0000").await;
        }
    });
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let mut text = std::fs::read_to_string(&config).unwrap();
    // The login name "alice" is no address: the account names its owner's.
    text.push_str("email = \"Alice Example <alice@example.com>\"\n");
    text.push_str("[owner_report]\nfrom = \"Mail team <it@example.com>\"\n");
    std::fs::write(&config, text).unwrap();

    let report = run(&config);
    assert_eq!(report[0]["owner_report"]["files"], 2, "{report:#}");

    let inbox = rt().block_on(mailbox::snapshot(&d, "INBOX"));
    assert_eq!(inbox.len(), 1, "one report in INBOX");
    let seen = inbox.values().next().unwrap();
    assert!(
        seen.flags.iter().all(|f| f != "\\Seen"),
        "the report is unread"
    );
    let raw = &seen.bytes;
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    let subject = m.subject().unwrap();
    assert!(
        subject.starts_with("Your mailbox is ")
            && subject.ends_with("2 attachments moved to file storage"),
        "{subject}"
    );
    assert_eq!(
        m.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert_eq!(
        m.from().unwrap().first().unwrap().address(),
        Some("it@example.com")
    );
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("alice@example.com")
    );
    let body = m.body_text(0).unwrap();
    for want in [
        "Budget 2026.xlsx",
        "site photos.zip",
        "Files for the board, part 1",
        "Nothing is lost",
        "slimbox restore --account alice",
    ] {
        assert!(
            body.contains(want),
            "{want:?} missing from the report:\n{body}"
        );
    }
    // For the note: what the owner reads.
    println!("--- the owner report ---\n{}", String::from_utf8_lossy(raw));

    // Nothing more to move: no second report.
    let again = run(&config);
    assert!(again[0].get("owner_report").is_none(), "{again:#}");
    assert_eq!(rt().block_on(mailbox::snapshot(&d, "INBOX")).len(), 1);
}

/// Issue 19: with `[links] base_url`, the report's page link is the short
/// form, whole on a line of its own, at most 100 characters, and good for
/// the owner's mailbox (until it expires).
#[test]
fn issue19_the_owner_report_carries_a_short_page_link() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let m = mailbox::with_attachment(
            "short",
            "The plan",
            "plan.pdf",
            "application/pdf",
            mailbox::noise(300_000, 77),
        );
        mailbox::seed(&d, "Sent", &m, &["\\Seen"], "02-Mar-2025 10:00:00 +0000").await;
    });
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("email = \"alice@example.com\"\n");
    text.push_str("[owner_report]\nfrom = \"it@example.com\"\n");
    text.push_str("[links]\nbase_url = \"https://files.example.com\"\nexpires = \"30d\"\n");
    std::fs::write(&config, text).unwrap();
    let report = run(&config);
    assert_eq!(report[0]["owner_report"]["files"], 1, "{report:#}");

    let inbox = rt().block_on(mailbox::snapshot(&d, "INBOX"));
    let raw = &inbox.values().next().expect("a report").bytes;
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    let body = m.body_text(0).unwrap();
    let line = body
        .lines()
        .find(|l| l.contains("/m/"))
        .unwrap_or_else(|| panic!("no page link in the report:\n{body}"));
    let link = line.trim();
    assert!(
        !link.contains(' '),
        "the link is not alone on its line: {line:?}"
    );
    assert!(
        link.starts_with("https://files.example.com/m/alice?sig="),
        "{link}"
    );
    assert!(!link.contains("exp="), "{link}");
    assert!(
        link.len() <= slimbox::links::LINK_MAX,
        "{} {link}",
        link.len()
    );
    let secret = slimbox::links::Secret::load(&dir.path().join("links.key")).expect("secret");
    let sig = link.split_once("?sig=").unwrap().1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        secret.check_page("alice", Some(sig), None, now),
        Ok("alice".into())
    );
    assert!(secret
        .check_page("alice", Some(sig), None, now + 31 * 86_400)
        .is_err());
}
