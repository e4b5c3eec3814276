//! slimbox::imap against a real Dovecot (tests/support/dovecot.rs starts a
//! private instance per test). These tests never skip: if Dovecot cannot be
//! started they fail with the harness output.

mod support;

use slimbox::imap::datetime::parse_datetime;
use slimbox::imap::{DeleteOutcome, Folder, ImapAuth, ImapConfig, ImapError, Session, TlsMode};
use support::dovecot::{master_login, Dovecot, DovecotOptions, MASTER_PASSWORD};

fn cfg(d: &Dovecot, host: &str, tls: TlsMode, user: &str, password: &str) -> ImapConfig {
    let port = match tls {
        TlsMode::Implicit => d.imaps_port,
        TlsMode::StartTls | TlsMode::None => d.imap_port,
    };
    ImapConfig {
        host: host.to_string(),
        port,
        tls,
        ca_file: Some(d.ca_pem.clone()),
        user: user.to_string(),
        auth: ImapAuth::Password(password.to_string()),
    }
}

async fn alice(d: &Dovecot) -> Session {
    let c = cfg(d, "localhost", TlsMode::Implicit, "alice", "alicepw");
    match Session::connect(&c).await {
        Ok(s) => s,
        Err(e) => panic!("connect as alice failed: {e}\n{}", d.log_tail(20)),
    }
}

/// A multipart message with a base64 PDF whose RFC 2231 file name is
/// "résumé – 2024.pdf" (split into continuations), padded to about `pdf_len` bytes.
fn pdf_message(subject: &str, pdf_len: usize, extra_header: &str) -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut x: u32 = 12345;
    while pdf.len() < pdf_len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        pdf.push((x >> 16) as u8);
    }
    let b64 = base64_simd::STANDARD.encode_to_string(&pdf);
    let mut body = String::new();
    for line in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(line).unwrap());
        body.push_str("\r\n");
    }
    format!(
        "From: Bob <bob@example.com>\r\n\
         To: Alice <alice@example.com>\r\n\
         Subject: {subject}\r\n\
         Date: Thu, 01 Feb 2024 10:00:00 +0100\r\n\
         Message-ID: <{subject}@example.com>\r\n\
         {extra_header}\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         See attached.\r\n\
         --b1\r\n\
         Content-Type: application/pdf; name=\"=?utf-8?Q?r=C3=A9sum=C3=A9_=E2=80=93_2024.pdf?=\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment;\r\n \
         filename*0*=utf-8''r%C3%A9sum%C3%A9%20%E2%80%93;\r\n \
         filename*1*=%202024.pdf\r\n\
         \r\n\
         {body}\
         --b1--\r\n"
    )
    .into_bytes()
}

