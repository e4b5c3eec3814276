//! Realistic mail for the live tests and a client view of a mailbox: build
//! messages with lettre, seed them over IMAP, and snapshot a folder (UIDs,
//! flags, INTERNALDATE instants, bytes) to compare before and after.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use slimbox::imap::{Folder, ImapAuth, ImapConfig, Session, TlsMode};

use super::dovecot::Dovecot;

/// Incompressible, reproducible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
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

/// A message with one attachment, built with lettre.
pub fn with_attachment(id: &str, subject: &str, name: &str, ctype: &str, data: Vec<u8>) -> Vec<u8> {
    Message::builder()
        .from(mbox("Ada Lovelace <ada@example.com>"))
        .to(mbox("Bob <bob@example.com>"))
        .subject(subject)
        .message_id(Some(format!("<{id}@example.com>")))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(format!("Please find {name} attached.\n")))
                .singlepart(
                    Attachment::new(name.to_string())
                        .body(data, ContentType::parse(ctype).expect("content type")),
                ),
        )
        .expect("message")
        .formatted()
}

/// A plain text message.
pub fn text(id: &str, subject: &str, body: &str) -> Vec<u8> {
    Message::builder()
        .from(mbox("Ada Lovelace <ada@example.com>"))
        .to(mbox("Bob <bob@example.com>"))
        .subject(subject)
        .message_id(Some(format!("<{id}@example.com>")))
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .expect("message")
        .formatted()
}

/// A multipart/signed message whose signed body carries a large attachment.
pub fn signed(id: &str, data: &[u8]) -> Vec<u8> {
    let b64 = base64_simd::STANDARD.encode_to_string(data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "From: Ada <ada@example.com>\r\nTo: bob@example.com\r\nSubject: signed contract\r\nMessage-ID: <{id}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\r\n\r\n--sig\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nSigned.\r\n--in\r\nContent-Type: application/pdf; name=\"contract.pdf\"\r\nContent-Disposition: attachment; filename=\"contract.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--in--\r\n--sig\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIC\r\n--sig--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

pub fn imap_config(d: &Dovecot, user: &str, password: &str) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".into(),
        port: d.imaps_port,
        tls: TlsMode::Implicit,
        ca_file: Some(d.ca_pem.clone()),
        user: user.into(),
        auth: ImapAuth::Password(password.into()),
    }
}

pub async fn connect(d: &Dovecot) -> Session {
    Session::connect(&imap_config(d, "alice", "alicepw"))
        .await
        .expect("connect as alice")
}

pub async fn folder(s: &mut Session, name: &str) -> Folder {
    s.list_folders()
        .await
        .expect("list")
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no folder {name}"))
}

/// APPENDs a message with flags and an INTERNALDATE; returns its UID.
pub async fn seed(d: &Dovecot, folder_name: &str, msg: &[u8], flags: &[&str], date: &str) -> u32 {
    let mut s = connect(d).await;
    let f = folder(&mut s, folder_name).await;
    let flags: Vec<String> = flags.iter().map(|x| x.to_string()).collect();
    let r = s.append(&f, &flags, date, msg).await.expect("append");
    let _ = s.logout().await;
    r.expect("APPENDUID").1
}

/// One message as the server shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub uid: u32,
    pub flags: Vec<String>,
    pub internal_ts: i64,
    pub bytes: Vec<u8>,
}

/// Every message of a folder, by UID.
pub async fn snapshot(d: &Dovecot, folder_name: &str) -> BTreeMap<u32, Seen> {
    let mut s = connect(d).await;
    let f = folder(&mut s, folder_name).await;
    s.examine(&f).await.expect("examine");
    let uids = s.search_header("Message-ID", "").await.expect("search");
    let mut out = BTreeMap::new();
    if !uids.is_empty() {
        for m in s.fetch_meta(&uids).await.expect("fetch meta") {
            let bytes = s
                .fetch_message(m.uid)
                .await
                .expect("fetch")
                .expect("message exists");
            let mut flags = m.flags.clone();
            flags.sort();
            out.insert(
                m.uid,
                Seen {
                    uid: m.uid,
                    flags,
                    internal_ts: m.internal_ts,
                    bytes: bytes.to_vec(),
                },
            );
        }
    }
    let _ = s.logout().await;
    out
}

/// The Message-ID header value of a raw message.
pub fn message_id(raw: &[u8]) -> Option<String> {
    mail_parser::MessageParser::new()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_string))
}

/// A config file for slimbox against this Dovecot, in `dir`.
pub fn write_config(d: &Dovecot, dir: &Path, min_size: &str) -> PathBuf {
    let text = format!(
        r#"[store]
url = "{store}"
[index]
path = "{index}"
[policy]
min_size = "{min_size}"
folders = ["\\Sent", "\\Archive"]
[[account]]
name = "alice"
host = "127.0.0.1"
port = {port}
tls = "implicit"
ca_file = "{ca}"
user = "alice"
password_env = "SLIMBOX_TEST_PASSWORD"
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

/// Runs `c`, which must succeed; its standard output, trimmed.
pub fn ok(c: &mut std::process::Command) -> String {
    let out = c.output().expect("run slimbox");
    assert!(
        out.status.success(),
        "slimbox failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The slimbox binary with a config from [`write_config`] and its password,
/// never paused by the test hook unless the caller says so.
pub fn slimbox(config: &Path) -> std::process::Command {
    let mut c = super::cli::slimbox_with(config);
    c.env(super::cli::PASSWORD_ENV, "alicepw");
    c
}

/// Rebuilds the original from a converted message and the store on disk.
pub fn reattach_from_disk(store: &Path, rewritten: &[u8]) -> Vec<u8> {
    let needed = slimbox::mime::objects_needed(rewritten).expect("stubs");
    let objects: Vec<([u8; 32], Vec<u8>)> = needed
        .iter()
        .map(|h| {
            let hex = hex::encode(h);
            let p = store.join("sha256").join(&hex[..2]).join(&hex);
            (*h, std::fs::read(&p).expect("object on disk"))
        })
        .collect();
    let lookup = |h: &[u8; 32]| objects.iter().find(|(k, _)| k == h).map(|(_, d)| &d[..]);
    slimbox::mime::reattach(rewritten, &lookup).expect("reattach")
}
