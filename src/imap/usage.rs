//! How many bytes a mailbox's messages take, for a `quota_target` where
//! the server has no QUOTA (Microsoft 365) and the account's `quota` says
//! what 100 % is (issue 25): the sum of every message's RFC822.SIZE.

use async_imap::imap_proto::{AttributeValue, Response};

use super::command::Command;
use super::{Folder, ImapError, Session};

impl Session {
    /// The bytes the messages of `folder` take (the sum of their
    /// RFC822.SIZE); the folder is opened read-only (EXAMINE).
    pub async fn folder_bytes(&mut self, folder: &Folder) -> Result<u64, ImapError> {
        if self.examine(folder).await?.exists == 0 {
            return Ok(0);
        }
        let mut total: u64 = 0;
        self.conn
            .run(Command::new("FETCH").raw(" 1:* (RFC822.SIZE)"), |resp| {
                if let Response::Fetch(_, attrs) = resp {
                    for a in attrs {
                        if let AttributeValue::Rfc822Size(s) = a {
                            total = total.saturating_add(u64::from(*s));
                        }
                    }
                }
            })
            .await?
            .check("FETCH RFC822.SIZE")?;
        Ok(total)
    }
}
