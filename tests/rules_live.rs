//! Issue 13: `[[rule]]` and `[[account.rule]]` against a private Dovecot.
//! Two rules give a sender and a folder their own thresholds: only the
//! messages the right rule takes are converted, an account's rule comes
//! before a global one, and the rest keep the policy (here: nothing).

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const OLD: &str = "01-Feb-2023 10:00:00 +0100";
/// Far ahead, so never older than any `older_than`.
const NEW: &str = "01-Feb-2099 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A message with one attachment of `size` bytes, from `from`.
fn mail(id: &str, from: &str, size: usize, seed: u64) -> Vec<u8> {
    let m = mailbox::with_attachment(
        id,
        "Rules",
        "file.pdf",
        "application/pdf",
        mailbox::noise(size, seed),
    );
    let text = String::from_utf8(m).expect("lettre writes ASCII here");
    let from_line = "From: \"Ada Lovelace\" <ada@example.com>";
    assert!(text.contains(from_line), "{}", &text[..300]);
    text.replacen(from_line, &format!("From: {from}"), 1)
        .into_bytes()
}

fn config(d: &Dovecot, dir: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"[store]
url = "{store}"
[index]
path = "{index}"
[policy]
# Nothing is this large: only the rules convert anything.
min_size = "10MiB"
folders = ["\\Sent"]

# The boss's mail, wherever: from 100 KiB on.
[[rule]]
folders = ["\\Sent", "Archive"]
from = ["boss@*"]
min_size = "100KiB"

[[account]]
name = "alice"
host = "127.0.0.1"
port = {port}
tls = "implicit"
ca_file = "{ca}"
user = "alice"
password_env = "SLIMBOX_TEST_PASSWORD"

# Alice's Archive, whoever wrote it: from 500 KiB on, a year old. Tried
# before the global rule, so it decides the boss's mail in Archive too.
[[account.rule]]
folders = ["Archive"]
min_size = "500KiB"
older_than = "365d"
"#,
        store = dir.join("store").display(),
        index = dir.join("index.sqlite").display(),
        port = d.imaps_port,
        ca = d.ca_pem.display(),
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// Whether each message (by Message-ID) of `folder` is converted.
fn converted(d: &Dovecot, folder: &str) -> BTreeMap<String, bool> {
    rt().block_on(mailbox::snapshot(d, folder))
        .values()
        .map(|s| {
            (
                mailbox::message_id(&s.bytes).expect("Message-ID"),
                slimbox::mime::is_processed(&s.bytes),
            )
        })
        .collect()
}

#[test]
fn issue13_two_rules_give_a_sender_and_a_folder_their_own_thresholds() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(&d, dir.path());
    let boss = "The Boss <Boss@corp.example>";
    let ada = "Ada Lovelace <ada@example.com>";
    rt().block_on(async {
        for (folder, id, from, size, date) in [
            ("Sent", "s-boss", boss, 200_000, OLD),
            ("Sent", "s-ada", ada, 200_000, OLD),
            ("Archive", "a-big", ada, 800_000, OLD),
            ("Archive", "a-small", ada, 200_000, OLD),
            ("Archive", "a-boss", boss, 200_000, OLD),
            ("Archive", "a-new", ada, 800_000, NEW),
        ] {
            let m = mail(id, from, size, id.len() as u64);
            mailbox::seed(&d, folder, &m, &["\\Seen"], date).await;
        }
    });

    let metrics = dir.path().join("slimbox.prom");
    let out = slimbox(&config)
        .args(["run", "--json", "--metrics-file"])
        .arg(&metrics)
        .output()
        .expect("run slimbox");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");

    let sent = converted(&d, "Sent");
    let archive = converted(&d, "Archive");
    let want = |id: &str| matches!(id, "s-boss@example.com" | "a-big@example.com");
    for (id, done) in sent.iter().chain(&archive) {
        assert_eq!(*done, want(id), "{id}: {report:#}");
    }
    assert_eq!(sent.len() + archive.len(), 6);

    // No QUOTA on this server: the figures are left out, the rest is there.
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    let samples = slimbox::metrics::parse::parse(&text).expect("metrics parse");
    let value = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name && s.labels["mailbox"] == "alice")
            .map(|s| s.value)
    };
    assert_eq!(value("slimbox_last_run_messages_converted"), Some(2.0));
    assert!(!text.contains("quota"), "{text}");
    assert!(report[0]["quota_before"].is_null(), "{report:#}");

    // A second run finds nothing more.
    let again = slimbox(&config)
        .args(["run", "--json"])
        .output()
        .expect("run");
    assert!(again.status.success());
    assert_eq!(converted(&d, "Sent"), sent);
    assert_eq!(converted(&d, "Archive"), archive);
}
