//! Every message of the shared corpus (real and malformed) survives
//! detach → reattach byte for byte at `--min-size 1`, and none panics.

use std::path::{Path, PathBuf};

use slimbox::mime::{detach, reattach, Policy, Sha256};
use slimbox::store::PutOptions;

fn corpus_dir() -> PathBuf {
    // $SLIMBOX_CORPUS for a checkout elsewhere (a git worktree).
    let dir = match std::env::var_os("SLIMBOX_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    assert!(
        dir.is_dir(),
        "the test corpus is missing at {}: check out shared/ beside the project",
        dir.display()
    );
    dir
}

fn messages(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read corpus dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            messages(&p, out);
        } else if p.extension().is_some_and(|x| x == "eml") {
            out.push(p);
        }
    }
}

#[test]
fn corpus_round_trips_byte_exact() {
    let mut files = Vec::new();
    messages(&corpus_dir(), &mut files);
    files.sort();
    assert!(
        files.len() >= 100,
        "only {} corpus messages found",
        files.len()
    );
    let policy = Policy {
        min_size: 1,
        now: 1_795_435_200,
        ..Policy::default()
    };
    let (mut rewritten, mut parts) = (0, 0);
    let mut reasons = Vec::new();
    for f in &files {
        let raw = std::fs::read(f).expect("read message");
        let d = detach(&raw, &policy);
        // What the pipeline runs first (it proves from the store instead of
        // inside the engine) must come to the same.
        assert!(
            slimbox::mime::detach_unproven(&raw, &policy).rewritten == d.rewritten,
            "{}: detach_unproven differs from detach",
            f.display()
        );
        match &d.rewritten {
            Some(rw) => {
                rewritten += 1;
                parts += d.parts.len();
                assert_rebuilds(f, rw, &d, &raw);
            }
            None => {
                let why = d.untouched_reason.clone().expect("untouched has a reason");
                reasons.push(format!("{}: {why}", f.display()));
            }
        }
    }
    eprintln!(
        "{} messages: {rewritten} rewritten ({parts} parts detached), {} untouched",
        files.len(),
        reasons.len()
    );
    for r in &reasons {
        eprintln!("  untouched {r}");
    }
    assert!(rewritten > 20, "too few corpus messages were rewritten");
}

/// `rw`, the rewritten `f`, rebuilds `raw` exactly from `d`'s objects.
fn assert_rebuilds(f: &Path, rw: &[u8], d: &slimbox::mime::Detached, raw: &[u8]) {
    let objects = |h: &Sha256| {
        d.objects
            .iter()
            .find(|o| &o.sha256 == h)
            .map(|o| &o.data[..])
    };
    let back =
        reattach(rw, &objects).unwrap_or_else(|e| panic!("{}: reattach failed: {e}", f.display()));
    assert!(back == raw, "{}: reattach is not byte-exact", f.display());
}

