//! issue 11, compression on a real run on Dovecot: with `[store] compress
//! = "zstd"`, text-like attachments are stored compressed and everything
//! that reads objects gets the exact originals back: `run` → `verify
//! --read-data` → `restore` → `reattach`, byte for byte; a stored `.zst`
//! attachment restores as itself; a damaged compressed object is caught by
//! `verify --read-data`; `stats` shows the stored bytes against the raw.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::Digest;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox::{self, slimbox};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("run slimbox");
    assert!(out.status.success(), "slimbox failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// CSV rows: what an accounting export looks like.
fn csv(len: usize) -> Vec<u8> {
    let mut out = b"id,date,customer,amount,currency,status\r\n".to_vec();
    let mut i = 0u64;
    while out.len() < len {
        let row = format!(
            "{i},2024-{:02}-{:02},customer-{},{}.{:02},EUR,{}\r\n",
            i % 12 + 1,
            i % 28 + 1,
            (i * 7919) % 1000,
            (i * 104_729) % 100_000,
            i % 100,
            ["paid", "open", "overdue"][(i % 3) as usize]
        );
        out.extend_from_slice(row.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// A server log.
fn log(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < len {
        let line = format!(
            "2024-02-01T10:{:02}:{:02}.{:03}Z INFO worker-{} request id={} path=/api/v1/items/{} status={} took={}ms\r\n",
            (i / 60) % 60,
            i % 60,
            (i * 37) % 1000,
            i % 8,
            i * 2_654_435_761 % 1_000_000_007,
            (i * 31) % 5000,
            [200, 200, 200, 404, 500][(i % 5) as usize],
            (i * 13) % 900
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// A PDF with uncompressed content streams (as many generators write).
fn pdf(len: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".to_vec();
    let mut i = 0u64;
    while out.len() < len {
        let s = format!(
            "{} 0 obj << /Length 88 >> stream\nBT /F1 10 Tf 72 {} Td (Line {i} of the quarterly report, figures in EUR) Tj ET\nendstream endobj\r\n",
            i + 3,
            720 - (i % 60) * 12
        );
        out.extend_from_slice(s.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn with_store_line(config: &Path, line: &str) {
    let t = std::fs::read_to_string(config).expect("config");
    let t = t.replacen("[index]", &format!("{line}\n[index]"), 1);
    std::fs::write(config, t).expect("config");
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for fan in std::fs::read_dir(dir.join("sha256")).expect("store") {
        for f in std::fs::read_dir(fan.expect("fan").path()).expect("fan dir") {
            let p = f.expect("file").path();
            if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn issue11_compressed_store_round_trips_on_dovecot() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = mailbox::write_config(&d, dir.path(), "100KiB");
    with_store_line(&config, "compress = \"zstd\"");
    let store = dir.path().join("store");

    let zst_attachment = zstd::bulk::compress(&csv(600_000), 3).expect("zstd");
    assert!(
        zst_attachment.len() > 100 * 1024,
        "{}",
        zst_attachment.len()
    );
    let attachments: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        ("csv", "ledger.csv", "text/csv", csv(800_000)),
        ("log", "server.log", "text/plain", log(700_000)),
        ("pdf", "report.pdf", "application/pdf", pdf(500_000)),
        ("zst", "ledger.csv.zst", "application/zstd", zst_attachment),
        ("jpg", "photo.jpg", "image/jpeg", {
            let mut j = b"\xff\xd8\xff\xe0\x00\x10JFIF".to_vec();
            j.extend(mailbox::noise(300_000, 5));
            j
        }),
    ];
    let originals: Vec<Vec<u8>> = attachments
        .iter()
        .map(|(id, name, ct, data)| mailbox::with_attachment(id, id, name, ct, data.clone()))
        .collect();
    rt().block_on(async {
        for m in &originals {
            mailbox::seed(&d, "Sent", m, &["\\Seen"], DATE).await;
        }
    });

    ok(slimbox(&config).arg("run"));
    let converted = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert_eq!(converted.len(), originals.len());
    assert!(converted
        .values()
        .all(|m| slimbox::mime::is_processed(&m.bytes)));

    // CSV, log and PDF are compressed; the .zst file and the JPEG are not.
    let hex = |data: &[u8]| hex::encode(sha2::Sha256::digest(data));
    let compressed = files(&store, ".zst");
    // (Besides the three, the quoted-printable bodies of the log and the
    // PDF are stored as they were encoded, and compress too.)
    for c in &compressed {
        let body = zstd::stream::decode_all(&std::fs::read(c).expect("read")[..]).expect("zstd");
        assert!(
            !slimbox::store::looks_compressed(&body),
            "{}: compressed data was compressed again",
            c.display()
        );
    }
    for (id, name, _, data) in &attachments {
        let h = hex(data);
        let plain = store.join("sha256").join(&h[..2]).join(&h);
        let packed = store.join("sha256").join(&h[..2]).join(format!("{h}.zst"));
        let want_packed = matches!(*id, "csv" | "log" | "pdf");
        assert_eq!(packed.exists(), want_packed, "{name}");
        assert_eq!(plain.exists(), !want_packed, "{name}");
    }

    // verify: sizes (the original's) and every byte read back.
    for extra in [&[][..], &["--read-data"][..]] {
        let out = slimbox(&config)
            .arg("verify")
            .args(extra)
            .output()
            .expect("verify");
        assert_eq!(
            out.status.code(),
            Some(0),
            "verify {extra:?}: {}",
            text(&out)
        );
        assert!(text(&out).contains("all is well"), "{}", text(&out));
    }

    // restore: every file byte-exact, the .zst attachment as itself.
    let out_dir = dir.path().join("out");
    ok(slimbox(&config)
        .args(["restore", "--from", "ada", "--to"])
        .arg(&out_dir));
    for (_, name, _, data) in &attachments {
        let got = std::fs::read(out_dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == *data, "{name} is not byte-exact");
    }

    // stats: stored bytes against raw bytes.
    let stats: serde_json::Value =
        serde_json::from_str(&ok(slimbox(&config).args(["stats", "--json"]))).expect("json");
    let row = &stats[0];
    let raw = row["bytes_stored"].as_u64().expect("bytes_stored");
    let in_store = row["bytes_in_store"].as_u64().expect("bytes_in_store");
    // What the attachments take on disk, in whichever form (stats count
    // the decoded attachments, not the encoded bodies kept beside them).
    let on_disk: u64 = attachments
        .iter()
        .map(|a| {
            let h = hex(&a.3);
            let fan = store.join("sha256").join(&h[..2]);
            std::fs::metadata(fan.join(format!("{h}.zst")))
                .or_else(|_| std::fs::metadata(fan.join(&h)))
                .expect("object")
                .len()
        })
        .sum();
    assert_eq!(in_store, on_disk, "stats agree with the store");
    let raw_sum: u64 = attachments.iter().map(|a| a.3.len() as u64).sum();
    assert_eq!(raw, raw_sum);
    assert!(in_store * 2 < raw, "{in_store} of {raw}");
    eprintln!(
        "issue11 figure: {raw} raw bytes stored as {in_store} ({:.2}x, {:.1} %)",
        row["compression_ratio"].as_f64().unwrap_or(0.0),
        in_store as f64 * 100.0 / raw as f64
    );
    for (_, name, _, data) in &attachments {
        let h = hex(data);
        let packed = store.join("sha256").join(&h[..2]).join(format!("{h}.zst"));
        if let Ok(m) = std::fs::metadata(&packed) {
            eprintln!(
                "issue11 figure: {name}: {} bytes stored as {}",
                data.len(),
                m.len()
            );
        }
    }
    ok(slimbox(&config).arg("stats"));

    // A lost index is rebuilt with what the store holds compressed: stats
    // say exactly what they said before.
    let stats_before = ok(slimbox(&config).args(["stats", "--json"]));
    for name in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }
    assert!(!dir.path().join("index.sqlite").exists());
    ok(slimbox(&config).args(["index", "rebuild"]));
    assert_eq!(
        ok(slimbox(&config).args(["stats", "--json"])),
        stats_before,
        "issue11: stats after index rebuild"
    );

    // A damaged compressed object is caught and named.
    let victim = &compressed[0];
    let good = std::fs::read(victim).expect("read");
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    std::fs::write(victim, &bad).expect("damage");
    let out = slimbox(&config)
        .args(["verify", "--read-data"])
        .output()
        .expect("verify");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let name = victim
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".zst", "");
    assert!(
        text(&out).contains(&name),
        "names the object: {}",
        text(&out)
    );
    assert!(text(&out).contains("corrupt"), "{}", text(&out));
    std::fs::write(victim, &good).expect("repair");

    // reattach: every original back, byte for byte.
    ok(slimbox(&config).args(["reattach", "--all"]));
    let back = rt().block_on(mailbox::snapshot(&d, "Sent"));
    let mut got: Vec<&Vec<u8>> = back.values().map(|m| &m.bytes).collect();
    let mut want: Vec<&Vec<u8>> = originals.iter().collect();
    got.sort();
    want.sort();
    assert!(got == want, "reattach is not byte-exact");
}
