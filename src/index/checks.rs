//! The index's behaviour as checks that run on any empty index, so the same
//! checks run on SQLite (the unit tests below) and on PostgreSQL
//! (`tests/index_pg_live.rs`). Test support, not API: each check panics on
//! the first difference.

use std::collections::HashMap;

use super::{Index, JournalKind, JournalState, MessageRecord, PartFilter, PartRecord, Rebuilt};

/// One check, run on an empty index.
pub type Check = fn(&mut Index);

/// Every check, by name.
pub const ALL: &[(&str, Check)] = &[
    ("journal", journal),
    ("reattach_journal", reattach_journal),
    ("skips", skips),
    ("find_parts", find_parts),
    ("stats_follow_reattach", stats_follow_reattach),
    ("text_sorts_byte_by_byte", text_sorts_byte_by_byte),
    ("removal_batches", removal_batches),
    ("store_binding", store_binding),
    ("rebuilt", rebuilt),
    ("last_success", last_success),
    ("compressed", compressed),
    ("copies", copies),
    ("rows_stream", rows_stream),
];

/// A processed message of account "me" in "Sent" with one 900-byte part.
pub fn record(uid: u32) -> MessageRecord {
    MessageRecord {
        account: "me".into(),
        folder: "Sent".into(),
        uidvalidity: 7,
        old_uid: uid,
        new_uid: None,
        message_id: Some(format!("m{uid}@x")),
        date: Some(1_700_000_000),
        from: Some("a@x".into()),
        to: Some("b@x".into()),
        subject: Some("s".into()),
        internal_date: "01-Feb-2024 10:00:00 +0100".into(),
        flags: vec!["\\Seen".into()],
        size_before: 1000,
        size_after: 100,
        parts: vec![PartRecord {
            sha256: "ab".repeat(32),
            size: 900,
            filename: "a.pdf".into(),
            content_type: "application/pdf".into(),
            part_path: "2".into(),
            raw_sha256: None,
        }],
    }
}

fn finish(idx: &mut Index, r: &MessageRecord) -> i64 {
    let id = idx.journal_begin(r, b"x").expect("journal_begin");
    idx.journal_finish(id, r).expect("journal_finish")
}

pub fn journal(idx: &mut Index) {
    let id = idx.journal_begin(&record(5), b"rewritten").unwrap();
    // Begun again (a retry): the same entry, its content replaced.
    assert_eq!(idx.journal_begin(&record(5), b"rewritten").unwrap(), id);
    let p = idx.journal_pending("me").unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].id, p[0].state), (id, JournalState::Prepared));
    assert_eq!(p[0].rewritten, b"rewritten");
    assert_eq!(p[0].record, record(5));
    assert_eq!(p[0].kind, JournalKind::Detach);
    idx.journal_set(id, JournalState::Appended, Some(42))
        .unwrap();
    idx.journal_set(id, JournalState::OriginalRemoved, None)
        .unwrap();
    let p = idx.journal_pending("me").unwrap();
    assert_eq!(
        (p[0].state, p[0].new_uid),
        (JournalState::OriginalRemoved, Some(42)),
        "a state without a UID keeps the one known"
    );
    assert!(idx.journal_pending("other").unwrap().is_empty());
    let mut r = record(5);
    r.new_uid = Some(42);
    let mid = idx.journal_finish(id, &r).unwrap();
    assert!(idx.journal_pending("me").unwrap().is_empty());
    assert_eq!(idx.message_count().unwrap(), 1);
    assert_eq!(idx.last_message().unwrap(), mid);
    assert_eq!(
        idx.find_by_message_id("m5@x").unwrap(),
        Some((mid, "me".into(), "Sent".into()))
    );
    assert_eq!(idx.find_by_message_id("none@x").unwrap(), None);
    assert_eq!(idx.is_reattached(mid).unwrap(), Some(false));
    // A second message with the same object: two users of one object.
    let id2 = idx.journal_begin(&record(6), b"x").unwrap();
    let mid2 = idx.journal_finish(id2, &record(6)).unwrap();
    assert!(mid2 > mid);
    let refs = idx.object_refs().unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].users.len(), 2);
    let abandoned = idx.journal_begin(&record(7), b"x").unwrap();
    idx.journal_abandon(abandoned).unwrap();
    assert!(idx.journal_pending("me").unwrap().is_empty());
}

