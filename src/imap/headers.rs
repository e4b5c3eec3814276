//! [`HeaderMeta`]: a message's size, flags, INTERNALDATE and a few header
//! fields, from one FETCH response, for checks that must not download
//! whole messages.

use async_imap::imap_proto::AttributeValue;

use super::datetime::parse_datetime;
use super::ImapError;

/// What [`super::Session::fetch_headers`] returns for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMeta {
    pub uid: u32,
    /// RFC822.SIZE.
    pub size: u64,
    /// Flags as on the server, never `\Recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE as the server sent it.
    pub internal_date: String,
    /// The same instant in unix seconds.
    pub internal_ts: i64,
    /// The requested header fields as the server sent them (raw lines,
    /// blank line included); empty when the message has none of them.
    pub header: Vec<u8>,
}

/// A [`HeaderMeta`] from one FETCH response; `Ok(None)` when it lacks an
/// item asked for (an unsolicited update rather than our answer).
pub(super) fn header_from_attrs(
    attrs: &[AttributeValue<'_>],
) -> Result<Option<HeaderMeta>, ImapError> {
    let mut uid = None;
    let mut size = None;
    let mut flags = None;
    let mut date = None;
    let mut header = None;
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Rfc822Size(s) => size = Some(*s),
            AttributeValue::Flags(f) => flags = Some(f),
            AttributeValue::InternalDate(d) => date = Some(d),
            AttributeValue::BodySection { data, .. } => {
                // NIL when the message has none of the fields.
                header = Some(data.as_deref().unwrap_or_default());
            }
            _ => {}
        }
    }
    let (Some(uid), Some(size), Some(flags), Some(date), Some(header)) =
        (uid, size, flags, date, header)
    else {
        return Ok(None);
    };
    let internal_ts = parse_datetime(date).ok_or_else(|| {
        ImapError::Protocol(format!(
            "the server sent INTERNALDATE {date:?} for UID {uid}, which is not an IMAP date-time"
        ))
    })?;
    Ok(Some(HeaderMeta {
        uid,
        size: u64::from(size),
        flags: super::session::owned_flags(flags),
        internal_date: date.to_string(),
        internal_ts,
        header: header.to_vec(),
    }))
}
