//! The protocol engine: tags, sending commands (with synchronizing literals),
//! reading responses until the tagged completion, the capability cache, and
//! turning transport failures into [`ImapError`]s.
//!
//! async-imap supplies the response framing and parsing (imap-proto) through
//! `Client::read_response`; the commands are written here rather than through
//! its helpers because those drop what slimbox needs: response codes
//! (APPENDUID, UIDVALIDITY, OVERQUOTA, EXPUNGEISSUED), untagged data on a NO,
//! literals in arguments. Every untagged response is handed to the running
//! command's callback, so nothing queues up unread: the bounded
//! `unsolicited_responses` channel of `async_imap::Session` (which drops past
//! 100 entries) is never involved, because we never build such a session.

use std::collections::HashSet;
use std::io;

use async_imap::imap_proto::{Capability, Outcome, Response, ResponseCode, Status};
use async_imap::Client;
use tokio::io::AsyncWriteExt as _;

use super::command::{Command, Piece};
use super::transport::{Transport, CONNECT_TIMEOUT, IDLE_TIMEOUT};
use super::ImapError;

/// How a tagged command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    Ok,
    No,
    Bad,
}

/// The tagged completion of a command, with the response codes slimbox uses.
#[derive(Debug)]
pub(crate) struct Done {
    pub completion: Completion,
    /// Response code (as `[CODE]`, when imap-proto knows it) and text. Codes
    /// imap-proto does not know, like `[OVERQUOTA]`, stay inside the text.
    pub text: String,
    /// APPENDUID uidvalidity and the first appended UID.
    pub append_uid: Option<(u32, u32)>,
    /// READ-ONLY (true) / READ-WRITE (false) from SELECT or EXAMINE.
    pub read_only: Option<bool>,
    /// The text of a `+` challenge answered through `Piece::OnChallenge`
    /// (a SASL error challenge, base64), if the server sent one.
    pub challenge: Option<String>,
}

impl Done {
    /// OK passes; NO and BAD become errors naming `command`.
    pub fn check(self, command: &str) -> Result<Done, ImapError> {
        match self.completion {
            Completion::Ok => Ok(self),
            Completion::No => Err(no_error(command, self.text)),
            Completion::Bad => Err(ImapError::Bad {
                command: command.to_string(),
                text: self.text,
            }),
        }
    }

    /// True when a NO only says that some requested messages were expunged
    /// meanwhile (the data for the others still came).
    pub fn is_expunge_issued(&self) -> bool {
        self.completion == Completion::No
            && self.text.to_ascii_uppercase().contains("EXPUNGEISSUED")
    }
}

/// The error for a NO, recognising quota and temporary-failure codes.
pub(crate) fn no_error(command: &str, text: String) -> ImapError {
    let upper = text.to_ascii_uppercase();
    // NOTE: Dovecot answers an over-quota APPEND with `NO [OVERQUOTA] Quota
    // exceeded (mailbox for user is full)` before the literal is sent (it
    // checks the announced size). imap-proto does not know the OVERQUOTA code
    // (RFC 5530), so it arrives as part of the text; other servers only say
    // "quota" in the text.
    if upper.contains("[OVERQUOTA]") || upper.contains("QUOTA") {
        ImapError::OverQuota { text }
    } else if upper.contains("[TOOBIG]")
        || (upper.contains("[LIMIT]") && command.starts_with("APPEND"))
    {
        // NOTE: a message over the server's APPEND limit: RFC 7889 says
        // `[TOOBIG]`; Dovecot (quota_max_mail_size) says `[LIMIT]` (RFC
        // 5530), which to an APPEND can only mean the same. imap-proto knows
        // neither code.
        ImapError::TooBig { text }
    } else if upper.contains("[UNAVAILABLE]") || upper.contains("[SERVERBUG]") {
        ImapError::Unavailable { text }
    } else if upper.contains("[LIMIT]") {
        // Not an APPEND (above): too many connections or commands.
        ImapError::Throttled { text }
    } else {
        ImapError::No {
            command: command.to_string(),
            text,
        }
    }
}

