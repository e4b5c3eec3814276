use super::*;

use super::checks::record;

#[test]
fn migrations_bring_a_new_index_to_the_latest_version() {
    let idx = Index::open_in_memory().unwrap();
    assert_eq!(
        idx.schema_version().unwrap(),
        schema::MIGRATIONS.len() as i64
    );
}

#[test]
fn reopening_a_file_index_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/index.sqlite");
    {
        let mut idx = Index::open(&p).unwrap();
        let id = idx.journal_begin(&record(1), b"stub").unwrap();
        idx.journal_finish(id, &record(1)).unwrap();
    }
    let idx = Index::open(&p).unwrap();
    assert_eq!(idx.message_count().unwrap(), 1);
}

#[test]
fn journal_moves_through_its_states_and_finishes_into_the_index() {
    let mut idx = Index::open_in_memory().unwrap();
    let id = idx.journal_begin(&record(5), b"rewritten").unwrap();
    let p = idx.journal_pending("me").unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].state, JournalState::Prepared);
    assert_eq!(p[0].rewritten, b"rewritten");
    idx.journal_set(id, JournalState::Appended, Some(42))
        .unwrap();
    let p = idx.journal_pending("me").unwrap();
    assert_eq!(
        (p[0].state, p[0].new_uid),
        (JournalState::Appended, Some(42))
    );
    let mut r = record(5);
    r.new_uid = Some(42);
    idx.journal_finish(id, &r).unwrap();
    assert!(idx.journal_pending("me").unwrap().is_empty());
    assert_eq!(idx.message_count().unwrap(), 1);
    assert!(idx.find_by_message_id("m5@x").unwrap().is_some());
    // A second message with the same object counts a second reference.
    let id2 = idx.journal_begin(&record(6), b"x").unwrap();
    idx.journal_finish(id2, &record(6)).unwrap();
    let refs: i64 = idx
        .connection()
        .query_row("SELECT refs FROM objects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(refs, 2);
}

#[test]
fn skips_are_remembered_per_uidvalidity() {
    let idx = Index::open_in_memory().unwrap();
    idx.record_skip("me", "Sent", 7, 3, "signed").unwrap();
    idx.record_skip("me", "Sent", 7, 3, "signed").unwrap();
    assert!(idx.skipped_uids("me", "Sent", 7).unwrap().contains(&3));
    assert!(idx.skipped_uids("me", "Sent", 8).unwrap().is_empty());
}

