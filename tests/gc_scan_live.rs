//! Issue 23, gc as the index keeps it: gc's scans of the whole index stay
//! bounded on PostgreSQL (keyset batches by part id, on a private
//! PostgreSQL), and a deletion an earlier gc left half done is finished.

mod support;

use sha2::{Digest, Sha256};
use support::mailbox;
use support::pg::Pg;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// gc's scan of every part on PostgreSQL goes in batches by part id: all
/// of 25,001 parts (more than two batches, ids with gaps) are seen once,
/// each with its message.
#[test]
fn issue23_every_part_is_read_in_batches_on_postgres() {
    let pg = Pg::start();
    let target = slimbox::index::PgTarget {
        url: pg.url.clone(),
        password: Some(pg.password.clone()),
        ca_file: Some(pg.ca.clone()),
    };
    let index = slimbox::index::Index::open_postgres(&target).expect("open");
    pg.psql(
        "INSERT INTO messages (id, account, folder, uidvalidity, old_uid, internal_date, flags,
                               size_before, size_after, processed_at)
              SELECT i, 'a' || (i % 3), 'Sent', 1, i, 'x', '', 1, 1, 1
                FROM generate_series(1, 100) i;
         INSERT INTO parts (id, message, sha256, size, filename, content_type, part_path)
              SELECT 3 * i, 1 + i % 100, lpad(to_hex(i), 64, '0'), 1, 'f', 'a/b', '2'
                FROM generate_series(1, 25001) i;",
    );
    let mut seen = std::collections::HashMap::new();
    index
        .for_each_part(&mut |p| {
            let n: i64 = i64::from_str_radix(&p.sha256, 16).unwrap();
            assert_eq!(p.message, 1 + n % 100, "{p:?}");
            assert_eq!(p.account, format!("a{}", p.message % 3));
            *seen.entry(n).or_insert(0) += 1;
        })
        .unwrap();
    assert_eq!(seen.len(), 25_001);
    assert!(seen.values().all(|c| *c == 1), "each part once");
}

/// A gc or erase that stopped after writing its intent: the next gc
/// finishes the deletion (object and readable copy); what a row names
/// again meanwhile is kept. Also: `erase` wants `--yes`, `hold` a known
/// account.
#[test]
fn issue23_an_interrupted_deletion_is_finished_by_the_next_gc() {
    let dir = tempfile::tempdir().unwrap();
    let config = support::cli::write_offline_config(
        dir.path(),
        &support::cli::local_store(dir.path()),
        "",
        &support::cli::closed_account("alice", "alice", support::cli::PASSWORD_LOGIN),
    );
    let a = mailbox::noise(5000, 91);
    let b = mailbox::noise(5000, 93);
    rt().block_on(async {
        let store =
            slimbox::store::Store::open(dir.path().join("store").to_str().unwrap()).unwrap();
        for d in [&a, &b] {
            let h = slimbox::store::sha256(d);
            store
                .put(&h, d.clone().into(), slimbox::store::PutOptions::new())
                .await
                .unwrap();
        }
    });
    let copy = dir.path().join("store/files/alice/2024/02/a.bin");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::write(&copy, &a).unwrap();
    {
        let mut index = slimbox::index::Index::open(&dir.path().join("index.sqlite")).unwrap();
        let del = |d: &[u8]| slimbox::index::Deletion {
            sha256: hex(d),
            size: 5000,
            stored_size: 5000,
        };
        let chosen = index.gc_begin(&[del(&a), del(&b)], &[], "gc", 1).unwrap();
        assert_eq!(chosen.len(), 2);
    }
    let out = mailbox::slimbox(&config)
        .args(["store", "gc"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("finished 2 deletion(s)"), "{text}");
    // alice's server is unreachable: said, and gc exits 1.
    assert!(
        !out.status.success() && text.contains("not read: alice"),
        "{text}"
    );
    let left = std::fs::read_dir(dir.path().join("store/sha256"))
        .unwrap()
        .count();
    let files: usize = std::fs::read_dir(dir.path().join("store/sha256"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(files, 0, "{left} folders, objects left");
    assert!(!copy.exists(), "the readable copy went with its object");

    let out = mailbox::slimbox(&config)
        .args(["erase", "--account", "alice"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("--yes"), "{said}");
    let out = mailbox::slimbox(&config)
        .args(["hold", "alcie"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("alcie"), "{said}");
}
