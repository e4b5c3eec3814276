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
/// is not good. Returns the objects stored compressed, with the bytes each
/// takes in the store (for the index's `compressed_objects`, which `stats`
/// reads).
pub(super) async fn check(
    store: &Store,
    found: &[Rebuilt],
    read_data: bool,
    report: &mut AccountRebuild,
) -> Vec<(String, u64)> {
    let wanted = objects_of(found);
    let checks = futures::stream::iter(wanted.into_iter().map(|(hex, size)| async move {
        let (state, compressed) = check_one(store, &hex, size, read_data).await;
        (hex, state, compressed)
    }))
    .buffer_unordered(if read_data {
        READ_CONCURRENCY
    } else {
        HEAD_CONCURRENCY
    });
    let checked: Vec<(String, Option<ObjectState>, Option<u64>)> = checks.collect().await;
    let compressed = checked
        .iter()
        .filter_map(|(hex, _, c)| c.map(|stored| (hex.clone(), stored)))
        .collect();
    let states: HashMap<String, Option<ObjectState>> =
        checked.into_iter().map(|(hex, s, _)| (hex, s)).collect();
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
    compressed
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

/// `None` when the object is there (and, with `read`, intact); beside it
/// the bytes the object takes in the store when it is stored compressed.
async fn check_one(
    store: &Store,
    hex: &str,
    size: u64,
    read: bool,
) -> (Option<ObjectState>, Option<u64>) {
    // The hashes come from recipes, which read_converted parsed as SHA-256.
    let Some(h) = parse_hex(hex) else {
        let why = format!("{hex:?} is not a SHA-256");
        return (Some(ObjectState::Unreadable { why }), None);
    };
    if read {
        let state = match store.get(&h).await {
            Ok(_) => None,
            Err(StoreError::NotFound { .. }) => Some(ObjectState::Missing),
            Err(StoreError::Corrupt { actual, .. }) => Some(ObjectState::Corrupt { actual }),
            Err(e) => Some(ObjectState::Unreadable { why: e.to_string() }),
        };
        // Only the stored size is still to learn: a failed look-up costs
        // `stats` its figure for this object, never a finding.
        let compressed = match state {
            Some(ObjectState::Missing) => None,
            _ => store
                .stored_form(&h)
                .await
                .ok()
                .flatten()
                .and_then(|f| f.compressed_size),
        };
        return (state, compressed);
    }
    match store.stored_form(&h).await {
        Ok(None) => (Some(ObjectState::Missing), None),
        Ok(Some(f)) if size > 0 && f.size != size => (
            Some(ObjectState::WrongSize {
                actual: f.size,
                expected: size,
            }),
            f.compressed_size,
        ),
        Ok(Some(f)) => (None, f.compressed_size),
        Err(e) => (Some(ObjectState::Unreadable { why: e.to_string() }), None),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::index::{MessageRecord, PartRecord};
    use crate::store::{sha256, to_hex, PutOptions};

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
        store
            .put(&sha256(&good), good.clone(), PutOptions::new())
            .await
            .unwrap();
        let flipped = Bytes::from_static(b"a file that went bad");
        let flipped_hex = to_hex(&sha256(&flipped));
        store
            .put(&sha256(&flipped), flipped.clone(), PutOptions::new())
            .await
            .unwrap();
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

    #[tokio::test]
    async fn issue11_compressed_objects_are_reported_with_their_stored_size() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().to_string();
        let writer = Store::open(&root)
            .unwrap()
            .with_compression(crate::store::Compression::Zstd { level: 3 });
        let text = Bytes::from("a line of a log that repeats\n".repeat(2000));
        let noise: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let noise = Bytes::from(noise);
        for (data, ct) in [(&text, "text/plain"), (&noise, "image/jpeg")] {
            writer
                .put(
                    &sha256(data),
                    data.clone(),
                    PutOptions::new()
                        .compress_as(Some(ct))
                        .checked_by_caller()
                        .unsynced(),
                )
                .await
                .unwrap();
        }
        let (text_hex, noise_hex) = (to_hex(&sha256(&text)), to_hex(&sha256(&noise)));
        let packed = dir
            .path()
            .join("sha256")
            .join(&text_hex[..2])
            .join(format!("{text_hex}.zst"));
        let stored = std::fs::metadata(&packed).unwrap().len();
        assert!(stored < text.len() as u64 / 10, "{stored}");
        let found = [message(
            1,
            vec![
                part(&text_hex, text.len() as u64, None),
                part(&noise_hex, noise.len() as u64, None),
            ],
        )];
        for read_data in [false, true] {
            // A fresh handle, as `index rebuild` has: it knows nothing yet.
            let store = Store::open(&root).unwrap();
            let mut report = AccountRebuild::default();
            let compressed = check(&store, &found, read_data, &mut report).await;
            assert!(report.findings.is_empty(), "{:?}", report.findings);
            assert_eq!(compressed, [(text_hex.clone(), stored)], "{read_data}");
        }
    }
}