fn small_message(subject: &str) -> Vec<u8> {
    format!(
        "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.com>\r\n\r\nshort body\r\n"
    )
    .into_bytes()
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn connect_modes_and_auth() {
    let d = Dovecot::start(DovecotOptions::default());

    // Implicit TLS, trusting only the harness's self-signed certificate.
    let s = alice(&d).await;
    assert!(s.has_capability("IMAP4rev1"));
    assert!(s.has_capability("uidplus"), "case-insensitive lookup");
    assert!(
        s.has_capability("SPECIAL-USE"),
        "post-login capabilities cached"
    );
    eprintln!("Dovecot capabilities: {}", s.capabilities().join(" "));
    s.logout().await.expect("logout");

    // STARTTLS on the plain port, by IP address (the cert has SAN IP 127.0.0.1).
    let c = cfg(&d, "127.0.0.1", TlsMode::StartTls, "alice", "alicepw");
    let mut s = Session::connect(&c).await.expect("STARTTLS connect");
    s.noop().await.expect("noop");
    s.logout().await.expect("logout");

    // Plain text is allowed to loopback.
    let c = cfg(&d, "127.0.0.1", TlsMode::None, "bob", "bobpw");
    let s = Session::connect(&c)
        .await
        .expect("plain connect to loopback");
    s.logout().await.expect("logout");

    // The master user logs in on behalf of alice.
    let c = cfg(
        &d,
        "localhost",
        TlsMode::Implicit,
        &master_login("alice"),
        MASTER_PASSWORD,
    );
    let s = Session::connect(&c).await.expect("master user login");
    s.logout().await.expect("logout");

    // Wrong password: an Auth error, not transient, naming the user.
    let c = cfg(&d, "localhost", TlsMode::Implicit, "alice", "wrong");
    match Session::connect(&c).await {
        Err(e @ ImapError::Auth { .. }) => {
            assert!(!e.is_transient());
            assert!(e.to_string().contains("alice"), "{e}");
        }
        other => panic!("expected an Auth error, got {other:?}"),
    }
    // Same over STARTTLS.
    let c = cfg(&d, "127.0.0.1", TlsMode::StartTls, "alice", "wrong");
    assert!(matches!(
        Session::connect(&c).await,
        Err(ImapError::Auth { .. })
    ));

    // Without the CA file the self-signed certificate must be refused.
    let mut c = cfg(&d, "localhost", TlsMode::Implicit, "alice", "alicepw");
    c.ca_file = None;
    match Session::connect(&c).await {
        Err(e @ ImapError::Tls { .. }) => assert!(!e.is_transient(), "{e}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // Nothing listens: a transient Connect error.
    let mut c = cfg(&d, "127.0.0.1", TlsMode::None, "alice", "alicepw");
    c.port = 1;
    match Session::connect(&c).await {
        Err(e @ ImapError::Connect { .. }) => assert!(e.is_transient()),
        other => panic!("expected a Connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn folders_append_fetch_search_delete() {
    let d = Dovecot::start(DovecotOptions::default());
    let mut s = alice(&d).await;

    // --- folders with special uses
    let folders = s.list_folders().await.expect("list");
    let find = |attr: &str| -> Folder {
        folders
            .iter()
            .find(|f| f.has_special_use(attr))
            .unwrap_or_else(|| panic!("no {attr} folder in {folders:?}"))
            .clone()
    };
    let sent = find("\\Sent");
    assert_eq!(sent.name, "Sent");
    assert_eq!(sent.special_use, vec!["\\Sent".to_string()]);
    let archive = find("\\Archive");
    assert_eq!(archive.name, "Archive");
    let trash = find("\\Trash");
    let inbox = folders
        .iter()
        .find(|f| f.name == "INBOX")
        .expect("INBOX listed")
        .clone();
    assert_eq!(inbox.delimiter.as_deref(), Some("/"));
    assert!(inbox.special_use.is_empty());

    // --- append with flags and an internal date: APPENDUID
    let status0 = s.examine(&archive).await.expect("examine Archive");
    let big = pdf_message("big", 30_000, "");
    let date = "01-Feb-2024 10:00:00 +0100";
    let (validity, uid_big) = s
        .append(
            &archive,
            &flags(&["\\Seen", "\\Flagged", "$Custom", "\\Recent"]),
            date,
            &big,
        )
        .await
        .expect("append")
        .expect("Dovecot sends APPENDUID");
    assert_eq!(validity, status0.uidvalidity);
    assert_eq!(uid_big, status0.uidnext);

    let small = small_message("small");
    let (_, uid_small) = s.append(&archive, &[], "", &small).await.unwrap().unwrap();
    let marked = pdf_message("marked", 30_000, "X-Slimbox: detached\r\n");
    let (_, uid_marked) = s
        .append(&archive, &flags(&["\\Seen"]), date, &marked)
        .await
        .unwrap()
        .unwrap();
    // The user's own \Deleted message, which delete_uid must not expunge.
    let keep = small_message("user-deleted");
    let (_, uid_keep) = s
        .append(&archive, &flags(&["\\Deleted"]), date, &keep)
        .await
        .unwrap()
        .unwrap();

    // --- metadata
    let status = s.select(&archive).await.expect("select Archive");
    assert_eq!(status.exists, 4);
    assert_eq!(status.uidvalidity, validity);
    let metas = s
        .fetch_meta(&[uid_marked, uid_big, 999_999])
        .await
        .expect("fetch_meta");
    assert_eq!(metas.len(), 2, "{metas:?}");
    let meta = &metas[0];
    assert_eq!(meta.uid, uid_big);
    assert_eq!(meta.size, big.len() as u64);
    let mut got_flags = meta.flags.clone();
    got_flags.sort();
    assert_eq!(got_flags, flags(&["$Custom", "\\Flagged", "\\Seen"]));
    // Dovecot keeps the instant, not the zone: compare instants.
    assert_eq!(meta.internal_ts, parse_datetime(date).unwrap());
    assert_eq!(parse_datetime(&meta.internal_date), Some(meta.internal_ts));
    assert_eq!(meta.top_type, "multipart/mixed");
    assert_eq!(meta.leaves.len(), 2, "{:?}", meta.leaves);
    assert_eq!(meta.leaves[0].path, "1");
    assert_eq!(meta.leaves[0].content_type, "text/plain");
    let pdf = &meta.leaves[1];
    assert_eq!(pdf.path, "2");
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(pdf.encoding, "base64");
    assert_eq!(pdf.disposition.as_deref(), Some("attachment"));
    assert_eq!(pdf.filename.as_deref(), Some("résumé – 2024.pdf"));
    assert!(pdf.size > 40_000, "encoded size {}", pdf.size);
    assert_eq!(metas[1].uid, uid_marked);

    // --- whole message, byte for byte, without setting \Seen
    let unseen_flags = flags(&["$Custom"]);
    let (_, uid_unseen) = s
        .append(&archive, &unseen_flags, date, &big)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.fetch_message(uid_big).await.unwrap(),
        Some(bytes::Bytes::from(big.clone()))
    );
    assert_eq!(
        s.fetch_message(uid_unseen).await.unwrap(),
        Some(bytes::Bytes::from(big.clone()))
    );
    assert_eq!(
        s.fetch_message(uid_small).await.unwrap(),
        Some(bytes::Bytes::from(small.clone()))
    );
    let after = s.fetch_meta(&[uid_unseen]).await.unwrap();
    assert_eq!(
        after[0].flags, unseen_flags,
        "BODY.PEEK[] must not set \\Seen"
    );
    assert_eq!(s.fetch_message(999_999).await.unwrap(), None);

    // --- server-side candidate search: size >= threshold, not X-Slimbox
    let big_len = big.len() as u64;
    let all_big = s.search_candidates(big_len, None).await.unwrap();
    assert_eq!(
        all_big,
        vec![uid_big, uid_unseen],
        "size >= threshold matches"
    );
    let none = s.search_candidates(big_len + 1, None).await.unwrap();
    assert!(none.is_empty(), "{none:?}");
    let with_small = s.search_candidates(1, None).await.unwrap();
    assert_eq!(with_small, vec![uid_big, uid_small, uid_keep, uid_unseen]);
    // BEFORE compares days: 2 Feb 2024 includes the 1 Feb messages, not today's.
    let feb2 = parse_datetime("02-Feb-2024 12:00:00 +0000").unwrap();
    let old = s.search_candidates(1, Some(feb2)).await.unwrap();
    assert_eq!(old, vec![uid_big, uid_keep, uid_unseen]);
    let feb1 = parse_datetime("01-Feb-2024 12:00:00 +0000").unwrap();
    assert!(s.search_candidates(1, Some(feb1)).await.unwrap().is_empty());

    let hits = s.search_header("X-Slimbox", "detached").await.unwrap();
    assert_eq!(hits, vec![uid_marked]);
    let hits = s.search_header("Subject", "user-deleted").await.unwrap();
    assert_eq!(hits, vec![uid_keep]);

    // --- delete one UID; the user's other \Deleted message survives
    let outcome = s.delete_uid(uid_big, Some(&trash)).await.expect("delete");
    assert_eq!(outcome, DeleteOutcome::Expunged);
    assert_eq!(s.fetch_message(uid_big).await.unwrap(), None);
    let left: Vec<u32> = s
        .fetch_meta(&[uid_big, uid_small, uid_marked, uid_keep, uid_unseen])
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![uid_small, uid_marked, uid_keep, uid_unseen]);
    let kept = s.fetch_meta(&[uid_keep]).await.unwrap();
    assert_eq!(kept[0].flags, flags(&["\\Deleted"]));
    let everything = s.search_candidates(0, None).await.unwrap();
    assert_eq!(everything, vec![uid_small, uid_keep, uid_unseen]);

    // A fresh session sees the same thing (the deletion is on the server).
    let mut s2 = alice(&d).await;
    let st = s2.examine(&archive).await.unwrap();
    assert_eq!(st.exists, 4);
    // Read-only sessions cannot delete.
    assert!(matches!(
        s2.delete_uid(uid_small, None).await,
        Err(ImapError::Usage(_))
    ));
    s2.logout().await.unwrap();

    // Bad input is refused before anything is sent, and the session survives.
    assert!(matches!(
        s.append(&archive, &flags(&["two words"]), "", &small).await,
        Err(ImapError::Invalid(_))
    ));
    assert!(matches!(
        s.append(&archive, &[], "yesterday", &small).await,
        Err(ImapError::Invalid(_))
    ));
    // A folder that does not exist: NO, and the message text is never run.
    let nowhere = Folder::from_name("Nowhere");
    match s.append(&nowhere, &[], "", &small).await {
        Err(e @ ImapError::No { .. }) => assert!(e.to_string().contains("Nowhere"), "{e}"),
        other => panic!("expected NO, got {other:?}"),
    }
    s.noop().await.expect("session still usable");
    s.logout().await.unwrap();
}

#[tokio::test]
async fn over_quota_append() {
    let d = Dovecot::start(DovecotOptions {
        quota_bytes: Some(20_000),
        ..DovecotOptions::default()
    });
    let mut s = alice(&d).await;
    let inbox = Folder::from_name("INBOX");
    let big = pdf_message("too-big", 40_000, "");
    match s.append(&inbox, &flags(&["\\Seen"]), "", &big).await {
        Err(e @ ImapError::OverQuota { .. }) => {
            assert!(!e.is_transient());
            assert!(e.to_string().contains("quota"), "{e}");
        }
        other => panic!("expected OverQuota, got {other:?}"),
    }
    // The rejected literal was never sent, so the session is intact.
    s.noop().await.expect("session usable after OVERQUOTA");
    let small = small_message("fits");
    let got = s
        .append(&inbox, &[], "", &small)
        .await
        .expect("small append");
    assert!(got.is_some());
    s.logout().await.unwrap();
}
