//! Scripted fake IMAP servers on loopback, for the paths Dovecot in the live
//! tests never takes: LOGINDISABLED with AUTHENTICATE PLAIN, no UIDPLUS (MOVE
//! to trash, or flag only), no UIDNEXT on SELECT, literals in LOGIN, a server
//! that hangs up.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::{DeleteOutcome, Folder, ImapConfig, ImapError, Session, TlsMode};

/// One exchange: the line the client must send (without its tag, if it has
/// one) and the server's reply, where `{tag}` stands for the client's tag.
type Step = (&'static str, &'static str);

/// Serves `script` to one client; returns what went wrong, if anything.
async fn serve(
    listener: TcpListener,
    greeting: &'static str,
    script: Vec<Step>,
) -> Result<(), String> {
    let (sock, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(format!("{greeting}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut tag = String::new();
    for (expect, reply) in script {
        let mut buf = Vec::new();
        rd.read_until(b'\n', &mut buf)
            .await
            .map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&buf)
            .trim_end_matches("\r\n")
            .to_string();
        let body = match line.split_once(' ') {
            Some((t, rest)) if t.starts_with('S') && t[1..].bytes().all(|b| b.is_ascii_digit()) => {
                tag = t.to_string();
                rest.to_string()
            }
            _ => line.clone(),
        };
        if body != expect {
            let _ = wr
                .write_all(format!("{tag} BAD unexpected\r\n").as_bytes())
                .await;
            return Err(format!("expected {expect:?}, got {line:?}"));
        }
        let reply = reply.replace("{tag}", &tag).replace('\n', "\r\n");
        wr.write_all(format!("{reply}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn start(
    greeting: &'static str,
    script: Vec<Step>,
) -> (u16, tokio::task::JoinHandle<Result<(), String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (port, tokio::spawn(serve(listener, greeting, script)))
}

fn cfg(port: u16, password: &str) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        ca_file: None,
        user: "alice".into(),
        password: password.into(),
    }
}

#[tokio::test]
async fn authenticate_plain_move_and_flag_only() {
    let b64 = "AGFsaWNlAHB3"; // "\0alice\0pw"
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] fake ready",
        vec![
            ("AUTHENTICATE PLAIN", "+ "),
            (b64, "* CAPABILITY IMAP4rev1 MOVE\n{tag} OK logged in"),
            (
                "SELECT \"INBOX\"",
                "* 3 EXISTS\n* OK [UIDVALIDITY 7] ok\n{tag} OK [READ-WRITE] selected",
            ),
            (
                "STATUS \"INBOX\" (UIDNEXT)",
                "* STATUS INBOX (UIDNEXT 9)\n{tag} OK",
            ),
            ("UID MOVE 5 \"Trash\"", "* 2 EXPUNGE\n{tag} OK moved"),
            ("UID STORE 6 +FLAGS.SILENT (\\Deleted)", "{tag} OK stored"),
            ("LOGOUT", "* BYE bye\n{tag} OK"),
        ],
    )
    .await;
    let mut s = Session::connect(&cfg(port, "pw")).await.expect("connect");
    assert!(s.has_capability("move"));
    assert!(!s.has_capability("UIDPLUS"));
    let st = s.select(&Folder::from_name("INBOX")).await.expect("select");
    assert_eq!((st.uidvalidity, st.uidnext, st.exists), (7, 9, 3));
    let trash = Folder::from_name("Trash");
    let out = s.delete_uid(5, Some(&trash)).await.expect("move");
    assert_eq!(out, DeleteOutcome::MovedToTrash("Trash".into()));
    let out = s.delete_uid(6, None).await.expect("flag");
    assert_eq!(out, DeleteOutcome::FlaggedOnly);
    s.logout().await.expect("logout");
    server.await.expect("join").expect("script");
}

#[tokio::test]
async fn login_literal_and_auth_failure() {
    // A non-ASCII password goes as a literal; the NO text reaches the error.
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1] fake",
        vec![
            ("LOGIN \"alice\" {5}", "+ go ahead"),
            (
                "p\u{e4}ss",
                "{tag} NO [AUTHENTICATIONFAILED] Authentication failed.",
            ),
        ],
    )
    .await;
    match Session::connect(&cfg(port, "p\u{e4}ss")).await {
        Err(ImapError::Auth { user, text }) => {
            assert_eq!(user, "alice");
            assert!(text.contains("AUTHENTICATIONFAILED"), "{text}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    server.await.expect("join").expect("script");
}

#[tokio::test]
async fn server_hangup_is_transient_and_final() {
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1 UIDPLUS] fake",
        vec![
            ("LOGIN \"alice\" \"pw\"", "{tag} OK in"),
            // No capabilities came with the OK, so they are asked for.
            ("CAPABILITY", "* CAPABILITY IMAP4rev1 UIDPLUS\n{tag} OK"),
            ("NOOP", "* BYE shutting down"),
        ],
    )
    .await;
    let mut s = Session::connect(&cfg(port, "pw")).await.expect("connect");
    let err = s.noop().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("shutting down"), "{err}");
    // The connection is marked dead rather than reused.
    assert!(matches!(s.noop().await, Err(ImapError::Usage(_))));
    server.await.expect("join").expect("script");
}

#[tokio::test]
async fn starttls_required_but_missing() {
    let (port, server) = start("* OK [CAPABILITY IMAP4rev1] no tls here", vec![]).await;
    let mut c = cfg(port, "pw");
    c.tls = TlsMode::StartTls;
    match Session::connect(&c).await {
        Err(ImapError::Tls { reason, .. }) => assert!(reason.contains("STARTTLS"), "{reason}"),
        other => panic!("expected Tls, got {other:?}"),
    }
    server.await.expect("join").expect("script");
}
