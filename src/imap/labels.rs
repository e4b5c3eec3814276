//! Gmail's labels (X-GM-EXT-1, issue 25): on Gmail a message is one object
//! with many labels, and its converted copy must carry every one of them
//! before the original goes. Labels are read (`X-GM-LABELS` in a UID
//! FETCH) and only ever added (`+X-GM-LABELS`), never set or taken away,
//! so a label the owner added meanwhile is never lost.

use async_imap::imap_proto::AttributeValue;

use super::command::{quote, uid_set, Command};
use super::{ImapError, Session};

impl Session {
    /// The Gmail labels of those of `uids` still in the selected folder,
    /// as the server spells them (`\Inbox`, `\Important`, `Work/2024`), by
    /// UID; a UID that is gone is absent.
    pub async fn fetch_labels(
        &mut self,
        uids: &[u32],
    ) -> Result<Vec<(u32, Vec<String>)>, ImapError> {
        self.fetch_each(uids, "(UID X-GM-LABELS)", |attrs| {
            let mut uid = None;
            let mut labels = Vec::new();
            for a in attrs {
                match a {
                    AttributeValue::Uid(u) => uid = Some(*u),
                    AttributeValue::GmailLabels(l) => {
                        labels = l.iter().map(|s| s.to_string()).collect();
                    }
                    _ => {}
                }
            }
            Ok(uid.map(|u| (u, (u, labels))))
        })
        .await
    }

    /// Adds `labels` to the message `uid` of the selected folder (`UID
    /// STORE uid +X-GM-LABELS.SILENT (...)`); its other labels stay.
    pub async fn add_labels(&mut self, uid: u32, labels: &[String]) -> Result<(), ImapError> {
        self.require_selected("adding labels")?;
        let list = labels
            .iter()
            .map(|l| label_arg(l))
            .collect::<Result<Vec<_>, _>>()?
            .join(" ");
        let set = uid_set(&[uid]);
        let label = format!("UID STORE {set} +X-GM-LABELS");
        let mut cmd =
            Command::new("UID STORE").raw(&format!(" {set} +X-GM-LABELS.SILENT ({list})"));
        cmd.label = label.clone();
        self.conn.run(cmd, |_| {}).await?.check(&label)?;
        Ok(())
    }
}

/// One label as a STORE argument: a system label (`\Inbox`) as the atom it
/// is, any other quoted, exactly as the server spelled it.
fn label_arg(l: &str) -> Result<String, ImapError> {
    let system = l.starts_with('\\') && l[1..].chars().all(|c| c.is_ascii_alphanumeric());
    if system && l.len() > 1 {
        return Ok(l.to_string());
    }
    quote(l).ok_or_else(|| {
        ImapError::Usage(format!(
            "the Gmail label {l:?} cannot be sent back as a quoted string"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue25_system_labels_go_as_atoms_others_quoted() {
        assert_eq!(label_arg("\\Inbox").unwrap(), "\\Inbox");
        assert_eq!(label_arg("Work").unwrap(), "\"Work\"");
        assert_eq!(label_arg("Muy Importante").unwrap(), "\"Muy Importante\"");
        assert_eq!(label_arg("\\").unwrap(), "\"\\\\\"");
        assert!(label_arg("a\r\nb").is_err());
    }
}