/// The error for a refused LOGIN or AUTHENTICATE: a temporary refusal
/// (`[UNAVAILABLE]`, `[LIMIT]`: RFC 5530 codes, which imap-proto leaves in
/// the text) is no wrong password.
pub(crate) fn login_refusal(user: &str, text: String) -> ImapError {
    // NOTE: Dovecot 2.3 (2.3.19) turns a login past
    // mail_max_userip_connections away with a tagged `NO [LIMIT] Maximum
    // number of connections from user+IP exceeded (...)` and then closes
    // the connection, a master user's login (`alice*admin`, or PLAIN with
    // an authorization identity) counting for the user it logs in as. No
    // BYE comes first: the code is all that tells it from a wrong password.
    let upper = text.to_ascii_uppercase();
    if upper.contains("[UNAVAILABLE]") {
        ImapError::Unavailable { text }
    } else if upper.contains("[LIMIT]") {
        ImapError::Throttled { text }
    } else {
        ImapError::Auth {
            user: user.to_string(),
            text,
        }
    }
}

/// A connection: async-imap's framing over our transport, plus protocol state.
pub(crate) struct Conn {
    client: Client<Transport>,
    next_tag: u64,
    /// Upper-cased capabilities as last announced by the server.
    pub caps: HashSet<String>,
    /// Text of an untagged BYE, if the server sent one.
    bye: Option<String>,
    /// Set once the stream is unusable (I/O error, parse error, timeout).
    broken: Option<String>,
    /// A slice of a response kept without copying (see [`Conn::run_keep`]).
    kept: Option<bytes::Bytes>,
    /// The text of the last continuation request read.
    continue_text: Option<String>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("transport", self.client.get_ref())
            .field("next_tag", &self.next_tag)
            .field("broken", &self.broken)
            .finish()
    }
}

/// What the server said at connection time.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Greeting {
    Ok,
    PreAuth,
}

impl Conn {
    pub fn new(transport: Transport, next_tag: u64) -> Self {
        Conn {
            client: Client::new(transport),
            next_tag,
            caps: HashSet::new(),
            bye: None,
            broken: None,
            kept: None,
            continue_text: None,
        }
    }

    /// Gives up the connection for STARTTLS. Whatever async-imap had already
    /// buffered beyond the tagged OK is discarded with it, on purpose: bytes
    /// injected before the handshake must never be read as protected ones.
    pub fn into_transport(self) -> (Transport, u64) {
        (self.client.into_inner(), self.next_tag)
    }

    pub fn is_tls(&self) -> bool {
        self.client.get_ref().is_tls()
    }

    pub fn has(&self, cap: &str) -> bool {
        self.caps.contains(&cap.to_ascii_uppercase())
    }

