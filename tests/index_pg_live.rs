//! The index on a real PostgreSQL (issue 22): the same checks the SQLite
//! index passes (`slimbox::index::checks`), copying between the two kinds,
//! migrating once under many openers, coming back after the database
//! restarts, and TLS verified against `ca_file`.

mod support;

use slimbox::index::{checks, Index, IndexError, PgTarget};
use support::pg::Pg;

/// A new, empty database `db` on `pg`, reached over verified TLS.
fn new_database(pg: &Pg, db: &str) -> PgTarget {
    pg.psql(&format!("CREATE DATABASE {db} OWNER slimbox"));
    PgTarget {
        url: url_of(pg, db, ""),
        password: Some(pg.password.clone()),
        ca_file: Some(pg.ca.clone()),
    }
}

/// The cluster's own database `slimbox`, which `Pg::psql` looks into.
fn main_database(pg: &Pg) -> PgTarget {
    PgTarget {
        url: pg.url.clone(),
        password: Some(pg.password.clone()),
        ca_file: Some(pg.ca.clone()),
    }
}

/// `pg.url` with the database `db` and the query `query`.
fn url_of(pg: &Pg, db: &str, query: &str) -> String {
    let (server, _) = pg.url.rsplit_once('/').expect("a url with a database");
    format!("{server}/{db}{query}")
}

fn open(target: &PgTarget) -> Index {
    Index::open_postgres(target).unwrap_or_else(|e| panic!("open_postgres: {e}"))
}

#[test]
fn issue22_every_index_check_passes_on_postgres() {
    let pg = Pg::start();
    for (i, (name, check)) in checks::ALL.iter().enumerate() {
        eprintln!("check {name}");
        let mut idx = open(&new_database(&pg, &format!("check{i}")));
        assert!(idx.is_postgres());
        check(&mut idx);
    }
}

#[test]
fn issue22_an_index_copies_from_sqlite_to_postgres_and_back() {
    let pg = Pg::start();
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = Index::open(&dir.path().join("index.sqlite")).unwrap();
    let mut postgres = open(&new_database(&pg, "copied"));
    checks::copy_between(&mut sqlite, &mut postgres);

    let mut from_pg = open(&new_database(&pg, "source"));
    let mut back = Index::open(&dir.path().join("back.sqlite")).unwrap();
    checks::copy_between(&mut from_pg, &mut back);
}

