//! Finding a copy on the server whose UID the APPEND did not say (no
//! APPENDUID, or a connection lost mid-APPEND): a rewritten message by its
//! marker header, a rebuilt original by its Message-ID, and only a
//! byte-identical one counts.

use super::report::PipelineError;
use crate::imap::Session;
use crate::mime;

/// The search value that finds a copy by its marker header.
fn marker_value(rewritten: &[u8]) -> Option<String> {
    // After an mbox `From ` line, if the message has one.
    let line = mime::marker_line(rewritten)?;
    let value = line.split_once(':')?.1.trim();
    // The tail (original size and date) is what makes it unique.
    let tail = value.find("original-size=").map_or(value, |i| &value[i..]);
    Some(tail.trim_end_matches('\r').to_string())
}

/// Finds the UID of a byte-identical copy of `bytes` in the selected folder:
/// a rewritten message by its marker header, a rebuilt original by its
/// Message-ID.
pub(super) async fn find_copy(
    session: &mut Session,
    bytes: &[u8],
) -> Result<Option<u32>, PipelineError> {
    if let Some(uid) = search_copy(session, bytes).await? {
        return Ok(Some(uid));
    }
    // NOTE: mailutils imap4d may not show a message this very session just
    // APPENDed (when another session selected the folder meanwhile) until
    // the folder is selected again.
    session.refresh().await?;
    search_copy(session, bytes).await
}

async fn search_copy(session: &mut Session, bytes: &[u8]) -> Result<Option<u32>, PipelineError> {
    let uids = if mime::is_processed(bytes) {
        match marker_value(bytes) {
            Some(value) => session.search_header(mime::MARKER_HEADER, &value).await?,
            None => return Ok(None),
        }
    } else {
        let id = mail_parser::MessageParser::new()
            .parse_headers(bytes)
            .and_then(|m| m.message_id().map(str::to_string));
        match id {
            Some(id) => session.search_header("Message-ID", &id).await?,
            None => return Ok(None),
        }
    };
    for uid in uids {
        if session.fetch_message(uid).await?.as_deref() == Some(bytes) {
            return Ok(Some(uid));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_value_is_the_unique_tail() {
        let rw = b"X-Slimbox: v=1; parts=1; bytes=5; original-size=99; date=\"Mon, 1 Jan 2024\"\r\nFrom: a\r\n";
        assert_eq!(
            marker_value(rw).unwrap(),
            "original-size=99; date=\"Mon, 1 Jan 2024\""
        );
    }
}
