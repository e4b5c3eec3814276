//! FETCH answers to plain data, in one place: a message's metadata with its
//! body structure ([`MessageMeta`]), a few header fields ([`HeaderMeta`]),
//! its flags as they are now ([`FlagState`]) and the whole message, each
//! from one untagged FETCH response's attributes.

use std::borrow::Cow;

use async_imap::imap_proto::{AttributeValue, BodyStructure};

use super::datetime::parse_datetime;
use super::structure::{leaves, top_type};
use super::{ImapError, MessageMeta};

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

/// A message's flags as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagState {
    pub uid: u32,
    /// Never `\Recent` (session state, not the message's).
    pub flags: Vec<String>,
    /// Its MODSEQ, where the server has CONDSTORE.
    pub modseq: Option<u64>,
}

/// The items of one FETCH response that the answers below are made of,
/// gathered in one pass.
#[derive(Default)]
struct Items<'r, 'a> {
    uid: Option<u32>,
    size: Option<u32>,
    flags: Option<&'r [Cow<'a, str>]>,
    date: Option<&'r str>,
    structure: Option<&'r BodyStructure<'a>>,
    /// A `BODY[...]` section; empty when the server sent NIL (a header
    /// request for fields the message has none of).
    section: Option<&'r [u8]>,
}

fn items<'r, 'a>(attrs: &'r [AttributeValue<'a>]) -> Items<'r, 'a> {
    let mut it = Items::default();
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => it.uid = Some(*u),
            AttributeValue::Rfc822Size(s) => it.size = Some(*s),
            AttributeValue::Flags(f) => it.flags = Some(f),
            AttributeValue::InternalDate(d) => it.date = Some(d),
            AttributeValue::BodyStructure(bs) => it.structure = Some(bs),
            AttributeValue::BodySection { data, .. } => {
                it.section = Some(data.as_deref().unwrap_or_default());
            }
            _ => {}
        }
    }
    it
}

/// A [`MessageMeta`] from one FETCH response; `Ok(None)` when it lacks the UID
/// or a requested item (an unsolicited update rather than our answer).
pub(super) fn meta_from_attrs(
    attrs: &[AttributeValue<'_>],
) -> Result<Option<MessageMeta>, ImapError> {
    let it = items(attrs);
    let (Some(uid), Some(size), Some(flags), Some(date), Some(structure)) =
        (it.uid, it.size, it.flags, it.date, it.structure)
    else {
        if it.uid.is_some() && (it.size.is_some() || it.structure.is_some()) {
            tracing::warn!(uid = ?it.uid, "incomplete FETCH response ignored");
        }
        return Ok(None);
    };
    Ok(Some(MessageMeta {
        uid,
        size: u64::from(size),
        flags: owned_flags(flags),
        internal_date: date.to_string(),
        internal_ts: internal_ts(date, uid)?,
        top_type: top_type(structure),
        leaves: leaves(structure),
    }))
}

/// A [`HeaderMeta`] from one FETCH response; `Ok(None)` when it lacks an
/// item asked for (an unsolicited update rather than our answer).
pub(super) fn header_from_attrs(
    attrs: &[AttributeValue<'_>],
) -> Result<Option<HeaderMeta>, ImapError> {
    let it = items(attrs);
    let (Some(uid), Some(size), Some(flags), Some(date), Some(header)) =
        (it.uid, it.size, it.flags, it.date, it.section)
    else {
        return Ok(None);
    };
    Ok(Some(HeaderMeta {
        uid,
        size: u64::from(size),
        flags: owned_flags(flags),
        internal_date: date.to_string(),
        internal_ts: internal_ts(date, uid)?,
        header: header.to_vec(),
    }))
}

/// A [`FlagState`] from one FETCH response; `None` without UID or FLAGS.
pub(super) fn flag_state(
    attrs: &[AttributeValue<'_>],
) -> Result<Option<(u32, FlagState)>, ImapError> {
    let mut uid = None;
    let mut flags = None;
    let mut modseq = None;
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Flags(f) => flags = Some(owned_flags(f)),
            AttributeValue::ModSeq(m) => modseq = Some(*m),
            _ => {}
        }
    }
    Ok(match (uid, flags) {
        (Some(uid), Some(flags)) => Some((uid, FlagState { uid, flags, modseq })),
        _ => None,
    })
}

/// What a `BODY.PEEK[]` FETCH answer says about one message.
pub(super) struct BodyAnswer<'r> {
    /// Its flags; `None` when they were not asked for.
    pub flags: Option<Vec<String>>,
    /// The whole message; `None` when the answer lacks it.
    pub body: Option<&'r [u8]>,
}

/// The [`BodyAnswer`] about message `uid` in one FETCH response; `None`
/// for a response about another message or none.
pub(super) fn body_from_attrs<'r>(
    attrs: &'r [AttributeValue<'_>],
    uid: u32,
) -> Option<BodyAnswer<'r>> {
    let this_uid = attrs.iter().find_map(|a| match a {
        AttributeValue::Uid(u) => Some(*u),
        _ => None,
    });
    if this_uid != Some(uid) {
        return None;
    }
    let mut flags = None;
    for attr in attrs {
        if let AttributeValue::Flags(f) = attr {
            flags = Some(owned_flags(f));
        }
    }
    let body = attrs.iter().find_map(|attr| match attr {
        AttributeValue::BodySection {
            section: None,
            data: Some(data),
            ..
        } => Some(&data[..]),
        _ => None,
    });
    Some(BodyAnswer { flags, body })
}

/// INTERNALDATE `date` of message `uid` in unix seconds.
// NOTE: Dovecot keeps INTERNALDATE's instant but not the zone given at
// APPEND ("01-Feb-2024 10:00:00 +0100" comes back as "... 09:00:00
// +0000"): compare `internal_ts`, not the strings.
fn internal_ts(date: &str, uid: u32) -> Result<i64, ImapError> {
    parse_datetime(date).ok_or_else(|| {
        ImapError::Protocol(format!(
            "the server sent INTERNALDATE {date:?} for UID {uid}, which is not an IMAP date-time"
        ))
    })
}

/// A message's flags as owned strings, without `\Recent`.
// NOTE: Dovecot lists \Recent among the flags; it is session state, not
// something to carry along.
pub(super) fn owned_flags(flags: &[Cow<'_, str>]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| f.to_string())
        .collect()
}
