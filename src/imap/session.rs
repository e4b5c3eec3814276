//! [`Session`]: slimbox's IMAP operations (connect and log in, list folders,
//! select, search, fetch, append, delete by UID) on top of the protocol
//! engine in `conn`. Everything is addressed by UID; sequence numbers never
//! leave this file.

use std::collections::BTreeMap;

use async_imap::imap_proto::{
    AttributeValue, MailboxDatum, MailboxListData, NameAttribute, Response, ResponseCode, Status,
    StatusAttribute,
};

use super::command::{is_valid_flag, uid_set, Command};
use super::conn::{Conn, Greeting};
use super::datetime::{format_date, parse_datetime};
use super::headers::header_from_attrs;
use super::mime_params::unescape_quoted;
use super::oauth::{authenticate, credentials, Credentials, Target};
use super::structure::{leaves, top_type};
use super::transport::{is_loopback_host, tcp_connect, tls_config, tls_handshake, Transport};
use super::{
    DeleteOutcome, Folder, HeaderMeta, ImapConfig, ImapError, MailboxStatus, MessageMeta,
    QuotaUsage, TlsMode,
};

/// UIDs per UID FETCH of metadata: keeps command lines and responses bounded.
const FETCH_BATCH: usize = 200;

/// The folder currently selected or examined.
#[derive(Debug, Clone)]
pub(super) struct Selected {
    pub raw_name: String,
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: u32,
}

