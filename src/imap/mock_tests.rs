//! Scripted fake IMAP servers on loopback, for the paths Dovecot in the live
//! tests never takes: LOGINDISABLED with AUTHENTICATE PLAIN, no UIDPLUS (MOVE
//! to trash, or flag only), no UIDNEXT on SELECT, literals in LOGIN, a server
//! that hangs up; and Dovecot's answer to a login over its connection limit,
//! word for word (tests/fleet_live.rs sees it from Dovecot itself). The
//! server ([`start`], [`Step`]) and the reply builders are shared with the
//! pipeline's tests, which script whole conversions against it.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::{DeleteOutcome, Folder, ImapAuth, ImapConfig, ImapError, Session, TlsMode};

/// One exchange: the line the client must send (without its tag, if it has
/// one) and the server's reply, where `{tag}` stands for the client's tag.
pub(crate) struct Step {
    expect: String,
    /// Only the start of the line must match (a value the test does not
    /// spell out).
    prefix: bool,
    /// The line ends in a synchronizing literal `{N}`: the server says `+`,
    /// reads exactly N bytes and the rest of the line, then replies.
    literal: bool,
    /// Sent as is, then CRLF; `{tag}` is replaced.
    reply: Vec<u8>,
}

impl Step {
    /// Expects `expect` and answers `reply`, whose lines end in `\n` (sent as
    /// CRLF).
    pub(crate) fn new(expect: impl Into<String>, reply: &str) -> Step {
        Step::bytes(expect, reply.replace('\n', "\r\n").into_bytes())
    }

    /// Expects `expect` and answers exactly `reply` (lines already ending in
    /// CRLF, literals inside left alone), then CRLF.
    pub(crate) fn bytes(expect: impl Into<String>, reply: Vec<u8>) -> Step {
        Step {
            expect: expect.into(),
            prefix: false,
            literal: false,
            reply,
        }
    }

    /// The line need only start with the expectation.
    pub(crate) fn prefix(mut self) -> Step {
        self.prefix = true;
        self
    }

    /// The line (as expected, up to and including `{N}`) announces a
    /// synchronizing literal of N bytes, which the server takes in before
    /// it replies (an APPEND).
    pub(crate) fn literal(mut self) -> Step {
        self.literal = true;
        self
    }

    fn matches(&self, body: &str) -> bool {
        match self.prefix {
            true => body.starts_with(&self.expect),
            false => body == self.expect,
        }
    }
}

impl From<(&str, &str)> for Step {
    fn from((expect, reply): (&str, &str)) -> Step {
        Step::new(expect, reply)
    }
}

/// Serves `script` to one client; returns the literals it took in (in
/// order), or what went wrong.
async fn serve(
    listener: TcpListener,
    greeting: String,
    script: Vec<Step>,
) -> Result<Vec<Vec<u8>>, String> {
    let (sock, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(format!("{greeting}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut tag = String::new();
    let mut literals = Vec::new();
    for step in script {
        let line = read_line(&mut rd).await?;
        let body = match line.split_once(' ') {
            Some((t, rest)) if t.starts_with('S') && t[1..].bytes().all(|b| b.is_ascii_digit()) => {
                tag = t.to_string();
                rest.to_string()
            }
            _ => line.clone(),
        };
        if !step.matches(&body) {
            let _ = wr
                .write_all(format!("{tag} BAD unexpected\r\n").as_bytes())
                .await;
            return Err(format!("expected {:?}, got {line:?}", step.expect));
        }
        if step.literal {
            literals.push(take_literal(&mut rd, &mut wr, &body).await?);
        }
        let mut reply = replace_tag(&step.reply, &tag);
        reply.extend_from_slice(b"\r\n");
        wr.write_all(&reply).await.map_err(|e| e.to_string())?;
    }
    Ok(literals)
}

/// One line from the client, without its CRLF.
async fn read_line(rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Result<String, String> {
    let mut buf = Vec::new();
    rd.read_until(b'\n', &mut buf)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf)
        .trim_end_matches("\r\n")
        .to_string())
}

/// Answers the `{N}` that ends `line` with `+`, then reads the N bytes and
/// the (empty) rest of the command line.
async fn take_literal(
    rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    line: &str,
) -> Result<Vec<u8>, String> {
    let n: usize = line
        .strip_suffix('}')
        .and_then(|l| l.rsplit_once('{'))
        .and_then(|(_, n)| n.parse().ok())
        .ok_or_else(|| format!("no synchronizing literal at the end of {line:?}"))?;
    wr.write_all(b"+ go ahead\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut data = vec![0; n];
    rd.read_exact(&mut data).await.map_err(|e| e.to_string())?;
    let rest = read_line(rd).await?;
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?} after the literal of {line:?}"));
    }
    Ok(data)
}

/// `reply` with every `{tag}` replaced by `tag`.
fn replace_tag(reply: &[u8], tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len() + tag.len());
    let mut rest = reply;
    while let Some(i) = rest.windows(5).position(|w| w == b"{tag}") {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(tag.as_bytes());
        rest = &rest[i + 5..];
    }
    out.extend_from_slice(rest);
    out
}

