//! `slimbox eml detach` / `slimbox eml reattach` from the outside.

mod support;

use assert_cmd::prelude::*;
use predicates::prelude::*;
use std::path::Path;
use std::process::Command;
use support::cli::slimbox;

fn message(att_len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..att_len).map(|i| (i * 31 % 256) as u8).collect();
    let b64 = base64_simd::STANDARD.encode_to_string(&data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: a@example.com\r\nSubject: x\r\nMessage-ID: <cli@example.com>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// `slimbox eml CMD INPUT --store STORE`.
fn eml(cmd: &str, input: &Path, store: &Path) -> Command {
    let mut c = slimbox();
    c.args(["eml", cmd]).arg(input).arg("--store").arg(store);
    c
}

/// Detaches INPUT (attachments from 1000 bytes) into STORE, writing OUT.
fn detach_to(input: &Path, store: &Path, out: &Path) {
    eml("detach", input, store)
        .args(["--min-size", "1000", "--out"])
        .arg(out)
        .assert()
        .success();
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn detach_then_reattach_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let raw = message(200_000);
    let input = dir.path().join("in.eml");
    std::fs::write(&input, &raw).unwrap();
    let store = dir.path().join("store");
    let out = dir.path().join("out.eml");
    slimbox()
        .args(["eml", "detach"])
        .arg(&input)
        .arg("--store")
        .arg(&store)
        .args(["--min-size", "64KiB", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("detached 1 attachment"));
    let rewritten = std::fs::read(&out).unwrap();
    assert!(rewritten.len() < 5000);
    let objects = files_under(&store);
    assert_eq!(objects.len(), 1);
    let rel = objects[0]
        .strip_prefix(&store)
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(rel.starts_with("sha256/"), "{rel}");
    let back = slimbox()
        .args(["eml", "reattach"])
        .arg(&out)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(back.status.success());
    assert!(back.stdout == raw, "reattach differs");
}

#[test]
fn json_summary_lists_what_was_detached() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.eml");
    std::fs::write(&input, message(100_000)).unwrap();
    let out = slimbox()
        .args(["eml", "detach"])
        .arg(&input)
        .arg("--store")
        .arg(dir.path().join("s"))
        .args(["--min-size", "1000", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["untouched_reason"], serde_json::Value::Null);
    let d = &v["detached"][0];
    assert_eq!(d["size"], 100_000);
    assert_eq!(d["filename"], "a.pdf");
    assert_eq!(d["content_type"], "application/pdf");
    assert_eq!(d["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn untouched_message_is_written_unchanged_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let raw = message(1000);
    let input = dir.path().join("in.eml");
    std::fs::write(&input, &raw).unwrap();
    let out = slimbox()
        .args(["eml", "detach"])
        .arg(&input)
        .arg("--store")
        .arg(dir.path().join("s"))
        .args(["--min-size", "1 MiB"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == raw);
    assert!(String::from_utf8_lossy(&out.stderr).contains("left as it was"));
    let json = slimbox()
        .args(["eml", "detach"])
        .arg(&input)
        .arg("--store")
        .arg(dir.path().join("s"))
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["untouched_reason"]
        .as_str()
        .unwrap()
        .contains("no attachment"));
    assert_eq!(v["detached"].as_array().unwrap().len(), 0);
}

#[test]
fn bad_size_is_a_usage_error() {
    slimbox()
        .args([
            "eml",
            "detach",
            "x.eml",
            "--store",
            "s",
            "--min-size",
            "lots",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a size"));
}

#[test]
fn reattach_explains_missing_objects_and_unprocessed_mail() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.eml");
    std::fs::write(&input, message(100_000)).unwrap();
    let store = dir.path().join("s");
    let out = dir.path().join("out.eml");
    detach_to(&input, &store, &out);
    // Issue 8: a message slimbox never processed is not an error any more
    // (see issue8_reattach_writes_unprocessed_mail_unchanged); it is still
    // explained on stderr.
    eml("reattach", &input, &store)
        .assert()
        .success()
        .stderr(predicate::str::contains("not processed by slimbox"));
    for f in files_under(&store) {
        std::fs::remove_file(f).unwrap();
    }
    eml("reattach", &out, &store)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing"));
}

#[test]
fn issue8_reattach_writes_unprocessed_mail_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    // A folder of .eml files, one processed and one never processed, put
    // back in one loop: both come out as their originals, and every call
    // exits 0.
    let plain = message(1000);
    let big = message(100_000);
    let plain_in = dir.path().join("plain.eml");
    let big_in = dir.path().join("big.eml");
    std::fs::write(&plain_in, &plain).unwrap();
    std::fs::write(&big_in, &big).unwrap();
    let big_rw = dir.path().join("big.rw.eml");
    detach_to(&big_in, &store, &big_rw);
    for (input, original) in [(&plain_in, &plain), (&big_rw, &big)] {
        let out = dir.path().join("back.eml");
        eml("reattach", input, &store)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        assert!(
            &std::fs::read(&out).unwrap() == original,
            "{}",
            input.display()
        );
    }
    // On standard output too, with the reason on standard error; the store
    // need not even exist for a message that needs nothing from it.
    let out = eml("reattach", &plain_in, &dir.path().join("no-such-store"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == plain);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not processed by slimbox"), "{err}");
    assert!(err.contains("written unchanged"), "{err}");
}

/// A message with a text attachment of `len` bytes that compresses well.
fn text_message(len: usize) -> Vec<u8> {
    let mut csv = String::from("id,customer,amount\r\n");
    let mut i = 0;
    while csv.len() < len {
        csv.push_str(&format!("{i},customer-{},{}.00\r\n", i % 97, i * 7 % 1000));
        i += 1;
    }
    format!(
        "From: a@example.com\r\nSubject: ledger\r\nMessage-ID: <csv@example.com>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: text/csv; name=\"ledger.csv\"\r\nContent-Disposition: attachment; filename=\"ledger.csv\"\r\n\r\n{csv}\r\n--b--\r\n"
    )
    .into_bytes()
}

#[test]
fn issue11_eml_detach_compresses_as_the_config_says() {
    let dir = tempfile::tempdir().unwrap();
    let raw = text_message(300_000);
    let input = dir.path().join("in.eml");
    std::fs::write(&input, &raw).unwrap();
    let store = dir.path().join("store");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{}\"\ncompress = \"zstd\"\n\n[[account]]\nname = \"me\"\n\
             host = \"127.0.0.1\"\nuser = \"me\"\npassword_env = \"UNUSED\"\n",
            store.display()
        ),
    )
    .unwrap();
    let zst = |dir: &Path| -> Vec<std::path::PathBuf> {
        files_under(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".zst"))
            .collect()
    };

    // The store and its compression from the config.
    let out = dir.path().join("out.eml");
    slimbox()
        .arg("--config")
        .arg(&config)
        .args(["eml", "detach"])
        .arg(&input)
        .args(["--min-size", "1000", "--out"])
        .arg(&out)
        .assert()
        .success();
    let packed = zst(&store);
    assert_eq!(packed.len(), 1, "{:?}", files_under(&store));
    assert!(std::fs::metadata(&packed[0]).unwrap().len() < 100_000);
    let back = dir.path().join("back.eml");
    slimbox()
        .arg("--config")
        .arg(&config)
        .args(["eml", "reattach"])
        .arg(&out)
        .arg("--out")
        .arg(&back)
        .assert()
        .success();
    assert!(std::fs::read(&back).unwrap() == raw, "not byte-exact");

    // --store names another store; the config's compress still applies.
    let other = dir.path().join("other");
    slimbox()
        .arg("--config")
        .arg(&config)
        .args(["eml", "detach"])
        .arg(&input)
        .arg("--store")
        .arg(&other)
        .args(["--min-size", "1000", "--out"])
        .arg(dir.path().join("out2.eml"))
        .assert()
        .success();
    assert_eq!(zst(&other).len(), 1, "{:?}", files_under(&other));

    // --store alone reads no config and stores as it is.
    let plain = dir.path().join("plain");
    detach_to(&input, &plain, &dir.path().join("out3.eml"));
    assert!(zst(&plain).is_empty(), "{:?}", files_under(&plain));
    eml("reattach", &out, &plain)
        .arg("--out")
        .arg(&back)
        .assert()
        .success();
    assert!(std::fs::read(&back).unwrap() == raw, "not byte-exact");
}

#[test]
fn issue11_eml_without_store_or_config_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.eml");
    std::fs::write(&input, message(2000)).unwrap();
    slimbox()
        .env("SLIMBOX_CONFIG", dir.path().join("none.toml"))
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["eml", "detach"])
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--store"));
}

