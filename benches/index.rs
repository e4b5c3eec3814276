//! Index lookups at scale: an index of 1,000,000 detached parts (400,000
//! messages, 2.5 parts each on average, 2 accounts, 10 years of mail), then
//! the queries `list` and `restore` make: by full SHA-256, by an 8-digit
//! hash prefix, by Message-ID, by a file-name glob, by a one-month date
//! range (LIMIT 100), by size (--larger), by sender (--from), and `stats`.
//!
//! Run: `cargo bench --bench index`. Prints a table of the best of several
//! runs in milliseconds and each query's plan; asserts nothing about time.
//! `SLIMBOX_BENCH_MESSAGES=N` changes the number of messages;
//! `SLIMBOX_BENCH_DB=PATH` keeps the generated index there (reused when it
//! exists) to look at query plans with the sqlite3 shell.
//! `SLIMBOX_BENCH_PG=1` also copies the index into a private PostgreSQL
//! cluster (scripts/pg-harness, as `slimbox index migrate` does) and runs
//! the same queries there: a table of both side by side (issue 22).

use std::time::{Duration, Instant};

use rusqlite::params;
use slimbox::index::{Index, PartFilter};

const MESSAGES: usize = 400_000;
const RUNS: usize = 7;
/// 2015-01-01 00:00:00 UTC and ten years of mail from there.
const START: i64 = 1_420_070_400;
const SPAN: i64 = 10 * 365 * 86_400;
const ACCOUNTS: &[&str] = &["alice", "bob"];
const FOLDERS: &[&str] = &[
    "Sent",
    "Archive",
    "Archive/2019",
    "Archive/2021",
    "Projects",
];
const FIRST: &[&str] = &[
    "ada", "alan", "grace", "linus", "ken", "dennis", "barbara", "edsger", "donald", "margaret",
    "john", "tim", "radia", "frances", "niklaus", "guido", "bjarne", "james", "leslie", "tony",
];
const LAST: &[&str] = &[
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "thompson",
    "ritchie",
    "liskov",
    "dijkstra",
    "knuth",
    "hamilton",
    "mccarthy",
    "berners-lee",
    "perlman",
    "allen",
    "wirth",
    "rossum",
    "stroustrup",
    "gosling",
    "lamport",
    "hoare",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "mail.example.net",
    "corp.example",
    "university.example.edu",
    "gmail.example",
    "customer-42.example",
    "supplier.example.co.uk",
];
/// (name pattern, content type, typical size in bytes).
const FILES: &[(&str, &str, u64)] = &[
    ("report-{n}.pdf", "application/pdf", 900_000),
    ("invoice-{y}-{n}.pdf", "application/pdf", 250_000),
    ("IMG_{n}.JPG", "image/jpeg", 3_500_000),
    ("scan{n}.pdf", "application/pdf", 1_800_000),
    (
        "Q{q} results {y}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        600_000,
    ),
    (
        "presentation-{n}.pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        5_000_000,
    ),
    ("holiday-{n}.mp4", "video/mp4", 12_000_000),
    ("contract {n} signed.pdf", "application/pdf", 1_200_000),
    ("backup-{y}-{n}.zip", "application/zip", 8_000_000),
    ("Screenshot {y}-{n}.png", "image/png", 1_100_000),
];

/// A small reproducible generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn hex64(&mut self) -> String {
        let mut b = [0u8; 32];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        hex::encode(b)
    }
    /// Roughly log-normal around `typical` (from a tenth to ten times
    /// it), between 100 kB and 45 MB (what mail servers let through).
    fn size_around(&mut self, typical: u64) -> u64 {
        let f = (self.below(2001) as f64 - 1000.0) / 1000.0; // -1 ..= 1
        ((typical as f64) * 10f64.powf(f)).clamp(100_000.0, 45_000_000.0) as u64
    }
}

/// What the queries look for, remembered while generating.
struct Probes {
    sha256: String,
    message_id: String,
    sender_part: String,
    month_start: i64,
}