    /// Reads the server greeting (after `Client::new`, before any command).
    pub async fn read_greeting(&mut self, host: &str) -> Result<Greeting, ImapError> {
        let what = format!("the greeting of {host}");
        let read = tokio::time::timeout(CONNECT_TIMEOUT, self.client.read_response());
        let resp = match read.await {
            Err(_) => {
                return Err(ImapError::Timeout {
                    what,
                    secs: CONNECT_TIMEOUT.as_secs(),
                })
            }
            Ok(Err(e)) => return Err(self.read_error(e, &what)),
            Ok(Ok(None)) => {
                return Err(ImapError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{host} closed the connection before greeting"),
                )))
            }
            Ok(Ok(Some(resp))) => resp,
        };
        match resp.parsed() {
            Response::Data { status, outcome } => {
                if let Some(ResponseCode::Capabilities(caps)) = &outcome.code {
                    self.caps = cap_set(caps);
                }
                match status {
                    Status::Ok => Ok(Greeting::Ok),
                    Status::PreAuth => Ok(Greeting::PreAuth),
                    Status::Bye => Err(ImapError::Unavailable {
                        text: format!("{host} refused the connection: {}", outcome_text(outcome)),
                    }),
                    _ => Err(ImapError::Protocol(format!(
                        "{host} sent an unexpected greeting: {}",
                        outcome_text(outcome)
                    ))),
                }
            }
            other => Err(ImapError::Protocol(format!(
                "{host} sent no IMAP greeting but {other:?}"
            ))),
        }
    }

    /// Runs CAPABILITY and replaces the cache with the answer.
    pub async fn refresh_capabilities(&mut self) -> Result<(), ImapError> {
        self.caps.clear();
        self.run(Command::new("CAPABILITY"), |_| {})
            .await?
            .check("CAPABILITY")?;
        if self.caps.is_empty() {
            return Err(ImapError::Protocol(
                "the server answered CAPABILITY without listing any capability".into(),
            ));
        }
        Ok(())
    }

    /// Sends `cmd` and reads until its tagged completion, passing every
    /// untagged response to `on_data`. NO and BAD are returned as a [`Done`]
    /// (see [`Done::check`]); errors are transport or protocol failures, after
    /// which the connection refuses further commands.
    pub async fn run<F>(&mut self, cmd: Command<'_>, mut on_data: F) -> Result<Done, ImapError>
    where
        F: FnMut(&Response<'_>) + Send,
    {
        self.run_keep(cmd, |r: &Response<'_>| -> Option<&[u8]> {
            on_data(r);
            None
        })
        .await
    }

    /// As [`Conn::run`], but `on_data` may point at a slice of a response
    /// (a FETCH body) to keep: it is then taken over from async-imap's
    /// buffer without a copy and handed out by [`Conn::take_kept`]. A large
    /// message is held once in memory instead of twice.
    pub async fn run_keep<F>(&mut self, cmd: Command<'_>, mut on_data: F) -> Result<Done, ImapError>
    where
        F: for<'r> FnMut(&'r Response<'_>) -> Option<&'r [u8]> + Send,
    {
        if let Some(why) = &self.broken {
            return Err(ImapError::Usage(format!(
                "{} was attempted on a connection that already failed ({why}); reconnect",
                cmd.label
            )));
        }
        self.kept = None;
        let res = self.run_inner(cmd, &mut on_data).await;
        if let Err(e) = &res {
            self.broken = Some(e.to_string());
        }
        res
    }

    /// A command failed on the wire: this connection takes no more.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The slice the last [`Conn::run_keep`] kept, if any.
    pub fn take_kept(&mut self) -> Option<bytes::Bytes> {
        self.kept.take()
    }

    async fn run_inner(
        &mut self,
        cmd: Command<'_>,
        on_data: &mut (dyn for<'r> FnMut(&'r Response<'_>) -> Option<&'r [u8]> + Send),
    ) -> Result<Done, ImapError> {
        self.next_tag += 1;
        let tag = format!("S{}", self.next_tag);
        let label = cmd.label;
        tracing::debug!(tag = %tag, command = %label, "IMAP command");
        self.client.get_mut().arm();

        let mut line: Vec<u8> = Vec::with_capacity(128);
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        let mut on_challenge = None;
        for piece in cmd.pieces {
            match piece {
                Piece::Text(t) => line.extend_from_slice(t.as_bytes()),
                Piece::Literal(data) | Piece::Literal8(data) => {
                    let prefix = if matches!(piece, Piece::Literal8(_)) {
                        "~"
                    } else {
                        ""
                    };
                    line.extend_from_slice(format!("{prefix}{{{}}}\r\n", data.len()).as_bytes());
                    self.send(&line, &label).await?;
                    line.clear();
                    if let Some(done) = self.read_until(&tag, &label, true, on_data).await? {
                        // Rejected before the literal (bad flag, quota, no such
                        // mailbox): the literal must not be sent at all.
                        return Ok(done);
                    }
                    self.send(data, &label).await?;
                }
                Piece::Continuation(next) => {
                    line.extend_from_slice(b"\r\n");
                    self.send(&line, &label).await?;
                    line.clear();
                    if let Some(done) = self.read_until(&tag, &label, true, on_data).await? {
                        return Ok(done);
                    }
                    line.extend_from_slice(next.as_bytes());
                }
                Piece::OnChallenge(answer) => on_challenge = Some(answer),
            }
        }
        line.extend_from_slice(b"\r\n");
        self.send(&line, &label).await?;
        let want_challenge = on_challenge.is_some();
        if let Some(done) = self
            .read_until(&tag, &label, want_challenge, on_data)
            .await?
        {
            return Ok(done);
        }
        let Some(answer) = on_challenge else {
            return Err(ImapError::Protocol(format!(
                "the server asked for more input after the whole of {label} was sent"
            )));
        };
        self.answer_challenge(&tag, &label, answer, on_data).await
    }

    /// Sends `answer` to the challenge just read, then reads the completion,
    /// which carries the challenge's text.
    async fn answer_challenge(
        &mut self,
        tag: &str,
        label: &str,
        answer: String,
        on_data: &mut (dyn for<'r> FnMut(&'r Response<'_>) -> Option<&'r [u8]> + Send),
    ) -> Result<Done, ImapError> {
        let challenge = self.continue_text.take();
        self.send(format!("{answer}\r\n").as_bytes(), label).await?;
        match self.read_until(tag, label, false, on_data).await? {
            Some(done) => Ok(Done { challenge, ..done }),
            None => Err(ImapError::Protocol(format!(
                "the server asked for more input after the answer to its challenge during {label}"
            ))),
        }
    }

    async fn send(&mut self, bytes: &[u8], label: &str) -> Result<(), ImapError> {
        let stream = self.client.get_mut();
        let res = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        }
        .await;
        res.map_err(|e| self.io_error(e, label))
    }

    /// Reads responses until our tagged completion (`Some`) or, when
    /// `want_continue`, a continuation request (`None`).
    async fn read_until(
        &mut self,
        tag: &str,
        label: &str,
        want_continue: bool,
        on_data: &mut (dyn for<'r> FnMut(&'r Response<'_>) -> Option<&'r [u8]> + Send),
    ) -> Result<Option<Done>, ImapError> {
        loop {
            let resp = match self.client.read_response().await {
                Ok(Some(resp)) => resp,
                Ok(None) => return Err(self.closed_error(label)),
                Err(e) => return Err(self.read_error(e, label)),
            };
            let keep = match resp.parsed() {
                Response::Continue(outcome) if want_continue => {
                    self.continue_text = Some(outcome_text(outcome));
                    return Ok(None);
                }
                Response::Continue(outcome) => {
                    return Err(ImapError::Protocol(format!(
                        "unexpected continuation request during {label}: {}",
                        outcome_text(outcome)
                    )))
                }
                Response::Done {
                    tag: t,
                    status,
                    outcome,
                } if t.0 == tag => {
                    // NOTE: Dovecot puts the post-login capability list in
                    // the LOGIN completion code, except after a pre-login
                    // CAPABILITY command, when it sends it untagged first.
                    if let Some(ResponseCode::Capabilities(caps)) = &outcome.code {
                        self.caps = cap_set(caps);
                    }
                    return Ok(Some(done_from(status, outcome)));
                }
                Response::Done { tag: t, .. } => {
                    tracing::warn!("ignoring a completion for unknown tag {:?}", t.0);
                    None
                }
                other => {
                    self.note_untagged(other);
                    match on_data(other) {
                        // A slice inside this response's buffer (a literal):
                        // remember where, to take the buffer over below.
                        Some(k) => {
                            let base = resp.borrow_owner().as_ptr() as usize;
                            let off = (k.as_ptr() as usize).checked_sub(base);
                            match off.filter(|o| o + k.len() <= resp.borrow_owner().len()) {
                                Some(off) => Some(Ok(off..off + k.len())),
                                // Not in the buffer (decoded by the parser):
                                // a copy is the only way to keep it.
                                None => Some(Err(bytes::Bytes::copy_from_slice(k))),
                            }
                        }
                        None => None,
                    }
                }
            };
            match keep {
                Some(Ok(range)) => self.kept = Some(resp.into_owner().freeze().slice(range)),
                Some(Err(copy)) => self.kept = Some(copy),
                None => {}
            }
        }
    }

    /// Bookkeeping every untagged response gets, whatever the command.
    fn note_untagged(&mut self, resp: &Response<'_>) {
        match resp {
            Response::Capabilities(caps) => self.caps = cap_set(caps),
            Response::Data { status, outcome } => {
                if let Some(ResponseCode::Capabilities(caps)) = &outcome.code {
                    self.caps = cap_set(caps);
                }
                match status {
                    Status::Bye => self.bye = Some(outcome_text(outcome)),
                    // RFC 3501 7.1: ALERT text must be shown to the user.
                    _ if matches!(outcome.code, Some(ResponseCode::Alert)) => {
                        tracing::warn!("IMAP server alert: {}", outcome_text(outcome));
                    }
                    Status::No | Status::Bad => {
                        tracing::warn!("IMAP server warning: {}", outcome_text(outcome));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn closed_error(&self, label: &str) -> ImapError {
        match &self.bye {
            Some(text) => ImapError::Unavailable {
                text: format!("the server closed the connection during {label}: {text}"),
            },
            None => ImapError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the server closed the connection during {label}"),
            )),
        }
    }

    fn io_error(&self, e: io::Error, label: &str) -> ImapError {
        if e.kind() == io::ErrorKind::TimedOut {
            return ImapError::Timeout {
                what: label.to_string(),
                secs: IDLE_TIMEOUT.as_secs(),
            };
        }
        if let Some(text) = &self.bye {
            return ImapError::Unavailable {
                text: format!("the server closed the connection during {label}: {text} ({e})"),
            };
        }
        ImapError::Io(e)
    }

    fn read_error(&self, e: io::Error, label: &str) -> ImapError {
        let msg = e.to_string();
        // async-imap reports unparsable input as io::ErrorKind::Other with the
        // whole buffer in the message; keep the message short.
        if e.kind() == io::ErrorKind::Other
            && (msg.contains("during parsing of") || msg.contains("incoming data too large"))
        {
            let short: String = msg.chars().take(300).collect();
            return ImapError::Protocol(format!(
                "cannot parse the server's answer to {label}: {short}"
            ));
        }
        self.io_error(e, label)
    }

    /// Closes the write side after LOGOUT; errors do not matter any more.
    pub async fn shutdown(&mut self) {
        let _ = self.client.get_mut().shutdown().await;
    }
}

fn cap_set(caps: &[Capability<'_>]) -> HashSet<String> {
    caps.iter()
        .map(|c| match c {
            Capability::Imap4rev1 => "IMAP4REV1".to_string(),
            Capability::Auth(a) => format!("AUTH={}", a.to_ascii_uppercase()),
            Capability::Atom(a) => a.to_ascii_uppercase(),
        })
        .collect()
}

/// `[CODE] text` for error messages.
pub(crate) fn outcome_text(outcome: &Outcome<'_>) -> String {
    let info = outcome.information.as_deref().unwrap_or("").trim();
    let code = match &outcome.code {
        Some(ResponseCode::Alert) => "[ALERT]",
        Some(ResponseCode::Parse) => "[PARSE]",
        Some(ResponseCode::TryCreate) => "[TRYCREATE]",
        Some(ResponseCode::ReadOnly) => "[READ-ONLY]",
        Some(ResponseCode::ReadWrite) => "[READ-WRITE]",
        Some(ResponseCode::BadCharset(_)) => "[BADCHARSET]",
        Some(ResponseCode::UidNotSticky) => "[UIDNOTSTICKY]",
        _ => "",
    };
    match (code.is_empty(), info.is_empty()) {
        (true, _) => info.to_string(),
        (false, true) => code.to_string(),
        (false, false) => format!("{code} {info}"),
    }
}

fn done_from(status: &Status, outcome: &Outcome<'_>) -> Done {
    let completion = match status {
        Status::Ok => Completion::Ok,
        Status::No => Completion::No,
        // A tagged PREAUTH or BYE is not valid; treat it as a refusal.
        _ => Completion::Bad,
    };
    let append_uid = match &outcome.code {
        Some(ResponseCode::AppendUid(validity, uids)) => uids.first().map(|m| {
            let uid = match m {
                async_imap::imap_proto::rfc4315::UidSetMember::Uid(u) => *u,
                async_imap::imap_proto::rfc4315::UidSetMember::UidRange(r) => *r.start(),
            };
            (*validity, uid)
        }),
        _ => None,
    };
    let read_only = match &outcome.code {
        Some(ResponseCode::ReadOnly) => Some(true),
        Some(ResponseCode::ReadWrite) => Some(false),
        _ => None,
    };
    Done {
        completion,
        text: outcome_text(outcome),
        append_uid,
        read_only,
        challenge: None,
    }
}
