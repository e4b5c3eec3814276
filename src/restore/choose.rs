//! Which files a request means: the parts of the index it selects, each
//! (file, name) once; or, for a full SHA-256 the index does not know (lost,
//! or never indexed), the object itself if the store still holds it.

use std::collections::HashSet;

use super::{Request, RestoreError};
use crate::index::{Index, PartFilter, PartRow};
use crate::store::{parse_hex, Store};

/// The parts `request` chooses, in the index's order.
pub(super) async fn parts(
    store: &Store,
    index: &Index,
    request: &Request,
) -> Result<Vec<PartRow>, RestoreError> {
    let filter = filter(request)?;
    let mut rows = index.find_parts(&filter)?;
    // Each (file, name) once: the same file in several messages is written once.
    let mut seen = HashSet::new();
    rows.retain(|r| seen.insert((r.sha256.clone(), r.filename.clone())));
    if let Some(prefix) = &filter.sha256_prefix {
        one_file(prefix, &rows)?;
        if rows.is_empty() {
            rows.extend(store_only(store, prefix).await?);
        }
    }
    if rows.is_empty() {
        return Err(RestoreError::NothingMatches);
    }
    Ok(rows)
}

/// The index filter for `request`; refuses one that chooses nothing.
pub(super) fn filter(request: &Request) -> Result<PartFilter, RestoreError> {
    let mut filter = request.filter.clone();
    // A file put back whole is still in the store, and may be wanted.
    filter.include_reattached = true;
    if let Some(given) = &request.sha256 {
        filter.sha256_prefix = Some(hash_prefix(given)?);
    }
    if request.message_id.is_some() {
        filter.message_id = request.message_id.clone();
    }
    let PartFilter {
        account,
        from,
        name_glob,
        since,
        until,
        larger,
        sha256_prefix,
        message_id,
        ..
    } = &filter;
    let chosen = account.is_some()
        || from.is_some()
        || name_glob.is_some()
        || since.is_some()
        || until.is_some()
        || larger.is_some()
        || sha256_prefix.is_some()
        || message_id.is_some();
    if !chosen {
        return Err(RestoreError::NothingChosen);
    }
    Ok(filter)
}

/// A SHA-256 or prefix as typed: trimmed and in lower case, 4 to 64 hex digits.
pub(super) fn hash_prefix(given: &str) -> Result<String, RestoreError> {
    let h = given.trim().to_ascii_lowercase();
    if h.len() < 4 || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RestoreError::NotAHash { given: h });
    }
    Ok(h)
}

/// Refuses a prefix that matches more than one file.
pub(super) fn one_file(prefix: &str, rows: &[PartRow]) -> Result<(), RestoreError> {
    let distinct: HashSet<&str> = rows.iter().map(|r| r.sha256.as_str()).collect();
    if distinct.len() <= 1 {
        return Ok(());
    }
    let mut matches: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    matches.sort();
    Err(RestoreError::Ambiguous {
        prefix: prefix.to_string(),
        matches,
    })
}

/// The object `hash` as a part of no message, named after its hash, if the
/// store holds it.
async fn store_only(store: &Store, hash: &str) -> Result<Option<PartRow>, RestoreError> {
    let Some(h) = parse_hex(hash) else {
        return Ok(None);
    };
    let Some(size) = store.size(&h).await? else {
        return Ok(None);
    };
    Ok(Some(PartRow {
        message: 0,
        account: String::new(),
        folder: String::new(),
        uidvalidity: 0,
        uid: None,
        message_id: None,
        date: None,
        from: None,
        subject: None,
        filename: format!("{}.bin", &hash[..16]),
        content_type: "application/octet-stream".into(),
        size,
        sha256: hash.to_string(),
        part_path: String::new(),
        reattached: false,
    }))
}