fn generate(index: &Index, messages: usize) -> Probes {
    let conn = index.connection();
    // A bench database: durability does not matter, speed of loading does.
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    conn.pragma_update(None, "cache_size", -262_144)
        .expect("pragma");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let senders: Vec<String> = (0..5_000)
        .map(|i| {
            format!(
                "{}.{}{}@{}",
                rng.pick(FIRST),
                rng.pick(LAST),
                if i % 3 == 0 {
                    String::new()
                } else {
                    (i % 97).to_string()
                },
                rng.pick(DOMAINS)
            )
        })
        .collect();
    let mut recent: Vec<(String, u64)> = Vec::new();
    let mut probes = Probes {
        sha256: String::new(),
        message_id: String::new(),
        sender_part: String::new(),
        month_start: START + 5 * 365 * 86_400,
    };
    let mut uids = std::collections::HashMap::new();
    let mut part_count = 0u64;
    conn.execute_batch("BEGIN").expect("begin");
    {
        let mut msg = conn
            .prepare(
                "INSERT INTO messages (account, folder, uidvalidity, old_uid, new_uid, message_id, date,
                   from_addr, to_addr, subject, internal_date, flags, size_before, size_after, processed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .expect("prepare");
        let mut part = conn
            .prepare(
                "INSERT INTO parts (message, sha256, size, filename, content_type, part_path, raw_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
            )
            .expect("prepare");
        let mut object = conn
            .prepare(
                "INSERT INTO objects (sha256, size, first_seen, refs) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1",
            )
            .expect("prepare");
        for i in 0..messages {
            if i > 0 && i % 50_000 == 0 {
                conn.execute_batch("COMMIT; BEGIN").expect("commit");
            }
            let account = *rng.pick(ACCOUNTS);
            let folder = *rng.pick(FOLDERS);
            let uid = uids.entry((account, folder)).or_insert(0u32);
            *uid += 1;
            let date = START + rng.below(SPAN as u64) as i64;
            let year = 2015 + (date - START) / (365 * 86_400);
            let message_id = format!("{:016x}.{i}@{}", rng.next(), rng.pick(DOMAINS));
            let from = rng.pick(&senders).clone();
            // 1 to 4 parts, 2.5 on average.
            let n_parts = 1 + rng.below(4) as usize;
            let mut total = 0u64;
            let mut these = Vec::with_capacity(n_parts);
            for p in 0..n_parts {
                let (pattern, ctype, typical) = *rng.pick(FILES);
                // One part in five is a file seen before (a forwarded
                // report, the same logo): the store keeps it once.
                let (sha, size) = if !recent.is_empty() && rng.below(5) == 0 {
                    rng.pick(&recent).clone()
                } else {
                    let s = (rng.hex64(), rng.size_around(typical));
                    if recent.len() < 10_000 {
                        recent.push(s.clone());
                    } else {
                        let k = rng.below(10_000) as usize;
                        recent[k] = s.clone();
                    }
                    s
                };
                let name = pattern
                    .replace("{n}", &rng.below(5_000).to_string())
                    .replace("{y}", &year.to_string())
                    .replace("{q}", &(1 + rng.below(4)).to_string());
                total += size * 4 / 3;
                these.push((sha, size, name, ctype, (p + 2).to_string()));
            }
            msg.execute(params![
                account,
                folder,
                1_700_000_000u32,
                *uid,
                *uid + 1_000_000,
                message_id,
                date,
                from,
                "bob@example.com",
                format!("Re: project {} update", rng.below(10_000)),
                "01-Feb-2024 10:00:00 +0100",
                "\\Seen",
                (total + 20_000) as i64,
                (20_000 + 600 * n_parts) as i64,
                date + 86_400,
            ])
            .expect("insert message");
            let mid = conn.last_insert_rowid();
            for (sha, size, name, ctype, path) in &these {
                part.execute(params![mid, sha, *size as i64, name, ctype, path])
                    .expect("insert part");
                object
                    .execute(params![sha, *size as i64, date])
                    .expect("insert object");
                part_count += 1;
            }
            if i == messages / 2 {
                probes.sha256 = these[0].0.clone();
                probes.message_id = message_id.clone();
                probes.sender_part = from.split('@').next().unwrap_or("").to_string();
            }
        }
    }
    // No ANALYZE: a real index never gets one, so the planner works
    // without statistics here too.
    conn.execute_batch("COMMIT").expect("commit");
    println!("generated {messages} messages, {part_count} parts");
    probes
}

/// The probes of an index generated earlier: the middle message.
fn probes_of(index: &Index) -> Probes {
    index
        .connection()
        .query_row(
            "SELECT p.sha256, m.message_id, m.from_addr FROM messages m JOIN parts p ON p.message = m.id
              WHERE m.id = (SELECT MAX(id) / 2 + 1 FROM messages) ORDER BY p.id LIMIT 1",
            [],
            |r| {
                let from: String = r.get(2)?;
                Ok(Probes {
                    sha256: r.get(0)?,
                    message_id: r.get(1)?,
                    sender_part: from.split('@').next().unwrap_or("").to_string(),
                    month_start: START + 5 * 365 * 86_400,
                })
            },
        )
        .expect("an index made by this bench")
}

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let t = Instant::now();
    let mut out = f();
    let first = t.elapsed();
    let mut best = first;
    for _ in 1..RUNS {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed());
    }
    (first, best, out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let messages = std::env::var("SLIMBOX_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MESSAGES);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = std::env::var_os("SLIMBOX_BENCH_DB")
        .map_or_else(|| dir.path().join("index.sqlite"), std::path::PathBuf::from);
    let t = Instant::now();
    let reuse = path.exists();
    let index = Index::open(&path).expect("open index");
    let probes = if reuse {
        println!("reusing {}", path.display());
        probes_of(&index)
    } else {
        generate(&index, messages)
    };
    println!(
        "loaded in {:.1} s; database {:.0} MB",
        t.elapsed().as_secs_f64(),
        std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / 1e6
    );
    // Reopen as the commands do (full schema check, default pragmas).
    drop(index);
    let index = Index::open(&path).expect("reopen index");

    let restore = |f: PartFilter| PartFilter {
        include_reattached: true,
        ..f
    };
    let queries: Vec<(String, PartFilter)> = vec![
        (
            "restore <full sha256>".into(),
            restore(PartFilter {
                sha256_prefix: Some(probes.sha256.clone()),
                ..PartFilter::default()
            }),
        ),
        (
            format!("restore {}", &probes.sha256[..8]),
            restore(PartFilter {
                sha256_prefix: Some(probes.sha256[..8].to_string()),
                ..PartFilter::default()
            }),
        ),
        (
            "restore --message-id".into(),
            restore(PartFilter {
                message_id: Some(probes.message_id.clone()),
                ..PartFilter::default()
            }),
        ),
        (
            "list --name 'report-12*'".into(),
            PartFilter {
                name_glob: Some("report-12*".into()),
                ..PartFilter::default()
            },
        ),
        (
            "list --since/--until (1 month), LIMIT 100".into(),
            PartFilter {
                since: Some(probes.month_start),
                until: Some(probes.month_start + 30 * 86_400),
                limit: Some(100),
                ..PartFilter::default()
            },
        ),
        (
            "list --since/--until (1 month)".into(),
            PartFilter {
                since: Some(probes.month_start),
                until: Some(probes.month_start + 30 * 86_400),
                ..PartFilter::default()
            },
        ),
        (
            "list --larger 25MB".into(),
            PartFilter {
                larger: Some(25_000_000),
                ..PartFilter::default()
            },
        ),
        (
            "list --larger 25MB, LIMIT 100".into(),
            PartFilter {
                larger: Some(25_000_000),
                limit: Some(100),
                ..PartFilter::default()
            },
        ),
        (
            format!("list --from {}", probes.sender_part),
            PartFilter {
                from: Some(probes.sender_part.clone()),
                ..PartFilter::default()
            },
        ),
        (
            format!("list --from {}, LIMIT 100", probes.sender_part),
            PartFilter {
                from: Some(probes.sender_part.clone()),
                limit: Some(100),
                ..PartFilter::default()
            },
        ),
        (
            "list --account alice --name '*.mp4' --larger 10MB".into(),
            PartFilter {
                account: Some("alice".into()),
                name_glob: Some("*.mp4".into()),
                larger: Some(10_000_000),
                ..PartFilter::default()
            },
        ),
    ];

    let mut rows = run_queries(&index, &queries);
    rows.push(from_rewrite(&index, &probes));
    print_rows(&rows);
    if std::env::var_os("SLIMBOX_BENCH_PG").is_some() {
        postgres(&index, &queries, &rows);
    }
}

type Row = (String, usize, f64, f64);

/// The lookups of `list` and `restore`, `stats` and `verify`'s object
/// references, each timed best of [`RUNS`].
fn run_queries(index: &Index, queries: &[(String, PartFilter)]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for (label, filter) in queries {
        let (first, best, found) = best(|| index.find_parts(filter).expect("query"));
        rows.push((label.clone(), found.len(), ms(first), ms(best)));
    }
    let (first, best_stats, stats) = best(|| index.stats().expect("stats"));
    rows.push(("stats".into(), stats.len(), ms(first), ms(best_stats)));
    let (first, best_refs, refs) = best(|| index.object_refs().expect("object_refs"));
    rows.push((
        "object_refs (verify)".into(),
        refs.len(),
        ms(first),
        ms(best_refs),
    ));
    rows
}

/// The same --from lookup written another way, SQLite only.
fn from_rewrite(index: &Index, probes: &Probes) -> Row {
    // The same --from lookup with the LIKE in a subquery: the planner then
    // scans the small messages_from index instead of walking messages_date
    // row by row (the rewrite the report suggests for find_parts).
    let from_rewrite =
        "SELECT m.id, m.account, m.folder, m.uidvalidity, COALESCE(m.new_uid, m.old_uid), m.message_id,
                m.date, m.from_addr, m.subject, p.filename, p.content_type, p.size, p.sha256,
                p.part_path, m.reattached_at IS NOT NULL
           FROM parts p JOIN messages m ON m.id = p.message
          WHERE m.id IN (SELECT id FROM messages WHERE from_addr LIKE ?1) AND m.reattached_at IS NULL
          ORDER BY m.date DESC, m.id DESC, p.id";
    let (first, best_from, n) = best(|| {
        let mut st = index
            .connection()
            .prepare_cached(from_rewrite)
            .expect("prepare");
        let cols = st.column_count();
        st.query_map([format!("%{}%", probes.sender_part)], |r| {
            for i in 0..cols {
                let _ = r.get_ref(i)?;
            }
            Ok(())
        })
        .expect("query")
        .count()
    });
    (
        format!(
            "  (rewrite) --from {} via IN (SELECT ...)",
            probes.sender_part
        ),
        n,
        ms(first),
        ms(best_from),
    )
}

fn print_rows(rows: &[Row]) {
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(5);
    println!();
    println!(
        "{:<w$}  {:>8}  {:>10}  {:>10}",
        "query", "rows", "first ms", "best ms"
    );
    for (label, n, first, best) in rows {
        let flag = if *best > 100.0 { "  > 100 ms" } else { "" };
        println!("{label:<w$}  {n:>8}  {first:>10.2}  {best:>10.2}{flag}");
    }
    println!("(best of {RUNS} runs; 'first' includes a cold page cache only on the first query)");
}

/// Copies the index into a private PostgreSQL cluster and runs the same
/// queries there; prints both side by side.
fn postgres(index: &Index, queries: &[(String, PartFilter)], sqlite: &[Row]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let harness = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-harness");
    let out = std::process::Command::new(&harness)
        .arg("start")
        .arg(dir.path())
        .args(["--watch-pid", &std::process::id().to_string()])
        .output()
        .expect("run scripts/pg-harness");
    assert!(out.status.success(), "PostgreSQL did not start: {out:?}");
    let vars: std::collections::HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let target = slimbox::index::PgTarget {
        url: format!("{}?sslmode=verify-full", vars["PG_URL"]),
        password: Some(vars["PG_PASSWORD"].clone()),
        ca_file: Some(vars["PG_CA"].clone().into()),
    };
    let mut pg = Index::open_postgres(&target).expect("open the PostgreSQL index");
    let t = Instant::now();
    let copied = index.copy_into(&mut pg).expect("copy into PostgreSQL");
    println!(
        "\ncopied into PostgreSQL (index migrate) in {:.1} s: {copied:?}",
        t.elapsed().as_secs_f64()
    );
    // Statistics for the planner, as autovacuum would gather them soon.
    drop(pg);
    let out = std::process::Command::new(&harness)
        .arg("psql")
        .arg(dir.path())
        .args(["-c", "ANALYZE"])
        .output()
        .expect("psql");
    assert!(out.status.success(), "ANALYZE failed: {out:?}");
    let pg = Index::open_postgres(&target).expect("reopen the PostgreSQL index");
    let rows = run_queries(&pg, queries);
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(5);
    println!();
    println!(
        "{:<w$}  {:>8}  {:>12}  {:>14}",
        "query", "rows", "SQLite best", "PostgreSQL best"
    );
    for ((label, n, _, pg_best), (_, n_sqlite, _, sqlite_best)) in rows.iter().zip(sqlite) {
        assert_eq!(n, n_sqlite, "{label}: the same rows on both");
        println!("{label:<w$}  {n:>8}  {sqlite_best:>9.2} ms  {pg_best:>11.2} ms");
    }
    let _ = std::process::Command::new(&harness)
        .arg("stop")
        .arg(dir.path())
        .output();
}
