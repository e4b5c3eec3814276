//! Writing messages with a [`Session`]: APPEND with flags and internal
//! date (the APPENDUID back), the server's APPEND size limit (APPENDLIMIT,
//! RFC 7889), and setting a message's flags afterwards.

use super::command::{is_valid_flag, Command};
use super::datetime::parse_datetime;
use super::{Folder, ImapError, Session};

impl Session {
    /// The largest message the server takes in one APPEND, when it says so
    /// for every mailbox (`APPENDLIMIT=n`, RFC 7889; Gmail announces
    /// 35651584). A bare `APPENDLIMIT` (a limit per mailbox, told by
    /// STATUS) gives `None`: such a server refuses an APPEND over it with
    /// `[TOOBIG]`, and slimbox leaves that message alone then.
    pub fn append_limit(&self) -> Option<u64> {
        append_limit_of(self.conn.caps.iter().map(String::as_str))
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
}

/// `APPENDLIMIT=n` among capabilities (upper-cased), as a number.
fn append_limit_of<'a>(caps: impl Iterator<Item = &'a str>) -> Option<u64> {
    caps.filter_map(|c| c.strip_prefix("APPENDLIMIT="))
        .find_map(|n| n.parse().ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue10_appendlimit_from_capabilities() {
        let caps = ["IMAP4REV1", "X-GM-EXT-1", "APPENDLIMIT=35651584"];
        assert_eq!(append_limit_of(caps.into_iter()), Some(35_651_584));
        // Per mailbox only, or not at all: no server-wide figure.
        assert_eq!(append_limit_of(["APPENDLIMIT"].into_iter()), None);
        assert_eq!(append_limit_of(["IMAP4REV1"].into_iter()), None);
        assert_eq!(append_limit_of(["APPENDLIMIT=x"].into_iter()), None);
    }
}