#[test]
fn issue22_a_new_database_opened_by_many_at_once_is_migrated_once() {
    let pg = Pg::start();
    let target = main_database(&pg);
    let start = std::sync::Arc::new(std::sync::Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (start, target) = (start.clone(), target.clone());
            std::thread::spawn(move || {
                start.wait();
                Index::open_postgres(&target)
                    .and_then(|idx| idx.schema_version())
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let versions: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let known = open(&target).schema_version().unwrap();
    assert!(known >= 7);
    assert!(versions.iter().all(|v| v == &Ok(known)), "{versions:?}");
    assert_eq!(
        pg.psql("SELECT version FROM slimbox_schema"),
        known.to_string()
    );
    // A database from a newer slimbox is refused, as a SQLite file is.
    pg.psql("UPDATE slimbox_schema SET version = 999");
    let err = Index::open_postgres(&target).err().expect("refused");
    assert!(
        matches!(err, IndexError::TooNew { found: 999, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(&pg.password), "{err}");
}

#[test]
fn issue22_the_index_reconnects_after_the_database_restarts() {
    let mut pg = Pg::start();
    let target = new_database(&pg, "restarts");
    let idx = open(&target);
    idx.record_success("a", 1).unwrap();
    pg.restart();
    // The next call after a restart works, on a new connection.
    idx.record_success("a", 2).unwrap();
    assert_eq!(idx.last_success("a").unwrap(), Some(2));
    // While the database is away, calls fail as transient (retry later)...
    pg.stop();
    let err = idx.last_success("a").unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    // ...and work again once it is back.
    pg.restart();
    assert_eq!(idx.last_success("a").unwrap(), Some(2));
}

#[test]
fn issue22_a_transaction_cut_by_a_lost_connection_is_not_applied() {
    let pg = Pg::start();
    let target = main_database(&pg);
    let mut idx = open(&target);
    let rec = checks::record(1);
    let id = idx.journal_begin(&rec, b"x").unwrap();
    // Every session of the index's role is cut, as when the database host
    // fails over, just before the transaction starts.
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'slimbox'");
    // The first call notices and reconnects (nothing was in flight).
    idx.journal_finish(id, &rec).unwrap();
    assert_eq!(idx.message_count().unwrap(), 1);
    // Cut in the middle of a transaction: the whole of it fails, transient,
    // and none of it is applied (not even on the next connection).
    let id = idx.journal_begin(&checks::record(2), b"x").unwrap();
    let (a, b) = ("ab".repeat(32), "cd".repeat(32));
    let err = checks::cut_transaction(&mut idx, [(&a, 300), (&b, 1)], || {
        pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'slimbox'");
    })
    .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, IndexError::Lost { .. }), "{err:?}");
    assert_eq!(
        idx.stats().unwrap()[0].bytes_in_store,
        900,
        "nothing of it applied"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM compressed_objects"), "0");
    idx.journal_finish(id, &checks::record(2)).unwrap();
    assert_eq!(idx.message_count().unwrap(), 2);
}

#[test]
fn issue22_tls_is_verified_against_ca_file() {
    let pg = Pg::start();
    pg.psql("CREATE DATABASE tls OWNER slimbox");
    let with = |query: &str, ca: bool| PgTarget {
        url: url_of(&pg, "tls", query),
        password: Some(pg.password.clone()),
        ca_file: ca.then(|| pg.ca.clone()),
    };
    let verified = open(&with("?sslmode=verify-full", true));
    verified.record_success("a", 1).unwrap();
    open(&with("", true)).record_success("a", 2).unwrap();
    let ssl = "SELECT string_agg(s.ssl::text, ',' ORDER BY s.ssl) FROM pg_stat_ssl s
                 JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'tls'";
    assert_eq!(pg.psql(ssl), "true");
    for query in ["?sslmode=verify-full", "", "?sslmode=require"] {
        let err = Index::open_postgres(&with(query, false))
            .err()
            .expect("an unknown certificate is refused");
        assert!(matches!(err, IndexError::Tls { .. }), "{query}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("ca_file") && text.contains("127.0.0.1"),
            "{text}"
        );
        assert!(!err.is_transient());
    }
    // Plain TCP only when asked for.
    let idx = open(&with("?sslmode=disable", false));
    assert_eq!(idx.last_success("a").unwrap(), Some(2));
    assert_eq!(pg.psql(ssl), "false,true");
    drop(verified);
}

#[test]
fn issue22_a_wrong_password_or_an_absent_server_is_reported_with_the_host() {
    let pg = Pg::start();
    let mut target = new_database(&pg, "login");
    target.password = Some("wrong".into());
    let err = Index::open_postgres(&target).err().expect("refused");
    assert!(matches!(err, IndexError::Connect { .. }), "{err:?}");
    assert!(
        !err.is_transient(),
        "a refused login does not heal: {err:?}"
    );
    assert!(err.to_string().contains("127.0.0.1"), "{err}");

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let away = PgTarget {
        url: format!("postgres://slimbox@127.0.0.1:{port}/slimbox"),
        ..target
    };
    let err = Index::open_postgres(&away).err().expect("nobody there");
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn issue22_workers_sharing_objects_write_at_once_without_deadlock() {
    let pg = Pg::start();
    let target = main_database(&pg);
    open(&target);
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let workers: Vec<_> = (0..4u32)
        .map(|w| {
            let (start, target) = (start.clone(), target.clone());
            std::thread::spawn(move || {
                let mut idx = Index::open_postgres(&target).expect("open");
                start.wait();
                let (mut batches, mut entries) = (Vec::new(), Vec::new());
                for uid in 1..=40u32 {
                    // Every worker's messages carry the same two files, in
                    // either order.
                    let mut r = checks::record(uid);
                    r.account = format!("worker{w}");
                    let mut second = r.parts[0].clone();
                    second.sha256 = "cd".repeat(32);
                    if (uid + w) % 2 == 0 {
                        r.parts.insert(0, second);
                    } else {
                        r.parts.push(second);
                    }
                    let id = idx.journal_begin(&r, b"x").expect("begin");
                    batches.push(idx.journal_removing(&[id]).expect("removing"));
                    entries.push((id, r));
                }
                for (id, r) in &entries {
                    idx.journal_finish(*id, r).expect("finish");
                }
                batches
            })
        })
        .collect();
    let mut batches: Vec<i64> = workers
        .into_iter()
        .flat_map(|t| t.join().expect("worker"))
        .collect();
    let idx = open(&target);
    assert_eq!(idx.message_count().unwrap(), 160);
    let refs = idx.object_refs().unwrap();
    assert_eq!(refs.len(), 2);
    assert!(refs.iter().all(|o| o.users.len() == 160), "{refs:?}");
    assert_eq!(
        pg.psql("SELECT string_agg(refs::text, ',') FROM objects"),
        "160,160"
    );
    // Removal batches in flight at the same time have numbers of their
    // own across all processes.
    batches.sort_unstable();
    batches.dedup();
    assert_eq!(batches.len(), 160);
    let stats = idx.stats().unwrap();
    assert_eq!(stats.len(), 4);
    assert!(stats.iter().all(|s| s.parts == 80 && s.messages == 40));
}