#[test]
fn parts_are_found_by_every_filter() {
    let mut idx = Index::open_in_memory().unwrap();
    for uid in 1..=3u32 {
        let mut r = record(uid);
        r.date = Some(1_700_000_000 + uid as i64 * 86_400);
        r.parts[0].filename = format!("file{uid}.pdf");
        r.parts[0].sha256 = format!("{uid:02x}").repeat(32);
        r.parts[0].size = uid as u64 * 1000;
        r.from = Some(format!("sender{uid}@example.com"));
        let id = idx.journal_begin(&r, b"x").unwrap();
        idx.journal_finish(id, &r).unwrap();
    }
    let all = idx.find_parts(&PartFilter::default()).unwrap();
    assert_eq!(
        all.iter().map(|p| p.filename.as_str()).collect::<Vec<_>>(),
        ["file3.pdf", "file2.pdf", "file1.pdf"],
        "newest first"
    );
    let f = |f: PartFilter| idx.find_parts(&f).unwrap().len();
    assert_eq!(
        f(PartFilter {
            sha256_prefix: Some("0202".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        f(PartFilter {
            message_id: Some("<m1@x>".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        f(PartFilter {
            name_glob: Some("file[12].*".into()),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        f(PartFilter {
            larger: Some(2000),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        f(PartFilter {
            since: Some(1_700_000_000 + 2 * 86_400),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        f(PartFilter {
            until: Some(1_700_000_000 + 2 * 86_400),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        f(PartFilter {
            from: Some("sender3".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        f(PartFilter {
            account: Some("other".into()),
            ..Default::default()
        }),
        0
    );
    let stats = idx.stats().unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].messages, 3);
    assert_eq!(stats[0].bytes_removed, 3 * 900);
    assert_eq!(stats[0].bytes_stored, 6000);
    let refs = idx.object_refs().unwrap();
    assert_eq!(refs.len(), 3);
    idx.mark_reattached(all[0].message, Some(99)).unwrap();
    assert_eq!(f(PartFilter::default()), 2);
}

#[test]
fn stats_totals_follow_inserts_and_reattach() {
    let mut idx = Index::open_in_memory().unwrap();
    for uid in 1..=2u32 {
        // Same object in both messages: stored once.
        let r = record(uid);
        let id = idx.journal_begin(&r, b"x").unwrap();
        idx.journal_finish(id, &r).unwrap();
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
    idx.mark_reattached(
        idx.find_parts(&PartFilter::default()).unwrap()[0].message,
        None,
    )
    .unwrap();
    assert!(idx.stats().unwrap().is_empty());
}

#[test]
fn migration_3_backfills_totals_from_existing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index.sqlite");
    {
        let mut idx = Index::open(&p).unwrap();
        let r = record(1);
        let id = idx.journal_begin(&r, b"x").unwrap();
        idx.journal_finish(id, &r).unwrap();
        // Pretend the database predates migration 3.
        idx.connection()
            .execute_batch(
                "DROP TRIGGER messages_totals; DROP TRIGGER parts_totals;
                 DROP TRIGGER messages_reattached_totals;
                 DROP TABLE folder_totals; DROP TABLE folder_objects;
                 PRAGMA user_version = 2;",
            )
            .unwrap();
    }
    let idx = Index::open(&p).unwrap();
    let s = &idx.stats().unwrap()[0];
    assert_eq!(
        (s.messages, s.parts, s.bytes_removed, s.bytes_stored),
        (1, 1, 900, 900)
    );
}

/// Opens one new index file from `n` threads at once; each returns the
/// schema version it saw, or its error.
fn open_at_once(path: &std::path::Path, n: usize) -> Vec<Result<i64, String>> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (start, path) = (start.clone(), path.to_path_buf());
            std::thread::spawn(move || {
                start.wait();
                Index::open(&path)
                    .and_then(|idx| idx.schema_version())
                    .map_err(|e| format!("{e:?}"))
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect()
}

#[test]
fn issue9_a_new_index_opened_from_many_threads_at_once_is_migrated_once() {
    let known = schema::MIGRATIONS.len() as i64;
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("index.sqlite");
        for got in open_at_once(&path, 8) {
            assert_eq!(got, Ok(known), "round {round}");
        }
        let idx = Index::open(&path).unwrap();
        assert_eq!(idx.schema_version().unwrap(), known);
        idx.journal_begin(&record(1), b"x").unwrap();
    }
}

#[test]
fn issue11_stats_report_bytes_in_store_and_compression_ratio() {
    let mut idx = Index::open_in_memory().unwrap();
    let r = record(1);
    let id = idx.journal_begin(&r, b"x").unwrap();
    idx.journal_finish(id, &r).unwrap();
    let s = &idx.stats().unwrap()[0];
    assert_eq!((s.bytes_stored, s.bytes_in_store), (900, 900));
    assert_eq!(s.compression_ratio, 1.0);

    idx.note_compressed(&[("ab".repeat(32), 300)]).unwrap();
    let s = &idx.stats().unwrap()[0];
    assert_eq!((s.bytes_stored, s.bytes_in_store), (900, 300));
    assert_eq!(s.compression_ratio, 3.0);
    // Noted again (another run wrote it anew): the latest size counts.
    idx.note_compressed(&[("ab".repeat(32), 450)]).unwrap();
    assert_eq!(idx.stats().unwrap()[0].bytes_in_store, 450);
}

#[cfg(unix)]
#[test]
fn issue20_the_index_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/index.sqlite");
    let idx = Index::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("new")), 0o700);
    let wal = dir.path().join("new/index.sqlite-wal");
    if wal.exists() {
        assert_eq!(
            mode(&wal),
            0o600,
            "SQLite gives the WAL the database's mode"
        );
    }
    drop(idx);
    // An index an older slimbox left readable by others is closed.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Index::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}
