//! Mailbox commands of a [`Session`]: listing folders with their special
//! uses, selecting or examining one (and opening it again), and finding
//! messages with a server-side `UID SEARCH`.

use async_imap::imap_proto::{
    MailboxDatum, MailboxListData, NameAttribute, Response, ResponseCode, Status, StatusAttribute,
};

use super::command::Command;
use super::datetime::format_date;
use super::mime_params::unescape_quoted;
use super::session::Selected;
use super::{Folder, ImapError, MailboxStatus, Session};

impl Session {
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

    /// The selected folder's name as the server spells it, if one is selected.
    pub fn selected_raw_name(&self) -> Option<&str> {
        self.require_selected("").ok().map(|s| s.raw_name.as_str())
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