pub fn reattach_journal(idx: &mut Index) {
    let mid = finish(idx, &record(1));
    let id = idx
        .journal_begin_kind(&record(1), b"whole", JournalKind::Reattach { message: mid })
        .unwrap();
    let p = idx.journal_pending("me").unwrap();
    assert_eq!(p[0].kind, JournalKind::Reattach { message: mid });
    idx.journal_finish_reattach(id, mid, Some(77)).unwrap();
    assert!(idx.journal_pending("me").unwrap().is_empty());
    assert!(idx.find_parts(&PartFilter::default()).unwrap().is_empty());
    let all = idx
        .find_parts(&PartFilter {
            include_reattached: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        (all.len(), all[0].reattached, all[0].uid),
        (1, true, Some(77))
    );
    assert!(idx.stats().unwrap().is_empty());
}

pub fn skips(idx: &mut Index) {
    idx.record_skip("me", "Sent", 7, 3, "signed").unwrap();
    idx.record_skip("me", "Sent", 7, 3, "signed").unwrap();
    idx.record_skip("me", "Sent", 7, u32::MAX, "big").unwrap();
    let got = idx.skipped_uids("me", "Sent", 7).unwrap();
    assert_eq!(got, [3, u32::MAX].into_iter().collect());
    assert!(idx.skipped_uids("me", "Sent", 8).unwrap().is_empty());
}

pub fn find_parts(idx: &mut Index) {
    for uid in 1..=3u32 {
        let mut r = record(uid);
        r.date = Some(1_700_000_000 + uid as i64 * 86_400);
        r.parts[0].filename = format!("file{uid}.pdf");
        r.parts[0].sha256 = format!("{uid:02x}").repeat(32);
        r.parts[0].size = uid as u64 * 1000;
        r.from = Some(format!("Sender{uid}@example.com"));
        finish(idx, &r);
    }
    // No Date header: listed after every dated message.
    let mut r = record(4);
    r.date = None;
    r.parts[0].filename = "undated.pdf".into();
    finish(idx, &r);
    let all = idx.find_parts(&PartFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|p| p.filename.as_str()).collect::<Vec<_>>(),
        ["file3.pdf", "file2.pdf", "file1.pdf", "undated.pdf"],
        "newest first, undated last"
    );
    assert_eq!(all[3].date, None);
    let n = |f: PartFilter| idx.find_parts(&f).unwrap().len();
    let f = PartFilter::default;
    assert_eq!(
        n(PartFilter {
            sha256_prefix: Some("0202".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        n(PartFilter {
            sha256_prefix: Some("AB".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        n(PartFilter {
            message_id: Some("<m1@x>".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        n(PartFilter {
            name_glob: Some("file[12].*".into()),
            ..f()
        }),
        2
    );
    assert_eq!(
        n(PartFilter {
            name_glob: Some("file?.pdf".into()),
            ..f()
        }),
        3
    );
    assert_eq!(
        n(PartFilter {
            name_glob: Some("FILE*".into()),
            ..f()
        }),
        0,
        "globs are case sensitive"
    );
    assert_eq!(
        n(PartFilter {
            name_glob: Some("file[^1].pdf".into()),
            ..f()
        }),
        2
    );
    assert_eq!(
        n(PartFilter {
            name_glob: Some("file[!1].pdf".into()),
            ..f()
        }),
        1
    );
    assert_eq!(
        n(PartFilter {
            larger: Some(2000),
            ..f()
        }),
        2
    );
    assert_eq!(
        n(PartFilter {
            larger: Some(u64::MAX),
            ..f()
        }),
        0
    );
    assert_eq!(
        n(PartFilter {
            since: Some(1_700_000_000 + 2 * 86_400),
            ..f()
        }),
        2
    );
    assert_eq!(
        n(PartFilter {
            until: Some(1_700_000_000 + 2 * 86_400),
            ..f()
        }),
        1
    );
    assert_eq!(
        n(PartFilter {
            from: Some("sender3".into()),
            ..f()
        }),
        1,
        "any case"
    );
    assert_eq!(
        n(PartFilter {
            account: Some("other".into()),
            ..f()
        }),
        0
    );
    assert_eq!(
        n(PartFilter {
            after_message: Some(all[1].message),
            ..f()
        }),
        2
    );
    assert_eq!(
        n(PartFilter {
            limit: Some(2),
            ..f()
        }),
        2
    );
    let stats = idx.stats().unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].messages, 4);
    assert_eq!(stats[0].bytes_removed, 4 * 900);
    assert_eq!(stats[0].bytes_stored, 6000 + 900);
    assert_eq!(idx.object_refs().unwrap().len(), 4);
    idx.mark_reattached(all[0].message, Some(99)).unwrap();
    assert_eq!(n(f()), 3);
    let back = idx
        .find_parts(&PartFilter {
            include_reattached: true,
            ..f()
        })
        .unwrap();
    assert_eq!((back[0].reattached, back[0].uid), (true, Some(99)));
}

pub fn stats_follow_reattach(idx: &mut Index) {
    for uid in 1..=2u32 {
        finish(idx, &record(uid));
    }
    let s = &idx.stats().unwrap()[0];
    assert_eq!(
        (s.messages, s.parts, s.bytes_removed, s.bytes_stored),
        (2, 2, 1800, 900)
    );
    assert!((s.dedup_ratio - 2.0).abs() < 1e-9);
    let first = idx.find_parts(&PartFilter::default()).unwrap()[0].message;
    idx.mark_reattached(first, None).unwrap();
    let s = &idx.stats().unwrap()[0];
    assert_eq!(
        (s.messages, s.parts, s.bytes_removed, s.bytes_stored),
        (1, 1, 900, 900)
    );
    let second = idx.find_parts(&PartFilter::default()).unwrap()[0].message;
    idx.mark_reattached(second, None).unwrap();
    assert!(idx.stats().unwrap().is_empty());
}

/// Folders and accounts are listed in byte order, as SQLite compares text
/// (upper case before lower case), whatever the database's locale.
pub fn text_sorts_byte_by_byte(idx: &mut Index) {
    for (uid, folder) in [(1, "archive"), (2, "INBOX"), (3, "Échanges"), (4, "Zeta")] {
        let mut r = record(uid);
        r.folder = folder.into();
        finish(idx, &r);
    }
    let folders: Vec<String> = idx.stats().unwrap().into_iter().map(|s| s.folder).collect();
    assert_eq!(folders, ["INBOX", "Zeta", "archive", "Échanges"]);
}

pub fn removal_batches(idx: &mut Index) {
    let (a, b, c) = (
        idx.journal_begin(&record(1), b"x").unwrap(),
        idx.journal_begin(&record(2), b"x").unwrap(),
        idx.journal_begin(&record(3), b"x").unwrap(),
    );
    assert!(idx.journal_removal_batches("me").unwrap().is_empty());
    let first = idx.journal_removing(&[a, b]).unwrap();
    let second = idx.journal_removing(&[c]).unwrap();
    assert_eq!((first, second), (1, 2));
    let third = idx.journal_removing(&[b]).unwrap();
    let batches = idx.journal_removal_batches("me").unwrap();
    assert_eq!(
        batches,
        HashMap::from([(a, first), (b, third), (c, second)])
    );
    assert!(idx.journal_removal_batches("other").unwrap().is_empty());
    idx.journal_abandon(a).unwrap();
    assert_eq!(idx.journal_removal_batches("me").unwrap().len(), 2);
}

pub fn store_binding(idx: &mut Index) {
    assert_eq!(idx.bound_store().unwrap(), None);
    idx.bind_store("file:///srv/a").unwrap();
    idx.bind_store("file:///srv/a").unwrap();
    let err = idx.bind_store("file:///srv/b").unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("file:///srv/a"), "{err}");
    idx.rebind_store("file:///srv/b").unwrap();
    idx.bind_store("file:///srv/b").unwrap();
    assert_eq!(idx.bound_store().unwrap().as_deref(), Some("file:///srv/b"));
}

fn rebuilt_one(uid: u32) -> Rebuilt {
    let mut record = record(0);
    record.new_uid = Some(uid);
    record.message_id = Some(format!("m{uid}@x"));
    record.date = Some(1_700_000_000 + i64::from(uid));
    Rebuilt {
        record,
        processed_at: 1_800_000_000,
    }
}

pub fn rebuilt(idx: &mut Index) {
    let w = idx.add_rebuilt(&[rebuilt_one(3), rebuilt_one(4)]).unwrap();
    assert_eq!((w.messages, w.parts, w.known), (2, 2, 0));
    let listed = idx.find_parts(&Default::default()).unwrap();
    assert_eq!(listed[0].uid, Some(4), "newest first");
    let w = idx
        .add_rebuilt(&[rebuilt_one(3), rebuilt_one(4), rebuilt_one(5)])
        .unwrap();
    assert_eq!((w.messages, w.parts, w.known), (1, 1, 2));
    assert_eq!(idx.message_count().unwrap(), 3);
    let stats = idx.stats().unwrap();
    assert_eq!((stats[0].messages, stats[0].parts), (3, 3));
    let mut r = rebuilt_one(9).record;
    r.old_uid = 2;
    finish(idx, &r);
    let w = idx.add_rebuilt(&[rebuilt_one(9)]).unwrap();
    assert_eq!((w.messages, w.known), (0, 1));
}

pub fn last_success(idx: &mut Index) {
    assert_eq!(idx.last_success("a").unwrap(), None);
    idx.record_success("a", 100).unwrap();
    idx.record_success("b", 50).unwrap();
    idx.record_success("a", 200).unwrap();
    assert_eq!(idx.last_success("a").unwrap(), Some(200));
    assert_eq!(idx.last_success("b").unwrap(), Some(50));
}

pub fn compressed(idx: &mut Index) {
    finish(idx, &record(1));
    let s = &idx.stats().unwrap()[0];
    assert_eq!((s.bytes_stored, s.bytes_in_store), (900, 900));
    idx.note_compressed(&[]).unwrap();
    idx.note_compressed(&[("ab".repeat(32), 300)]).unwrap();
    let s = &idx.stats().unwrap()[0];
    assert_eq!((s.bytes_stored, s.bytes_in_store), (900, 300));
    assert_eq!(s.compression_ratio, 3.0);
    idx.note_compressed(&[("ab".repeat(32), 450)]).unwrap();
    assert_eq!(idx.stats().unwrap()[0].bytes_in_store, 450);
}

pub fn copies(idx: &mut Index) {
    let mut r = record(3);
    r.new_uid = Some(9);
    finish(idx, &r);
    let copies = idx.indexed_copies("me").unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        (copies[0].uid, copies[0].uidvalidity, copies[0].size),
        (Some(9), 7, 100)
    );
    assert!(idx.indexed_copies("b").unwrap().is_empty());
}

/// Rows come one at a time; a reader that stops early leaves the index
/// usable.
pub fn rows_stream(idx: &mut Index) {
    for uid in 1..=600 {
        finish(idx, &record(uid));
    }
    let (mut seen, mut sum) = (0, 0);
    let all = "SELECT id FROM messages ORDER BY id";
    idx.db
        .conn()
        .for_each(all, &[], |r| {
            seen += 1;
            sum += r.int(0)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, 600);
    let last = idx.last_message().unwrap();
    assert_eq!(sum, (last - 599..=last).sum::<i64>());
    let stop = idx.db.conn().for_each(all, &[], |_| {
        Err(super::IndexError::TargetNotEmpty { table: "stop" })
    });
    assert!(matches!(
        stop,
        Err(super::IndexError::TargetNotEmpty { table: "stop" })
    ));
    assert_eq!(idx.message_count().unwrap(), 600);
}

/// Fills `idx` with a bit of everything, for [`copy_between`].
pub fn fill(idx: &mut Index) {
    for uid in 1..=30u32 {
        let mut r = record(uid);
        r.folder = if uid % 3 == 0 { "INBOX" } else { "Sent" }.into();
        r.date = (uid % 7 != 0).then(|| 1_700_000_000 + i64::from(uid % 5) * 3600);
        r.parts[0].sha256 = format!("{:02x}", uid % 4).repeat(32);
        r.parts[0].raw_sha256 = (uid % 2 == 0).then(|| format!("{uid:02x}").repeat(32));
        r.parts.push(PartRecord {
            filename: format!("f{uid}.zip"),
            sha256: format!("{uid:02x}").repeat(32),
            ..r.parts[0].clone()
        });
        finish(idx, &r);
    }
    let reattached = idx.find_parts(&PartFilter::default()).unwrap()[5].message;
    idx.mark_reattached(reattached, Some(1234)).unwrap();
    let e = idx.journal_begin(&record(100), b"in flight").unwrap();
    idx.journal_set(e, JournalState::Appended, Some(101))
        .unwrap();
    idx.journal_removing(&[e]).unwrap();
    idx.record_skip("me", "Sent", 7, 55, "signed").unwrap();
    idx.record_success("me", 1_700_000_123).unwrap();
    idx.note_compressed(&[("01".repeat(32), 10)]).unwrap();
    idx.bind_store("file:///srv/store").unwrap();
    idx.hold("held", "it", "legal", 5).unwrap();
    idx.hold("released", "it", "", 6).unwrap();
    idx.release("released", "it", "done", 7).unwrap();
    idx.gc_note_candidates(&[("ee".repeat(32), 7, 70)], &[])
        .unwrap();
    idx.gc_note_totals(&super::GcTotals {
        at: 9,
        objects: 3,
        ..Default::default()
    })
    .unwrap();
}

/// Fills `source`, copies it into the empty `target`, and checks that the
/// two read the same; then that the target goes on with new row ids.
pub fn copy_between(source: &mut Index, target: &mut Index) {
    fill(source);
    let copied = source.copy_into(target).expect("copy_into");
    assert!(copied.contains(&("messages", 30)), "{copied:?}");
    let everything = PartFilter {
        include_reattached: true,
        ..Default::default()
    };
    assert_eq!(
        source.find_parts(&everything).unwrap(),
        target.find_parts(&everything).unwrap()
    );
    assert_eq!(source.stats().unwrap(), target.stats().unwrap());
    assert_eq!(source.object_refs().unwrap(), target.object_refs().unwrap());
    let (a, b) = (
        source.journal_pending("me").unwrap(),
        target.journal_pending("me").unwrap(),
    );
    assert_eq!(
        a.iter()
            .map(|e| (e.id, e.state, e.new_uid, &e.rewritten))
            .collect::<Vec<_>>(),
        b.iter()
            .map(|e| (e.id, e.state, e.new_uid, &e.rewritten))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        source.journal_removal_batches("me").unwrap(),
        target.journal_removal_batches("me").unwrap()
    );
    assert_eq!(
        target.skipped_uids("me", "Sent", 7).unwrap(),
        [55].into_iter().collect()
    );
    assert_eq!(target.last_success("me").unwrap(), Some(1_700_000_123));
    assert_eq!(
        target.bound_store().unwrap().as_deref(),
        Some("file:///srv/store")
    );
    assert_eq!(
        target.last_message().unwrap(),
        source.last_message().unwrap()
    );
    assert_eq!(source.holds().unwrap(), target.holds().unwrap());
    assert_eq!(
        source.hold_events(None).unwrap(),
        target.hold_events(None).unwrap()
    );
    assert_eq!(target.hold_events(None).unwrap().len(), 3);
    assert_eq!(
        source.gc_candidates().unwrap(),
        target.gc_candidates().unwrap()
    );
    assert_eq!(
        source.store_totals().unwrap(),
        target.store_totals().unwrap()
    );
    // Not into an index that has rows.
    let err = source.copy_into(target).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    // New rows get new ids after the copied ones.
    let before = target.last_message().unwrap();
    assert!(finish(target, &record(200)) > before);
    let j = target.journal_begin(&record(201), b"x").unwrap();
    assert!(j > a.last().map_or(0, |e| e.id));
}

/// Notes `rows` as compressed objects in one transaction, calling `cut`
/// between its first and its second statement (where a test breaks the
/// connection): the transaction must fail as a whole.
pub fn cut_transaction(
    idx: &mut Index,
    rows: [(&str, u64); 2],
    cut: impl FnOnce(),
) -> Result<(), super::IndexError> {
    let sql = "INSERT INTO compressed_objects (sha256, stored_size) VALUES ($1, $2)
               ON CONFLICT (sha256) DO UPDATE SET stored_size = excluded.stored_size";
    idx.db.transaction(super::db::TxKind::Deferred, |c| {
        c.execute(sql, params![rows[0].0, rows[0].1])?;
        cut();
        c.execute(sql, params![rows[1].0, rows[1].1])?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue22_every_check_passes_on_sqlite() {
        for (name, check) in ALL {
            eprintln!("check {name}");
            check(&mut Index::open_in_memory().unwrap());
        }
    }

    #[test]
    fn issue22_copy_between_two_sqlite_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = Index::open(&dir.path().join("a.sqlite")).unwrap();
        let mut target = Index::open(&dir.path().join("b.sqlite")).unwrap();
        copy_between(&mut source, &mut target);
    }
}
