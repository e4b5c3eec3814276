//! Every message of the shared corpus (real and malformed) survives
//! detach → reattach byte for byte at `--min-size 1`, and none panics.

use std::path::{Path, PathBuf};

use slimbox::mime::{detach, reattach, Policy, Sha256};

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
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
                let objects = |h: &Sha256| {
                    d.objects
                        .iter()
                        .find(|o| &o.sha256 == h)
                        .map(|o| &o.data[..])
                };
                let back = reattach(rw, &objects)
                    .unwrap_or_else(|e| panic!("{}: reattach failed: {e}", f.display()));
                assert!(back == raw, "{}: reattach is not byte-exact", f.display());
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