/// Reads one FETCH answer as (UID, value); `None` when it is not one.
pub(super) type ParseFetch<T> = fn(&[AttributeValue<'_>]) -> Result<Option<(u32, T)>, ImapError>;

/// An authenticated IMAP connection.
#[derive(Debug)]
pub struct Session {
    pub(super) conn: Conn,
    host: String,
    user: String,
    selected: Option<Selected>,
    /// Whatever must live exactly as long as this connection (a permit
    /// of a per-server connection limit, see [`Session::hold`]).
    held: Option<Held>,
}

/// Something a [`Session`] keeps until it is dropped.
pub struct Held(#[allow(dead_code)] Box<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held(..)")
    }
}

impl Session {
    /// Connects (TCP, then TLS as configured), reads the greeting, logs in
    /// (LOGIN, or AUTHENTICATE PLAIN when the server sets LOGINDISABLED; with
    /// OAuth, AUTHENTICATE XOAUTH2 or OAUTHBEARER with a token asked of the
    /// account's source first) and caches the post-login capabilities.
    pub async fn connect(cfg: &ImapConfig) -> Result<Session, ImapError> {
        if cfg.host.trim().is_empty() {
            return Err(ImapError::Config("the IMAP host is empty".into()));
        }
        if cfg.tls == TlsMode::None && !is_loopback_host(&cfg.host) {
            return Err(ImapError::Config(format!(
                "refusing to send the password or token of {:?} to {} without TLS; use implicit TLS \
                 (port 993) or STARTTLS (port 143). Plain text is only allowed to a loopback host \
                 (127.0.0.1, ::1, localhost)",
                cfg.user, cfg.host
            )));
        }
        let creds = credentials(&cfg.auth, &cfg.user).await?;

        let tcp = tcp_connect(&cfg.host, cfg.port).await?;
        let transport = match cfg.tls {
            TlsMode::Implicit => {
                let config = tls_config(&cfg.host, cfg.ca_file.as_deref()).await?;
                Transport::tls(tls_handshake(tcp, &cfg.host, config).await?)
            }
            TlsMode::StartTls | TlsMode::None => Transport::plain(tcp),
        };
        let mut conn = Conn::new(transport, 0);
        let greeting = conn.read_greeting(&cfg.host).await?;

        if cfg.tls == TlsMode::StartTls {
            if greeting == Greeting::PreAuth {
                // Nothing could protect the session after a PREAUTH: the
                // connection is already authenticated in plain text.
                return Err(ImapError::Tls {
                    host: cfg.host.clone(),
                    reason: "the server pre-authenticated the plain connection, so STARTTLS \
                             is impossible"
                        .into(),
                });
            }
            if conn.caps.is_empty() {
                conn.refresh_capabilities().await?;
            }
            if !conn.has("STARTTLS") {
                return Err(ImapError::Tls {
                    host: cfg.host.clone(),
                    reason: "the server does not offer STARTTLS on this port".into(),
                });
            }
            conn.run(Command::new("STARTTLS"), |_| {})
                .await?
                .check("STARTTLS")?;
            let config = tls_config(&cfg.host, cfg.ca_file.as_deref()).await?;
            let (transport, next_tag) = conn.into_transport();
            let tcp = transport.into_tcp().ok_or_else(|| {
                ImapError::Usage("STARTTLS on a connection that is already TLS".into())
            })?;
            let tls = tls_handshake(tcp, &cfg.host, config).await?;
            // No greeting after STARTTLS; capabilities seen in plain text
            // must be forgotten and asked again (RFC 3501 6.2.1).
            conn = Conn::new(Transport::tls(tls), next_tag);
            conn.refresh_capabilities().await?;
        } else if conn.caps.is_empty() {
            conn.refresh_capabilities().await?;
        }

        let mut session = Session {
            conn,
            host: cfg.host.clone(),
            user: cfg.user.clone(),
            selected: None,
            held: None,
        };
        if greeting != Greeting::PreAuth {
            session.log_in(cfg, creds).await?;
        }
        tracing::debug!(
            host = %session.host,
            user = %session.user,
            tls = session.conn.is_tls(),
            caps = ?session.conn.caps,
            "IMAP session ready"
        );
        Ok(session)
    }

    /// Keeps `guard` until this session is dropped: whoever limits
    /// connections (`crate::fleet`) hands its permit to the connection it
    /// counts, so it cannot outlive or be lost before it.
    pub fn hold(mut self, guard: impl std::any::Any + Send + Sync) -> Session {
        self.held = Some(Held(Box::new(guard)));
        self
    }

    async fn log_in(&mut self, cfg: &ImapConfig, creds: Credentials<'_>) -> Result<(), ImapError> {
        match creds {
            Credentials::Password(password) => self.login(&cfg.user, password).await,
            Credentials::PlainAs { authcid, password } => {
                let cmd = self.plain(&cfg.user, authcid, password)?;
                self.finish_login(cmd, authcid).await
            }
            Credentials::Token {
                mechanism,
                tokens,
                token,
            } => {
                let target = Target {
                    host: &cfg.host,
                    port: cfg.port,
                    user: &cfg.user,
                };
                authenticate(&mut self.conn, &target, mechanism, tokens, token).await
            }
        }
    }

    async fn login(&mut self, user: &str, password: &str) -> Result<(), ImapError> {
        let cmd = if self.conn.has("LOGINDISABLED") {
            self.plain("", user, password)?
        } else {
            // The label keeps the credentials out of logs and errors.
            let mut c = Command::new("LOGIN")
                .raw(" ")
                .string(user)
                .raw(" ")
                .string(password);
            c.label = "LOGIN".into();
            c
        };
        self.finish_login(cmd, user).await
    }

    /// AUTHENTICATE PLAIN (RFC 4616): `authzid` (empty: the same as
    /// `authcid`) is the mailbox, `authcid` who logs in with `password`.
    fn plain<'a>(
        &self,
        authzid: &str,
        authcid: &str,
        password: &str,
    ) -> Result<Command<'a>, ImapError> {
        if !self.conn.has("AUTH=PLAIN") {
            return Err(ImapError::Auth {
                user: authcid.to_string(),
                text: if self.conn.has("LOGINDISABLED") {
                    "the server disables LOGIN and offers no AUTH=PLAIN".into()
                } else {
                    "the server offers no AUTH=PLAIN; use auth = \"master\" instead".into()
                },
            });
        }
        if [authzid, authcid, password]
            .iter()
            .any(|s| s.contains('\0'))
        {
            return Err(ImapError::Config(
                "user name or password contains a NUL character".into(),
            ));
        }
        let b64 =
            base64_simd::STANDARD.encode_to_string(format!("{authzid}\0{authcid}\0{password}"));
        Ok(if self.conn.has("SASL-IR") {
            // The label (from `new`) does not include the credentials.
            Command::new("AUTHENTICATE PLAIN").raw(" ").raw(&b64)
        } else {
            Command::new("AUTHENTICATE PLAIN").continuation(b64)
        })
    }

    /// Sends a LOGIN or AUTHENTICATE PLAIN and reads its answer: a
    /// throttling or unavailability code is told apart from a refusal.
    async fn finish_login(&mut self, cmd: Command<'_>, user: &str) -> Result<(), ImapError> {
        // Forget the pre-login list: the server announces a new one with the
        // completion (Dovecot does), or we ask below.
        let before = std::mem::take(&mut self.conn.caps);
        let done = self.conn.run(cmd, |_| {}).await?;
        match done.completion {
            super::conn::Completion::Ok => {}
            _ => {
                self.conn.caps = before;
                return Err(super::conn::login_refusal(user, done.text));
            }
        }
        if self.conn.caps.is_empty() {
            self.conn.refresh_capabilities().await?;
        }
        Ok(())
    }

    /// True if the server announced `cap` (case-insensitive), e.g. "UIDPLUS", "AUTH=PLAIN".
    pub fn has_capability(&self, cap: &str) -> bool {
        self.conn.has(cap)
    }

    /// The cached capabilities, upper-cased and sorted (for logs and reports).
    pub fn capabilities(&self) -> Vec<String> {
        let mut v: Vec<String> = self.conn.caps.iter().cloned().collect();
        v.sort();
        v
    }

    /// All selectable folders, with their special uses (`\Sent`, `\Archive`,
    /// ...). Uses `LIST "" "*" RETURN (SPECIAL-USE)` when the server has
    /// SPECIAL-USE, a plain LIST (whose attributes may still carry special
    /// uses) otherwise. `\Noselect` and `\NonExistent` entries are left out.
    pub async fn list_folders(&mut self) -> Result<Vec<Folder>, ImapError> {
        let cmd = if self.conn.has("SPECIAL-USE") {
            Command::new("LIST").raw(" \"\" \"*\" RETURN (SPECIAL-USE)")
        } else {
            Command::new("LIST").raw(" \"\" \"*\"")
        };
        let mut folders: Vec<Folder> = Vec::new();
        self.conn
            .run(cmd, |resp| {
                if let Response::MailboxData(MailboxDatum::List(entry)) = resp {
                    if let Some(folder) = folder_from_list(entry) {
                        if !folders.iter().any(|f| f.raw_name == folder.raw_name) {
                            folders.push(folder);
                        }
                    }
                }
            })
            .await?
            .check("LIST")?;
        Ok(folders)
    }

    /// Selects `folder` read-write (needed for [`Session::delete_uid`]).
    pub async fn select(&mut self, folder: &Folder) -> Result<MailboxStatus, ImapError> {
        self.open(folder, false).await
    }

    /// Opens the selected folder again, the same way, so the session sees
    /// every change made meanwhile (some servers show a message only then).
    /// Fails if the folder was recreated (a new UIDVALIDITY): its UIDs no
    /// longer name the same messages.
    pub async fn refresh(&mut self) -> Result<MailboxStatus, ImapError> {
        let sel = self.require_selected("refreshing the folder")?.clone();
        self.reopen(&sel).await
    }

    /// Opens `sel` again, as it was opened (SELECT or EXAMINE); fails if it
    /// was recreated meanwhile (a new UIDVALIDITY).
    pub(super) async fn reopen(&mut self, sel: &Selected) -> Result<MailboxStatus, ImapError> {
        let folder = Folder {
            name: sel.name.clone(),
            raw_name: sel.raw_name.clone(),
            special_use: Vec::new(),
            delimiter: None,
        };
        let status = self.open(&folder, sel.read_only).await?;
        if status.uidvalidity != sel.uidvalidity {
            return Err(ImapError::Protocol(format!(
                "folder {:?} was recreated meanwhile (UIDVALIDITY {} is now {}); run slimbox \
                 verify",
                sel.name, sel.uidvalidity, status.uidvalidity
            )));
        }
        Ok(status)
    }

    /// Opens `folder` read-only (EXAMINE): scanning changes no flag, not even \Recent.
    pub async fn examine(&mut self, folder: &Folder) -> Result<MailboxStatus, ImapError> {
        self.open(folder, true).await
    }

    async fn open(&mut self, folder: &Folder, read_only: bool) -> Result<MailboxStatus, ImapError> {
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        let label = format!("{verb} {:?}", folder.name);
        // RFC 3501 6.3.1: a SELECT that fails leaves no mailbox selected.
        self.selected = None;
        let mut uidvalidity = None;
        let mut uidnext = None;
        let mut exists = None;
        let mut cmd = Command::new(verb).raw(" ").string(&folder.raw_name);
        cmd.label = label.clone();
        let done = self
            .conn
            .run(cmd, |resp| match resp {
                Response::MailboxData(MailboxDatum::Exists(n)) => exists = Some(*n),
                Response::Data {
                    status: Status::Ok,
                    outcome,
                } => match &outcome.code {
                    Some(ResponseCode::UidValidity(v)) => uidvalidity = Some(*v),
                    Some(ResponseCode::UidNext(n)) => uidnext = Some(*n),
                    _ => {}
                },
                _ => {}
            })
            .await?
            .check(&label)?;

        let uidvalidity = uidvalidity.ok_or_else(|| {
            ImapError::Protocol(format!(
                "the server sent no UIDVALIDITY for {:?}; slimbox needs stable UIDs",
                folder.name
            ))
        })?;
        let exists = exists.ok_or_else(|| {
            ImapError::Protocol(format!(
                "the server sent no EXISTS count for {:?}",
                folder.name
            ))
        })?;
        let uidnext = match uidnext {
            Some(n) => n,
            // Some servers omit UIDNEXT from SELECT; STATUS always has it.
            None => self.status_uidnext(folder).await?,
        };
        self.selected = Some(Selected {
            raw_name: folder.raw_name.clone(),
            name: folder.name.clone(),
            read_only: done.read_only.unwrap_or(read_only),
            uidvalidity,
        });
        Ok(MailboxStatus {
            uidvalidity,
            uidnext,
            exists,
        })
    }

    async fn status_uidnext(&mut self, folder: &Folder) -> Result<u32, ImapError> {
        let label = format!("STATUS {:?}", folder.name);
        let mut uidnext = None;
        let mut cmd = Command::new("STATUS")
            .raw(" ")
            .string(&folder.raw_name)
            .raw(" (UIDNEXT)");
        cmd.label = label.clone();
        self.conn
            .run(cmd, |resp| {
                if let Response::MailboxData(MailboxDatum::Status { status, .. }) = resp {
                    for attr in status {
                        if let StatusAttribute::UidNext(n) = attr {
                            uidnext = Some(*n);
                        }
                    }
                }
            })
            .await?
            .check(&label)?;
        uidnext.ok_or_else(|| {
            ImapError::Protocol(format!("the server sent no UIDNEXT for {:?}", folder.name))
        })
    }

    pub(super) fn require_selected(&self, what: &str) -> Result<&Selected, ImapError> {
        self.selected.as_ref().ok_or_else(|| {
            ImapError::Usage(format!(
                "{what} needs a selected folder; select or examine one first"
            ))
        })
    }

    /// UIDs of messages of at least `min_size` octets, with an internal date
    /// before the UTC day of `before_unix` (IMAP BEFORE compares days), that
    /// have no `X-Slimbox` header (not processed yet). Sorted ascending.
    pub async fn search_candidates(
        &mut self,
        min_size: u64,
        before_unix: Option<i64>,
    ) -> Result<Vec<u32>, ImapError> {
        self.require_selected("UID SEARCH")?;
        let mut cmd = Command::new("UID SEARCH");
        if min_size > 0 {
            // LARGER n means "more than n octets"; n is a 32-bit number and
            // no IMAP4rev1 message can be larger than that.
            let Ok(n) = u32::try_from(min_size - 1) else {
                return Ok(Vec::new());
            };
            cmd = cmd.raw(&format!(" LARGER {n}"));
        }
        if let Some(before) = before_unix {
            cmd = cmd.raw(&format!(" BEFORE {}", format_date(before)));
        }
        // HEADER with an empty string matches every message that has the
        // field at all (RFC 3501 6.4.4).
        cmd = cmd.raw(" NOT HEADER X-Slimbox \"\"");
        self.uid_search(cmd).await
    }

    /// UIDs of messages whose header `header` contains `value` (case-insensitive
    /// substring, per IMAP SEARCH). Sorted ascending.
    pub async fn search_header(
        &mut self,
        header: &str,
        value: &str,
    ) -> Result<Vec<u32>, ImapError> {
        self.require_selected("UID SEARCH")?;
        if header.is_empty()
            || !header
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b':')
        {
            return Err(ImapError::Invalid(format!(
                "{header:?} is not a header field name"
            )));
        }
        let mut cmd = Command::new("UID SEARCH");
        if !value.is_ascii() {
            cmd = cmd.raw(" CHARSET UTF-8");
        }
        cmd = cmd.raw(" HEADER ").string(header).raw(" ").string(value);
        self.uid_search(cmd).await
    }

    async fn uid_search(&mut self, cmd: Command<'_>) -> Result<Vec<u32>, ImapError> {
        let mut uids: Vec<u32> = Vec::new();
        self.conn
            .run(cmd, |resp| {
                if let Response::MailboxData(MailboxDatum::Search(found)) = resp {
                    uids.extend_from_slice(found);
                }
            })
            .await?
            .check("UID SEARCH")?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// UID, size, flags, internal date and body structure of `uids` (in
    /// batches of 200). UIDs that no longer exist are simply absent. Sorted by UID.
    pub async fn fetch_meta(&mut self, uids: &[u32]) -> Result<Vec<MessageMeta>, ImapError> {
        let items = "(UID RFC822.SIZE FLAGS INTERNALDATE BODYSTRUCTURE)";
        self.fetch_each(uids, items, |attrs| {
            Ok(meta_from_attrs(attrs)?.map(|m| (m.uid, m)))
        })
        .await
    }

    /// `UID FETCH uids items` in batches of 200, each answer read by
    /// `parse` (`None` for one that is not an answer to this command).
    /// UIDs that no longer exist are simply absent. Sorted by UID.
    pub(super) async fn fetch_each<T: Send>(
        &mut self,
        uids: &[u32],
        items: &str,
        parse: ParseFetch<T>,
    ) -> Result<Vec<T>, ImapError> {
        self.require_selected("UID FETCH")?;
        let mut wanted: Vec<u32> = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found: BTreeMap<u32, T> = BTreeMap::new();
        for chunk in wanted.chunks(FETCH_BATCH) {
            let set = uid_set(chunk);
            let cmd = Command::new("UID FETCH").raw(&format!(" {set} {items}"));
            let mut bad: Option<ImapError> = None;
            let done = self
                .conn
                .run(cmd, |resp| {
                    let Response::Fetch(_, attrs) = resp else {
                        return;
                    };
                    match parse(attrs) {
                        Ok(Some((uid, t))) if chunk.binary_search(&uid).is_ok() => {
                            found.insert(uid, t);
                        }
                        // Unsolicited updates (flags of other messages, or
                        // without UID): not ours to report.
                        Ok(_) => {}
                        Err(e) => {
                            bad.get_or_insert(e);
                        }
                    }
                })
                .await?;
            if let Some(e) = bad {
                return Err(e);
            }
            // NOTE: Dovecot answers NO [EXPUNGEISSUED] when some of the UIDs
            // were expunged by another session meanwhile; the rest still came.
            if !done.is_expunge_issued() {
                done.check("UID FETCH")?;
            }
        }
        Ok(found.into_values().collect())
    }

    /// The whole message `uid` byte for byte (`BODY.PEEK[]`, so \Seen is not
    /// set); `None` if that UID does not exist (any more). Dovecot turns NUL
    /// bytes into 0x80 here (see the NOTE inside).
    pub async fn fetch_message(&mut self, uid: u32) -> Result<Option<bytes::Bytes>, ImapError> {
        Ok(self.fetch_body(uid, false).await?.map(|(body, _)| body))
    }

    /// [`Session::fetch_message`] with the message's flags as they are at
    /// that moment (never `\Recent`), read in the same command.
    pub async fn fetch_original(
        &mut self,
        uid: u32,
    ) -> Result<Option<(bytes::Bytes, Vec<String>)>, ImapError> {
        self.fetch_body(uid, true).await
    }

    async fn fetch_body(
        &mut self,
        uid: u32,
        with_flags: bool,
    ) -> Result<Option<(bytes::Bytes, Vec<String>)>, ImapError> {
        self.require_selected("UID FETCH")?;
        // NOTE: never FETCH BINARY[]: imap-proto cannot parse the answer and
        // the session is lost. BODY.PEEK[] returns the stored bytes unchanged,
        // with one exception: Dovecot 2.3 sends a stored NUL byte as 0x80
        // (same length), so a message containing NUL cannot come back exact.
        // Such messages are rare and can only be stored through literal8.
        // NOTE: Dovecot also serves bare-LF messages (as some importers store
        // them) with CRLF line ends, and counts RFC822.SIZE the same way; a
        // message appended with CRLF comes back exactly.
        let items = if with_flags {
            "(FLAGS BODY.PEEK[])"
        } else {
            "BODY.PEEK[]"
        };
        let cmd = Command::new("UID FETCH").raw(&format!(" {uid} {items}"));
        let mut flags = Vec::new();
        let done = self
            .conn
            .run_keep(cmd, |resp| {
                let Response::Fetch(_, attrs) = resp else {
                    return None;
                };
                let this_uid = attrs.iter().find_map(|a| match a {
                    AttributeValue::Uid(u) => Some(*u),
                    _ => None,
                });
                if this_uid != Some(uid) {
                    return None;
                }
                for attr in attrs {
                    if let AttributeValue::Flags(f) = attr {
                        flags = owned_flags(f);
                    }
                }
                attrs.iter().find_map(|attr| match attr {
                    AttributeValue::BodySection {
                        section: None,
                        data: Some(data),
                        ..
                    } => Some(&data[..]),
                    _ => None,
                })
            })
            .await?;
        let body = self.conn.take_kept();
        if done.is_expunge_issued() {
            return Ok(None);
        }
        done.check("UID FETCH")?;
        Ok(body.map(|b| (b, flags)))
    }

    /// Appends `message` to `folder` with `flags` (`\Recent` is dropped: clients
    /// may not set it) and `internal_date` (IMAP date-time; empty for "now").
    /// Returns (UIDVALIDITY, UID) when the server reports APPENDUID (UIDPLUS).
    pub async fn append(
        &mut self,
        folder: &Folder,
        flags: &[String],
        internal_date: &str,
        message: &[u8],
    ) -> Result<Option<(u32, u32)>, ImapError> {
        // NOTE: Dovecot answers BAD to an APPEND that lists \Recent.
        let flags = settable_flags(flags)?;
        if !internal_date.is_empty() && parse_datetime(internal_date).is_none() {
            return Err(ImapError::Invalid(format!(
                "{internal_date:?} is not an IMAP date-time like \"01-Feb-2024 10:00:00 +0100\""
            )));
        }
        let has_nul = message.contains(&0);
        if has_nul && !self.conn.has("BINARY") {
            return Err(ImapError::Invalid(format!(
                "the message for {:?} contains NUL bytes, which only servers with the BINARY \
                 extension accept",
                folder.name
            )));
        }

        let label = format!("APPEND to {:?}", folder.name);
        let mut cmd = Command::new("APPEND").raw(" ").string(&folder.raw_name);
        if !flags.is_empty() {
            cmd = cmd.raw(&format!(" ({})", flags.join(" ")));
        }
        if !internal_date.is_empty() {
            cmd = cmd.raw(&format!(" \"{internal_date}\""));
        }
        cmd = cmd.raw(" ");
        cmd = if has_nul {
            cmd.literal8(message)
        } else {
            cmd.literal(message)
        };
        cmd.label = label.clone();
        let done = self.conn.run(cmd, |_| {}).await?.check(&label)?;
        Ok(done.append_uid)
    }

    /// Removes message `uid` from the selected (read-write) folder, touching
    /// no other message: [`Session::delete_uids`] for one UID.
    pub async fn delete_uid(
        &mut self,
        uid: u32,
        trash: Option<&Folder>,
    ) -> Result<DeleteOutcome, ImapError> {
        self.delete_uids(&[uid], trash).await
    }

    /// Removes messages `uids` from the selected (read-write) folder,
    /// touching no other message, in one round of commands:
    /// - with UIDPLUS: `UID STORE +FLAGS.SILENT (\Deleted)` then `UID EXPUNGE`
    ///   of exactly those UIDs (never a plain EXPUNGE, which would also purge
    ///   every other message the user marked \Deleted) -> [`DeleteOutcome::Expunged`];
    /// - else with MOVE and a `trash` folder: `UID MOVE uids trash`
    ///   -> [`DeleteOutcome::MovedToTrash`] (not flagged \Deleted first, so the
    ///   copies in the trash are not themselves purged by the next expunge there);
    /// - else: only flagged \Deleted -> [`DeleteOutcome::FlaggedOnly`].
    ///
    /// A UID that does not exist (any more) counts as deleted.
    pub async fn delete_uids(
        &mut self,
        uids: &[u32],
        trash: Option<&Folder>,
    ) -> Result<DeleteOutcome, ImapError> {
        let set = exact_set(uids)?;
        let selected = self.require_selected("deleting a message")?.clone();
        if selected.read_only {
            return Err(ImapError::Usage(format!(
                "cannot delete UID {set} from {:?}: it was opened read-only (EXAMINE); use select",
                selected.name
            )));
        }
        if self.conn.has("UIDPLUS") {
            self.flag_deleted(&set).await?;
            let cmd = Command::new("UID EXPUNGE").raw(&format!(" {set}"));
            // Untagged EXPUNGE responses carry sequence numbers; the UIDs are
            // what we asked for, so there is nothing to read from them.
            self.conn.run(cmd, |_| {}).await?.check("UID EXPUNGE")?;
            return Ok(DeleteOutcome::Expunged);
        }
        if let Some(trash) = trash {
            if self.conn.has("MOVE") && trash.raw_name != selected.raw_name {
                self.move_set(&set, trash).await?;
                return Ok(DeleteOutcome::MovedToTrash(trash.name.clone()));
            }
        }
        self.flag_deleted(&set).await?;
        Ok(DeleteOutcome::FlaggedOnly)
    }

    /// Moves `uids` to `target` with one `UID MOVE` (RFC 6851).
    // NOTE: Gmail keeps an expunged message in "All Mail" (expunging only
    // removes a label); moving it to [Gmail]/Trash is what removes it from
    // every label. Callers use this when the server says X-GM-EXT-1.
    pub async fn move_uids(&mut self, uids: &[u32], target: &Folder) -> Result<(), ImapError> {
        let set = exact_set(uids)?;
        let selected = self.require_selected("moving a message")?;
        if selected.read_only {
            return Err(ImapError::Usage(format!(
                "cannot move UID {set}: the folder was opened read-only (EXAMINE)"
            )));
        }
        if !self.conn.has("MOVE") {
            return Err(ImapError::Usage(format!(
                "cannot move UID {set}: the server has no MOVE"
            )));
        }
        self.move_set(&set, target).await
    }

    async fn move_set(&mut self, set: &str, target: &Folder) -> Result<(), ImapError> {
        let label = format!("UID MOVE to {:?}", target.name);
        let mut cmd = Command::new("UID MOVE")
            .raw(&format!(" {set} "))
            .string(&target.raw_name);
        cmd.label = label.clone();
        self.conn.run(cmd, |_| {}).await?.check(&label)?;
        Ok(())
    }

    /// Sets exactly these flags on `uid` (`UID STORE FLAGS.SILENT`).
    // NOTE: some servers (mailutils imap4d on Maildir) drop the flags given
    // with APPEND; the copy gets the original's flags this way instead.
    pub async fn set_flags(&mut self, uid: u32, flags: &[String]) -> Result<(), ImapError> {
        let selected = self.require_selected("setting flags")?;
        if selected.read_only {
            return Err(ImapError::Usage(format!(
                "cannot set flags on UID {uid}: the folder was opened read-only (EXAMINE)"
            )));
        }
        let flags = settable_flags(flags)?;
        let cmd =
            Command::new("UID STORE").raw(&format!(" {uid} FLAGS.SILENT ({})", flags.join(" ")));
        self.conn.run(cmd, |_| {}).await?.check("UID STORE")?;
        Ok(())
    }

    async fn flag_deleted(&mut self, set: &str) -> Result<(), ImapError> {
        let cmd = Command::new("UID STORE").raw(&format!(" {set} +FLAGS.SILENT (\\Deleted)"));
        self.conn.run(cmd, |_| {}).await?.check("UID STORE")?;
        Ok(())
    }

    /// Size, flags, INTERNALDATE and the header fields `fields` of `uids`
    /// (`BODY.PEEK[HEADER.FIELDS (...)]`, in batches of 200): enough to tell
    /// messages apart without downloading them. UIDs that no longer exist
    /// are simply absent. Sorted by UID.
    pub async fn fetch_headers(
        &mut self,
        uids: &[u32],
        fields: &[&str],
    ) -> Result<Vec<HeaderMeta>, ImapError> {
        self.require_selected("UID FETCH")?;
        if fields.is_empty() || fields.iter().any(|f| !is_field_name(f)) {
            return Err(ImapError::Invalid(format!(
                "{fields:?} is not a list of header field names"
            )));
        }
        let items = format!(
            "(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS ({})])",
            fields.join(" ")
        );
        self.fetch_each(uids, &items, |attrs| {
            Ok(header_from_attrs(attrs)?.map(|h| (h.uid, h)))
        })
        .await
    }

    /// The quota that governs `folder` (GETQUOTAROOT, RFC 2087): `None`
    /// when the server has no QUOTA capability or sets no limit there.
    pub async fn quota(&mut self, folder: &Folder) -> Result<Option<QuotaUsage>, ImapError> {
        if !self.conn.has("QUOTA") {
            return Ok(None);
        }
        let label = format!("GETQUOTAROOT {:?}", folder.name);
        let mut cmd = Command::new("GETQUOTAROOT")
            .raw(" ")
            .string(&folder.raw_name);
        cmd.label = label.clone();
        let mut roots: Vec<String> = Vec::new();
        let mut quotas = Vec::new();
        self.conn
            .run(cmd, |resp| match resp {
                Response::QuotaRoot(r) => {
                    roots.extend(r.quota_root_names.iter().map(|n| n.to_string()));
                }
                Response::Quota(q) => quotas.push(q.clone().into_owned()),
                _ => {}
            })
            .await?
            .check(&label)?;
        Ok(QuotaUsage::from_responses(&roots, &quotas))
    }

    /// The connection failed (dropped, timed out, garbled): every further
    /// command is refused, and only a new session can go on.
    pub fn is_broken(&self) -> bool {
        self.conn.is_broken()
    }

    /// NOOP: keeps the connection alive and lets the server report changes.
    pub async fn noop(&mut self) -> Result<(), ImapError> {
        self.conn
            .run(Command::new("NOOP"), |_| {})
            .await?
            .check("NOOP")?;
        Ok(())
    }

    /// LOGOUT and close the connection.
    pub async fn logout(mut self) -> Result<(), ImapError> {
        let res = self.conn.run(Command::new("LOGOUT"), |_| {}).await;
        self.conn.shutdown().await;
        match res {
            Ok(done) => done.check("LOGOUT").map(|_| ()),
            // The server may hang up right after its BYE; we are done anyway.
            Err(ImapError::Unavailable { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A LIST entry as a [`Folder`], or `None` when it cannot be selected.
fn folder_from_list(entry: &MailboxListData<'_>) -> Option<Folder> {
    let mut special_use = Vec::new();
    for attr in &entry.name_attributes {
        let special = match attr {
            NameAttribute::NoSelect => return None,
            NameAttribute::Extension(ext) if ext.eq_ignore_ascii_case("\\NonExistent") => {
                return None
            }
            NameAttribute::All => "\\All",
            NameAttribute::Archive => "\\Archive",
            NameAttribute::Drafts => "\\Drafts",
            NameAttribute::Flagged => "\\Flagged",
            NameAttribute::Junk => "\\Junk",
            NameAttribute::Sent => "\\Sent",
            NameAttribute::Trash => "\\Trash",
            // RFC 8457's special use, unknown to imap-proto.
            NameAttribute::Extension(ext) if ext.eq_ignore_ascii_case("\\Important") => {
                "\\Important"
            }
            _ => continue,
        };
        special_use.push(special.to_string());
    }
    let raw_name = unescape_quoted(&entry.name).into_owned();
    let name = match super::utf7::decode(&raw_name) {
        Ok(name) => name,
        Err(e) => {
            // NOTE: some servers send raw UTF-8 names despite RFC 3501; show
            // them as they are rather than hiding the folder.
            tracing::warn!("{e}; using the name as sent");
            raw_name.clone()
        }
    };
    Some(Folder {
        name,
        raw_name,
        special_use,
        delimiter: entry
            .delimiter
            .as_ref()
            .map(|d| unescape_quoted(d).into_owned()),
    })
}

/// A [`MessageMeta`] from one FETCH response; `Ok(None)` when it lacks the UID
/// or a requested item (an unsolicited update rather than our answer).
fn meta_from_attrs(attrs: &[AttributeValue<'_>]) -> Result<Option<MessageMeta>, ImapError> {
    let mut uid = None;
    let mut size = None;
    let mut flags = None;
    let mut date = None;
    let mut structure = None;
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Rfc822Size(s) => size = Some(*s),
            AttributeValue::Flags(f) => flags = Some(f),
            AttributeValue::InternalDate(d) => date = Some(d),
            AttributeValue::BodyStructure(bs) => structure = Some(bs),
            _ => {}
        }
    }
    let (Some(uid), Some(size), Some(flags), Some(date), Some(structure)) =
        (uid, size, flags, date, structure)
    else {
        if uid.is_some() && (size.is_some() || structure.is_some()) {
            tracing::warn!(?uid, "incomplete FETCH response ignored");
        }
        return Ok(None);
    };
    // NOTE: Dovecot keeps INTERNALDATE's instant but not the zone given at
    // APPEND ("01-Feb-2024 10:00:00 +0100" comes back as "... 09:00:00
    // +0000"): compare `internal_ts`, not the strings.
    let internal_ts = parse_datetime(date).ok_or_else(|| {
        ImapError::Protocol(format!(
            "the server sent INTERNALDATE {date:?} for UID {uid}, which is not an IMAP date-time"
        ))
    })?;
    Ok(Some(MessageMeta {
        uid,
        size: u64::from(size),
        flags: owned_flags(flags),
        internal_date: date.to_string(),
        internal_ts,
        top_type: top_type(structure),
        leaves: leaves(structure),
    }))
}

/// The flags a client may set (`\Recent` is the server's own), each checked.
fn settable_flags(flags: &[String]) -> Result<Vec<&str>, ImapError> {
    let flags: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .collect();
    if let Some(bad) = flags.iter().find(|f| !is_valid_flag(f)) {
        return Err(ImapError::Invalid(format!(
            "{bad:?} is not a valid IMAP flag or keyword"
        )));
    }
    Ok(flags)
}

/// A header field name as RFC 5322 allows it (printable ASCII, no colon).
fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b':')
}

/// The UID set of a command that changes exactly these messages; UID 0 does
/// not exist and an empty set is not a command.
/// A message's flags as owned strings, without `\Recent`.
// NOTE: Dovecot lists \Recent among the flags; it is session state, not
// something to carry along.
pub(super) fn owned_flags(flags: &[std::borrow::Cow<'_, str>]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| f.to_string())
        .collect()
}

pub(super) fn exact_set(uids: &[u32]) -> Result<String, ImapError> {
    if uids.is_empty() || uids.contains(&0) {
        return Err(ImapError::Usage(format!(
            "not a set of message UIDs: {uids:?}"
        )));
    }
    Ok(uid_set(uids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_names_exactly_its_uids() {
        assert_eq!(exact_set(&[7]).unwrap(), "7");
        assert_eq!(exact_set(&[9, 5, 6, 7]).unwrap(), "5:7,9");
        // No set would be "every message" or a syntax error: refused here.
        assert!(exact_set(&[]).is_err());
        assert!(exact_set(&[0, 3]).is_err());
    }
}