/// `eml detach` writes the note (the moved file, its link on a line of its
/// own) and an honest stub by default; `--no-note` leaves the note out and
/// `--entries original` writes Thunderbird's detached format. Every variant
/// reattaches byte for byte.
#[test]
fn issue19_eml_detach_note_and_entry_options() {
    let dir = tempfile::tempdir().unwrap();
    let raw = message(100_000);
    let input = dir.path().join("in.eml");
    std::fs::write(&input, &raw).unwrap();
    let store = dir.path().join("store");
    let variants: [&[&str]; 3] = [&[], &["--no-note"], &["--entries", "original"]];
    for (i, extra) in variants.iter().enumerate() {
        let out = dir.path().join(format!("out{i}.eml"));
        eml("detach", &input, &store)
            .args(["--min-size", "1000"])
            .args(*extra)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        let text = std::fs::read_to_string(&out).unwrap();
        let link = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Slimbox-Link: "))
            .expect("a link header")
            .to_string();
        assert!(link.starts_with("file://"), "{link}");
        let note = text.contains("X-Slimbox-Note: v=1");
        assert_eq!(note, *extra != ["--no-note"], "{extra:?}: {text}");
        if note {
            assert!(text.contains(&format!("\r\na.pdf (97.7 KiB)\r\n{link}\r\n")));
        }
        if *extra == ["--entries", "original"] {
            assert!(text.contains("Content-Type: application/pdf;\r\n name=\"a.pdf\""));
            assert!(text.contains(&format!("X-Mozilla-External-Attachment-URL: {link}\r\n")));
        } else {
            assert!(text.contains("name=\"a.pdf.detached.txt\""), "{text}");
            assert!(!text.contains("X-Mozilla"));
        }
        let back = eml("reattach", &out, &store).output().unwrap();
        assert!(back.status.success());
        assert!(back.stdout == raw, "{extra:?}: reattach differs");
    }
    eml("detach", &input, &store)
        .args(["--entries", "thunderbird"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("\"original\""));
}
