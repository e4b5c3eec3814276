//! Proves the private Dovecot harness (tests/support/dovecot.rs) works: login,
//! capabilities, SPECIAL-USE mailboxes, master-user login, APPEND, quota, TLS.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::dovecot::{master_login, Dovecot, DovecotOptions, MASTER_PASSWORD};

/// A minimal line-based IMAP client: enough for these checks, no literals in
/// responses.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
}

struct Reply {
    untagged: Vec<String>,
    tagged: String,
}

impl Reply {
    fn ok(&self) -> bool {
        self.tagged.split(' ').nth(1) == Some("OK")
    }
}

impl Imap {
    /// Connects and returns the client and the server greeting.
    fn connect(port: u16) -> (Imap, String) {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to Dovecot");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut imap = Imap {
            reader: BufReader::new(stream),
            writer,
            next_tag: 1,
        };
        let greeting = imap.read_line();
        (imap, greeting)
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read from Dovecot");
        assert!(n > 0, "Dovecot closed the connection");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    fn tag(&mut self) -> String {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    fn read_reply(&mut self, tag: &str) -> Reply {
        let mut untagged = Vec::new();
        loop {
            let line = self.read_line();
            if line.starts_with(&format!("{tag} ")) {
                return Reply {
                    untagged,
                    tagged: line,
                };
            }
            untagged.push(line);
        }
    }

    fn command(&mut self, command: &str) -> Reply {
        let tag = self.tag();
        write!(self.writer, "{tag} {command}\r\n").unwrap();
        self.read_reply(&tag)
    }

    fn login(&mut self, user: &str, password: &str) -> Reply {
        self.command(&format!("LOGIN \"{user}\" \"{password}\""))
    }

    /// APPEND with a synchronizing literal. Dovecot may refuse before sending
    /// the `+` continuation (e.g. over quota): then the literal is not sent.
    fn append(&mut self, mailbox: &str, message: &[u8]) -> Reply {
        let tag = self.tag();
        write!(
            self.writer,
            "{tag} APPEND {mailbox} {{{}}}\r\n",
            message.len()
        )
        .unwrap();
        let line = self.read_line();
        if line.starts_with('+') {
            self.writer.write_all(message).unwrap();
            self.writer.write_all(b"\r\n").unwrap();
            self.read_reply(&tag)
        } else if line.starts_with(&format!("{tag} ")) {
            Reply {
                untagged: Vec::new(),
                tagged: line,
            }
        } else {
            panic!("unexpected reply to APPEND: {line}");
        }
    }
}

fn message(body_bytes: usize) -> Vec<u8> {
    let mut msg = b"From: alice@example.test\r\nTo: bob@example.test\r\n\
                    Subject: harness test\r\nMessage-ID: <harness@example.test>\r\n\
                    Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
        .to_vec();
    let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n";
    while msg.len() < body_bytes {
        msg.extend_from_slice(line);
    }
    msg.extend_from_slice(b"end\r\n");
    msg
}

fn capabilities(reply: &Reply) -> Vec<String> {
    let line = reply
        .untagged
        .iter()
        .find(|l| l.starts_with("* CAPABILITY "))
        .unwrap_or_else(|| panic!("no CAPABILITY line in {:?}", reply.untagged));
    line["* CAPABILITY ".len()..]
        .split(' ')
        .map(str::to_string)
        .collect()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn login_capabilities_special_use_master_user_and_append() {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let (mut imap, greeting) = Imap::connect(dovecot.imap_port);
    assert!(greeting.starts_with("* OK"), "greeting: {greeting}");
    assert!(greeting.contains("STARTTLS"), "greeting: {greeting}");

    let login = imap.login("alice", "alicepw");
    assert!(login.ok(), "LOGIN: {}", login.tagged);

    let caps = capabilities(&imap.command("CAPABILITY"));
    for cap in ["IMAP4rev1", "UIDPLUS", "MOVE", "SPECIAL-USE", "LITERAL+"] {
        assert!(caps.iter().any(|c| c == cap), "{cap} missing: {caps:?}");
    }
    assert!(
        !caps.iter().any(|c| c == "QUOTA"),
        "QUOTA without --quota: {caps:?}"
    );

    let list = imap.command("LIST \"\" \"*\" RETURN (SPECIAL-USE)");
    assert!(list.ok(), "LIST: {}", list.tagged);
    for (flag, name) in [
        ("\\Sent", "Sent"),
        ("\\Archive", "Archive"),
        ("\\Trash", "Trash"),
        ("\\Drafts", "Drafts"),
        ("\\Junk", "Junk"),
    ] {
        let want = format!("* LIST ({flag}) \"/\" {name}");
        assert!(
            list.untagged.contains(&want),
            "{want:?} not in {:?}",
            list.untagged
        );
    }
    let subscribed = imap.command("LIST (SUBSCRIBED) \"\" \"*\"");
    for name in ["Sent", "Archive", "Trash", "Drafts", "Junk"] {
        assert!(
            subscribed
                .untagged
                .iter()
                .any(|l| l.ends_with(&format!(" {name}"))),
            "{name} not subscribed: {:?}",
            subscribed.untagged
        );
    }

    let append = imap.append("INBOX", &message(100));
    assert!(
        append.tagged.contains("OK [APPENDUID "),
        "APPEND: {}",
        append.tagged
    );
    let maildir = dovecot.maildir("alice");
    assert_eq!(
        files_in(&maildir.join("new")) + files_in(&maildir.join("cur")),
        1,
        "one message file in {}",
        maildir.display()
    );
    imap.command("LOGOUT");

    // Master user: log in as alice with admin's password.
    let (mut imap, _) = Imap::connect(dovecot.imap_port);
    let login = imap.login(&master_login("alice"), MASTER_PASSWORD);
    assert!(
        login.ok(),
        "master LOGIN: {}\n{}",
        login.tagged,
        dovecot.log_tail(10)
    );
    let select = imap.command("SELECT INBOX");
    assert!(
        select.untagged.iter().any(|l| l == "* 1 EXISTS"),
        "master user sees alice's INBOX: {:?}",
        select.untagged
    );
    imap.command("LOGOUT");

    // Wrong passwords are refused (quickly: no auth penalty).
    let (mut imap, _) = Imap::connect(dovecot.imap_port);
    let started = Instant::now();
    assert!(!imap.login("alice", "wrong").ok());
    assert!(!imap.login(&master_login("alice"), "alicepw").ok());
    assert!(!imap.login(&master_login("nobody"), MASTER_PASSWORD).ok());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed logins took {:?}",
        started.elapsed()
    );
    assert!(imap.login("bob", "bobpw").ok());
}

#[test]
fn quota_refuses_append_over_the_limit() {
    let dovecot = Dovecot::start(DovecotOptions {
        quota_bytes: Some(100_000),
        ..DovecotOptions::default()
    });
    let (mut imap, _) = Imap::connect(dovecot.imap_port);
    assert!(imap.login("alice", "alicepw").ok());

    let caps = capabilities(&imap.command("CAPABILITY"));
    assert!(caps.iter().any(|c| c == "QUOTA"), "QUOTA missing: {caps:?}");

    let root = imap.command("GETQUOTAROOT INBOX");
    assert!(root.ok(), "GETQUOTAROOT: {}", root.tagged);
    assert!(
        root.untagged
            .iter()
            .any(|l| l.starts_with("* QUOTA ") && l.contains("(STORAGE 0 98)")),
        "100000 bytes is 98 KiB of STORAGE: {:?}",
        root.untagged
    );

    let big = imap.append("INBOX", &message(200_000));
    assert!(
        big.tagged.contains("NO [OVERQUOTA]"),
        "200 KB APPEND should be refused: {}",
        big.tagged
    );

    let small = imap.append("INBOX", &message(1_000));
    assert!(
        small.tagged.contains("OK [APPENDUID "),
        "small APPEND: {}",
        small.tagged
    );
}

/// Runs `openssl s_client` with `ca.pem` as the only trust root and returns
/// its output (`-verify_return_error` makes it fail on a bad certificate).
fn openssl_s_client(dovecot: &Dovecot, extra: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .arg("s_client")
        .args(extra)
        .arg("-CAfile")
        .arg(&dovecot.ca_pem)
        .args(["-verify_return_error", "-verify_hostname", "localhost"])
        .args(["-servername", "localhost"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client (installed by scripts/test-deps)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a LOGOUT\r\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("openssl s_client hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "openssl s_client failed:\n{out}\n{err}");
    out + &err
}

#[test]
fn tls_certificate_verifies_against_ca_pem() {
    let dovecot = Dovecot::start(DovecotOptions::default());

    let imaps = openssl_s_client(&dovecot, &["-connect", &dovecot.imaps_addr()]);
    assert!(
        imaps.contains("Verify return code: 0 (ok)"),
        "IMAPS: {imaps}"
    );

    let starttls = openssl_s_client(
        &dovecot,
        &["-connect", &dovecot.imap_addr(), "-starttls", "imap"],
    );
    assert!(
        starttls.contains("Verify return code: 0 (ok)"),
        "STARTTLS: {starttls}"
    );

    let pem = std::fs::read_to_string(&dovecot.ca_pem).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
}

#[test]
fn instances_are_independent_and_stop_is_idempotent() {
    let mut one = Dovecot::start(DovecotOptions::default());
    let two = Dovecot::start(DovecotOptions::default());
    let mut ports = vec![one.imap_port, one.imaps_port, two.imap_port, two.imaps_port];
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4, "distinct ports");

    let port = one.imap_port;
    one.stop();
    one.stop();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still open after stop"
    );

    let (_imap, greeting) = Imap::connect(two.imap_port);
    assert!(greeting.starts_with("* OK"), "{greeting}");
}
