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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::index::{MessageRecord, PartRecord};
    use crate::store::{sha256, to_hex};

    fn part(hex: &str, size: u64, raw: Option<&str>) -> PartRecord {
        PartRecord {
            sha256: hex.to_string(),
            size,
            filename: format!("{}.bin", &hex[..4]),
            content_type: "application/octet-stream".into(),
            part_path: "2".into(),
            raw_sha256: raw.map(str::to_string),
        }
    }

    fn message(uid: u32, parts: Vec<PartRecord>) -> Rebuilt {
        Rebuilt {
            record: MessageRecord {
                account: "me".into(),
                folder: "Sent".into(),
                uidvalidity: 1,
                old_uid: 0,
                new_uid: Some(uid),
                message_id: Some(format!("m{uid}@x")),
                date: None,
                from: None,
                to: None,
                subject: None,
                internal_date: String::new(),
                flags: Vec::new(),
                size_before: 0,
                size_after: 0,
                parts,
            },
            processed_at: 0,
        }
    }

    #[tokio::test]
    async fn issue9_each_object_is_looked_up_once_and_each_stub_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().to_string_lossy()).unwrap();
        let good = Bytes::from_static(b"a file that is there");
        let good_hex = to_hex(&sha256(&good));
        store.put(&sha256(&good), good.clone()).await.unwrap();
        let flipped = Bytes::from_static(b"a file that went bad");
        let flipped_hex = to_hex(&sha256(&flipped));
        store.put(&sha256(&flipped), flipped.clone()).await.unwrap();
        let file = dir
            .path()
            .join("sha256")
            .join(&flipped_hex[..2])
            .join(&flipped_hex);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&file, bytes).unwrap();
        let missing_hex = "ab".repeat(32);
        let found = [
            message(1, vec![part(&good_hex, good.len() as u64, None)]),
            // The same object twice, a missing raw body beside it.
            message(
                2,
                vec![
                    part(&good_hex, good.len() as u64, Some(&missing_hex)),
                    part(&flipped_hex, flipped.len() as u64, None),
                ],
            ),
            message(3, vec![part(&missing_hex, 5, None)]),
        ];
        let mut report = AccountRebuild::default();
        check(&store, &found, false, &mut report).await;
        assert_eq!(report.objects_checked, 3);
        let missing: Vec<u32> = report
            .findings
            .iter()
            .map(|f| match f {
                Finding::Object {
                    message,
                    state: ObjectState::Missing,
                    ..
                } => message.uid,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(missing, [2, 3], "the flipped object has its size");

        let mut report = AccountRebuild::default();
        check(&store, &found, true, &mut report).await;
        let corrupt = report.findings.iter().filter(|f| {
            matches!(f, Finding::Object { state: ObjectState::Corrupt { .. }, sha256, .. } if *sha256 == flipped_hex)
        });
        assert_eq!(corrupt.count(), 1);
        assert_eq!(report.findings.len(), 3);
        let text = report.findings[0].to_string();
        assert!(text.contains("restored from a backup"), "{text}");
    }
}
