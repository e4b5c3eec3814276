//! Does the store hold every object the rebuilt messages need? Each
//! distinct object is looked up once (with `read_data` read whole and its
//! SHA-256 checked); a stub whose object is not there as it should be is a
//! finding, and its message stays in the index.

use std::collections::HashMap;

use futures::StreamExt;

use super::findings::{Finding, MessageRef, ObjectState};
use super::AccountRebuild;
use crate::index::Rebuilt;
use crate::store::{parse_hex, Store, StoreError};

/// Objects looked up at once (metadata only).
const HEAD_CONCURRENCY: usize = 16;
/// Objects read at once with `read_data` (each is held in memory whole).
const READ_CONCURRENCY: usize = 4;

/// Checks the objects of `found`, adding a finding per stub whose object
/// is not good.
pub(super) async fn check(
    store: &Store,
    found: &[Rebuilt],
    read_data: bool,
    report: &mut AccountRebuild,
) {
    let wanted = objects_of(found);
    let checks = futures::stream::iter(wanted.into_iter().map(|(hex, size)| async move {
        let state = check_one(store, &hex, size, read_data).await;
        (hex, state)
    }))
    .buffer_unordered(if read_data {
        READ_CONCURRENCY
    } else {
        HEAD_CONCURRENCY
    });
    let states: HashMap<String, Option<ObjectState>> = checks.collect().await;
    report.objects_checked += states.len();
    for m in found {
        let r = &m.record;
        for p in &r.parts {
            let hashes = std::iter::once(&p.sha256).chain(p.raw_sha256.as_ref());
            for h in hashes {
                let Some(Some(state)) = states.get(h) else {
                    continue;
                };
                report.findings.push(Finding::Object {
                    message: MessageRef {
                        folder: r.folder.clone(),
                        uid: r.new_uid.unwrap_or(r.old_uid),
                        message_id: r.message_id.clone(),
                        subject: r.subject.clone(),
                    },
                    sha256: h.clone(),
                    file: p.filename.clone(),
                    state: state.clone(),
                });
            }
        }
    }
}

/// Each object once, with the size it must have (0: not known, as for an
/// object holding a part's original encoded body).
fn objects_of(found: &[Rebuilt]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for p in found.iter().flat_map(|m| &m.record.parts) {
        out.insert(p.sha256.clone(), p.size);
        if let Some(raw) = &p.raw_sha256 {
            out.entry(raw.clone()).or_insert(0);
        }
    }
    out
}

/// `None` when the object is there (and, with `read`, intact).
async fn check_one(store: &Store, hex: &str, size: u64, read: bool) -> Option<ObjectState> {
    // The hashes come from recipes, which read_converted parsed as SHA-256.
    let Some(h) = parse_hex(hex) else {
        return Some(ObjectState::Unreadable {
            why: format!("{hex:?} is not a SHA-256"),
        });
    };
    if read {
        return match store.get(&h).await {
            Ok(_) => None,
            Err(StoreError::NotFound { .. }) => Some(ObjectState::Missing),
            Err(StoreError::Corrupt { actual, .. }) => Some(ObjectState::Corrupt { actual }),
            Err(e) => Some(ObjectState::Unreadable { why: e.to_string() }),
        };
    }
    match store.size(&h).await {
        Ok(None) => Some(ObjectState::Missing),
        Ok(Some(actual)) if size > 0 && actual != size => Some(ObjectState::WrongSize {
            actual,
            expected: size,
        }),
        Ok(Some(_)) => None,
        Err(e) => Some(ObjectState::Unreadable { why: e.to_string() }),
    }
}