/// issue 11: the same round trip through a store that compresses: every
/// object stored as the pipeline stores it (by its part's declared type),
/// then each original rebuilt from a fresh handle on the store, which
/// knows nothing of which objects are compressed.
#[tokio::test]
async fn issue11_corpus_round_trips_through_a_compressing_store() {
    use slimbox::store::{Compression, Store};
    let mut files = Vec::new();
    messages(&corpus_dir(), &mut files);
    files.sort();
    assert!(files.len() >= 100, "only {} corpus messages", files.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_str().expect("utf-8").to_string();
    let store = Store::open(&root)
        .expect("store")
        .with_compression(Compression::Zstd { level: 3 });
    let policy = Policy {
        min_size: 1,
        now: 1_795_435_200,
        ..Policy::default()
    };
    let (mut rebuilt, mut compressed, mut raw_bytes, mut stored_bytes) = (0, 0, 0u64, 0u64);
    let mut kept = Vec::new();
    for f in &files {
        let raw = std::fs::read(f).expect("read message");
        let d = detach(&raw, &policy);
        let Some(rw) = &d.rewritten else { continue };
        for o in &d.objects {
            let ct = d
                .parts
                .iter()
                .find(|p| p.sha256 == o.sha256 || p.raw_sha256 == Some(o.sha256))
                .map(|p| p.content_type.as_str());
            let data = bytes::Bytes::copy_from_slice(&o.data);
            let put = store
                .put(
                    &o.sha256,
                    data,
                    PutOptions::new()
                        .compress_as(ct)
                        .checked_by_caller()
                        .unsynced(),
                )
                .await
                .unwrap_or_else(|e| panic!("{}: put failed: {e}", f.display()));
            if put.outcome == slimbox::store::PutOutcome::Stored {
                raw_bytes += o.data.len() as u64;
                stored_bytes += put.compressed_size.unwrap_or(o.data.len() as u64);
            }
            match put.compressed_size {
                Some(_) => compressed += 1,
                None => kept.push(ct.unwrap_or("-").to_string()),
            }
        }
        let fresh = Store::open(&root).expect("store");
        let back = slimbox::eml::rebuild(rw, &fresh)
            .await
            .unwrap_or_else(|e| panic!("{}: rebuild failed: {e}", f.display()));
        assert!(back == raw, "{}: rebuild is not byte-exact", f.display());
        rebuilt += 1;
    }
    kept.sort();
    kept.dedup();
    eprintln!(
        "{rebuilt} messages rebuilt; {compressed} objects compressed; new objects: {raw_bytes} \
         raw bytes, {stored_bytes} stored; kept plain: {kept:?}"
    );
    assert!(rebuilt > 20, "too few corpus messages were rewritten");
    assert!(compressed > 0, "nothing in the corpus was compressed");
}

/// issue 12: the same round trip with html stubs carrying signed links:
/// every rewritten message rebuilds byte for byte, the same messages are
/// rewritten as with text stubs, and the stubs read back as the same parts
/// (what the index rebuild relies on).
#[test]
fn issue12_corpus_round_trips_with_html_stubs_and_signed_links() {
    use slimbox::mime::{Links, SignedLinks, StubFormat};
    let mut files = Vec::new();
    messages(&corpus_dir(), &mut files);
    files.sort();
    assert!(files.len() >= 100, "only {} corpus messages", files.len());
    let text = Policy {
        min_size: 1,
        now: 1_795_435_200,
        ..Policy::default()
    };
    let html = Policy {
        stub_format: StubFormat::Html,
        links: Links::Signed(SignedLinks {
            secret: std::sync::Arc::new(slimbox::links::Secret::from_bytes(&[3u8; 32])),
            base: "https://files.example.com".into(),
            expires: None,
        }),
        ..text.clone()
    };
    let mut rewritten = 0;
    for f in &files {
        let raw = std::fs::read(f).expect("read message");
        let d = detach(&raw, &html);
        assert_eq!(
            d.rewritten.is_some(),
            detach(&raw, &text).rewritten.is_some(),
            "{}: html stubs change what is rewritten",
            f.display()
        );
        let Some(rw) = &d.rewritten else { continue };
        rewritten += 1;
        assert_rebuilds(f, rw, &d, &raw);
        let c = slimbox::mime::read_converted(rw)
            .unwrap_or_else(|e| panic!("{}: read back failed: {e}", f.display()));
        assert_eq!(c.parts, d.parts, "{}", f.display());
        assert!(d
            .parts
            .iter()
            .all(|p| p.link.starts_with("https://files.example.com/f/")));
    }
    assert!(rewritten > 20, "too few corpus messages were rewritten");
}

/// issue 19: the note is on by default (the tests above run with it); here
/// every message also round-trips with the note off and with Thunderbird's
/// entry style, the same messages are rewritten either way, the stubs read
/// back as the same parts (the note shifts no part number), and the note is
/// in the messages that have a multipart/mixed to hold it.
#[test]
fn issue19_corpus_round_trips_with_the_note_on_and_off() {
    use slimbox::mime::{Entries, NOTE_HEADER};
    let mut files = Vec::new();
    messages(&corpus_dir(), &mut files);
    files.sort();
    assert!(files.len() >= 100, "only {} corpus messages", files.len());
    let on = Policy {
        min_size: 1,
        now: 1_795_435_200,
        ..Policy::default()
    };
    assert!(on.note, "the note is on by default");
    let off = Policy {
        note: false,
        ..on.clone()
    };
    let original = Policy {
        entries: Entries::Original,
        link_template: "file:///store/sha256/{sha256_2}/{sha256}".into(),
        ..on.clone()
    };
    let (mut rewritten, mut with_note) = (0, 0);
    for f in &files {
        let raw = std::fs::read(f).expect("read message");
        let d = detach(&raw, &on);
        for p in [&off, &original] {
            let other = detach(&raw, p);
            assert_eq!(
                d.rewritten.is_some(),
                other.rewritten.is_some(),
                "{}: the note or the entry style changes what is rewritten",
                f.display()
            );
            if let Some(rw) = &other.rewritten {
                assert_rebuilds(f, rw, &other, &raw);
                assert_eq!(other.parts.len(), d.parts.len(), "{}", f.display());
            }
        }
        let Some(rw) = &d.rewritten else { continue };
        rewritten += 1;
        assert_rebuilds(f, rw, &d, &raw);
        let c = slimbox::mime::read_converted(rw)
            .unwrap_or_else(|e| panic!("{}: read back failed: {e}", f.display()));
        assert_eq!(c.parts, d.parts, "{}", f.display());
        if memchr::memmem::find(rw, NOTE_HEADER.as_bytes()).is_some() {
            with_note += 1;
        }
    }
    eprintln!("{rewritten} rewritten, {with_note} with a note");
    assert!(rewritten > 20, "too few corpus messages were rewritten");
    assert!(with_note > 10, "too few corpus messages got a note");
}