/// Starts a server for one client on a free loopback port; the handle
/// yields what [`serve`] returns.
pub(crate) async fn start<S: Into<Step>>(
    greeting: &str,
    script: Vec<S>,
) -> (u16, tokio::task::JoinHandle<Result<Vec<Vec<u8>>, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let script = script.into_iter().map(Into::into).collect();
    (
        port,
        tokio::spawn(serve(listener, greeting.to_string(), script)),
    )
}

/// A plain-text connection to the fake server as user "alice".
pub(crate) fn cfg(port: u16, password: &str) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        ca_file: None,
        user: "alice".into(),
        auth: ImapAuth::Password(password.into()),
    }
}

/// The answer to `UID FETCH <uid> BODY.PEEK[]`: `message` as a literal.
pub(crate) fn body_reply(uid: u32, message: &[u8]) -> Vec<u8> {
    let mut reply = format!("* 1 FETCH (UID {uid} BODY[] {{{}}}\r\n", message.len()).into_bytes();
    reply.extend_from_slice(message);
    reply.extend_from_slice(b")\r\n{tag} OK Fetch completed.");
    reply
}

/// The answer to a metadata `UID FETCH` of one single-part text message.
pub(crate) fn meta_reply(uid: u32, size: usize, flags: &str, internal_date: &str) -> String {
    format!(
        "* 1 FETCH (UID {uid} RFC822.SIZE {size} FLAGS ({flags}) INTERNALDATE \"{internal_date}\" \
         BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {size} 1 \
         NIL NIL NIL NIL))\n{{tag}} OK Fetch completed."
    )
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
async fn login_over_the_connection_limit_is_throttled() {
    // Dovecot 2.3.19's answer, word for word, to a login (LOGIN or
    // AUTHENTICATE, as a master user too) past mail_max_userip_connections;
    // it closes the connection right after.
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] Dovecot ready.",
        vec![(
            "LOGIN \"alice\" \"pw\"",
            "{tag} NO [LIMIT] Maximum number of connections from user+IP exceeded \
             (mail_max_userip_connections=1)",
        )],
    )
    .await;
    match Session::connect(&cfg(port, "pw")).await {
        Err(e @ ImapError::Throttled { .. }) => {
            assert!(e.is_throttled() && e.is_transient(), "{e:?}");
            assert!(e.to_string().contains("max_connections"), "{e}");
        }
        other => panic!("expected Throttled, got {other:?}"),
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
    let (port, server) = start(
        "* OK [CAPABILITY IMAP4rev1] no tls here",
        Vec::<Step>::new(),
    )
    .await;
    let mut c = cfg(port, "pw");
    c.tls = TlsMode::StartTls;
    match Session::connect(&c).await {
        Err(ImapError::Tls { reason, .. }) => assert!(reason.contains("STARTTLS"), "{reason}"),
        other => panic!("expected Tls, got {other:?}"),
    }
    server.await.expect("join").expect("script");
}
