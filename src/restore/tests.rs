//! Restores from a local store and an index in memory.

use super::*;
use crate::index::{MessageRecord, PartRecord};
use crate::store::{object_key, sha256, to_hex, PutOptions, StoreError};

fn part(name: &str, data: &[u8]) -> PartRecord {
    PartRecord {
        sha256: to_hex(&sha256(data)),
        size: data.len() as u64,
        filename: name.into(),
        content_type: "application/pdf".into(),
        part_path: "2".into(),
        raw_sha256: None,
    }
}

fn message(uid: u32, message_id: &str, parts: Vec<PartRecord>) -> MessageRecord {
    MessageRecord {
        account: "me".into(),
        folder: "Sent".into(),
        uidvalidity: 7,
        old_uid: uid,
        new_uid: None,
        message_id: Some(message_id.into()),
        date: Some(1_700_000_000),
        from: Some("a@x".into()),
        to: Some("b@x".into()),
        subject: Some("s".into()),
        internal_date: "01-Feb-2024 10:00:00 +0100".into(),
        flags: vec![],
        size_before: 1000,
        size_after: 100,
        parts,
    }
}

fn index_of(messages: &[MessageRecord]) -> Index {
    let mut index = Index::open_in_memory().expect("index");
    for m in messages {
        let id = index.journal_begin(m, b"x").expect("begin");
        index.journal_finish(id, m).expect("finish");
    }
    index
}

async fn store_of(dir: &Path, objects: &[&[u8]]) -> Store {
    let store = Store::open(dir.to_str().expect("utf-8")).expect("store");
    for o in objects {
        store
            .put(&sha256(o), o.to_vec().into(), PutOptions::new())
            .await
            .expect("put");
    }
    store
}

fn request(to: &Path) -> Request {
    Request {
        to: to.to_path_buf(),
        ..Request::default()
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn issue8_a_request_must_choose_something_by_a_real_hash() {
    let to = Path::new("out");
    assert!(matches!(
        choose::filter(&request(to)),
        Err(RestoreError::NothingChosen)
    ));
    for bad in ["abc", "xyz1", &"a".repeat(65), "ab cd"] {
        let r = Request {
            sha256: Some(bad.into()),
            ..request(to)
        };
        assert!(
            matches!(choose::filter(&r), Err(RestoreError::NotAHash { .. })),
            "{bad:?}"
        );
    }
    let r = Request {
        sha256: Some(" ABCD\n".into()),
        ..request(to)
    };
    let f = choose::filter(&r).expect("filter");
    assert_eq!(f.sha256_prefix.as_deref(), Some("abcd"));
    assert!(f.include_reattached);
    let filter = PartFilter {
        larger: Some(1),
        ..PartFilter::default()
    };
    assert!(choose::filter(&Request {
        filter,
        ..request(to)
    })
    .is_ok());
}

#[tokio::test]
async fn issue8_a_prefix_of_two_files_is_ambiguous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_of(dir.path(), &[]).await;
    let (mut a, mut b) = (part("a.pdf", b"a"), part("b.pdf", b"b"));
    a.sha256 = format!("abcd1{}", "0".repeat(59));
    b.sha256 = format!("abcd2{}", "0".repeat(59));
    let index = index_of(&[message(1, "m@x", vec![a.clone(), b.clone()])]);
    let r = Request {
        sha256: Some("ABCD".into()),
        ..request(&dir.path().join("out"))
    };
    let err = run(&store, &index, &r, &NoProgress)
        .await
        .expect_err("ambiguous");
    let RestoreError::Ambiguous { prefix, matches } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        (prefix.as_str(), matches),
        ("abcd", &vec![a.sha256, b.sha256])
    );
    assert!(err.to_string().contains("give more digits"), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing created");
}

#[tokio::test]
async fn issue8_files_are_written_safely_once_and_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pdf, evil) = (b"%PDF report".as_slice(), b"not a passwd".as_slice());
    let store = store_of(&dir.path().join("store"), &[pdf, evil]).await;
    let index = index_of(&[
        message(
            1,
            "m@x",
            vec![part("a.pdf", pdf), part("../../passwd", evil)],
        ),
        // The same file in another message is written once.
        message(2, "n@x", vec![part("a.pdf", pdf)]),
    ]);
    let out = dir.path().join("out");
    let filter = PartFilter {
        from: Some("a@x".into()),
        ..PartFilter::default()
    };
    let r = Request {
        filter,
        ..request(&out)
    };
    let done = run(&store, &index, &r, &NoProgress).await.expect("restore");
    assert!(done.problems.is_empty(), "{:?}", done.problems);
    assert_eq!(names_in(&out), ["_.._passwd", "a.pdf"]);
    assert_eq!(std::fs::read(out.join("a.pdf")).expect("read"), pdf);
    assert_eq!(done.written.len(), 2);

    // Again: both already there, neither touched.
    std::fs::write(out.join("a.pdf"), b"mine").expect("write");
    let again = run(&store, &index, &r, &NoProgress).await.expect("restore");
    assert!(again.written.is_empty());
    assert_eq!(again.problems.len(), 2);
    for p in &again.problems {
        assert!(matches!(p, RestoreError::Exists { .. }), "{p}");
        assert!(
            p.to_string().contains("not overwritten (use --force"),
            "{p}"
        );
    }
    assert_eq!(std::fs::read(out.join("a.pdf")).expect("read"), b"mine");

    let forced = Request { force: true, ..r };
    let done = run(&store, &index, &forced, &NoProgress)
        .await
        .expect("restore");
    assert_eq!((done.written.len(), done.problems.len()), (2, 0));
    assert_eq!(std::fs::read(out.join("a.pdf")).expect("read"), pdf);
}

#[tokio::test]
async fn issue8_an_object_only_in_the_store_is_restored_by_its_full_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = b"lost from the index".as_slice();
    let store = store_of(&dir.path().join("store"), &[data]).await;
    let index = index_of(&[]);
    let hex = to_hex(&sha256(data));
    let out = dir.path().join("out");
    let r = Request {
        sha256: Some(hex.to_uppercase()),
        ..request(&out)
    };
    let done = run(&store, &index, &r, &NoProgress).await.expect("restore");
    assert_eq!(names_in(&out), [format!("{}.bin", &hex[..16])]);
    assert_eq!(done.written[0].sha256, hex);

    // A prefix is only looked up in the index.
    let r = Request {
        sha256: Some(hex[..20].into()),
        ..request(&out)
    };
    let err = run(&store, &index, &r, &NoProgress)
        .await
        .expect_err("none");
    assert!(matches!(err, RestoreError::NothingMatches), "{err}");
}

#[tokio::test]
async fn issue8_a_damaged_object_is_a_problem_and_the_rest_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (good, bad) = (b"good".as_slice(), b"bad".as_slice());
    let root = dir.path().join("store");
    let store = store_of(&root, &[good]).await;
    let path = root.join(object_key(&sha256(bad)).to_string());
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"baD").expect("write");
    let index = index_of(&[message(
        1,
        "m@x",
        vec![part("bad.txt", bad), part("good.txt", good)],
    )]);
    let out = dir.path().join("out");
    let r = Request {
        message_id: Some("m@x".into()),
        ..request(&out)
    };
    let done = run(&store, &index, &r, &NoProgress).await.expect("restore");
    assert_eq!(names_in(&out), ["good.txt"]);
    assert_eq!(done.problems.len(), 1);
    let RestoreError::Object { file, source } = &done.problems[0] else {
        panic!("{}", done.problems[0]);
    };
    assert_eq!(file, "bad.txt");
    assert!(matches!(source, StoreError::Corrupt { .. }), "{source}");
}

#[tokio::test]
async fn issue11_an_object_damaged_mid_stream_leaves_no_file_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Several batches long, damaged in the middle: the first bytes were
    // already written to the temporary file when the damage shows.
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let small = b"small and fine".as_slice();
    let root = dir.path().join("store");
    let store = store_of(&root, &[&big, small]).await;
    let file = root.join(object_key(&sha256(&big)).to_string());
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[big.len() / 2] ^= 0x80;
    std::fs::write(&file, bytes).expect("write");
    let index = index_of(&[message(
        1,
        "m@x",
        vec![part("big.mov", &big), part("small.txt", small)],
    )]);
    let out = dir.path().join("out");
    let r = Request {
        message_id: Some("m@x".into()),
        ..request(&out)
    };
    let done = run(&store, &index, &r, &NoProgress).await.expect("restore");
    // Only the good file: no big.mov, and no temporary file left over.
    assert_eq!(names_in(&out), ["small.txt"]);
    assert_eq!(done.problems.len(), 1);
    let RestoreError::Object { file, source } = &done.problems[0] else {
        panic!("{}", done.problems[0]);
    };
    assert_eq!(file, "big.mov");
    assert!(matches!(source, StoreError::Corrupt { .. }), "{source}");
}

#[tokio::test]
async fn issue11_many_files_stream_back_in_order_and_byte_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs: Vec<Vec<u8>> = (0..12u32)
        .map(|k| {
            (0..(k as usize * 300_001 + 5))
                .map(|i| (i as u32 ^ k) as u8)
                .collect()
        })
        .collect();
    let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    let store = store_of(&dir.path().join("store"), &refs).await;
    let names: Vec<String> = (0..blobs.len()).map(|k| format!("f{k:02}.bin")).collect();
    let parts = names.iter().zip(&refs).map(|(n, b)| part(n, b)).collect();
    let index = index_of(&[message(1, "m@x", parts)]);
    let out = dir.path().join("out");
    let r = Request {
        message_id: Some("m@x".into()),
        ..request(&out)
    };
    let done = run(&store, &index, &r, &NoProgress).await.expect("restore");
    assert!(done.problems.is_empty(), "{:?}", done.problems);
    assert_eq!(names_in(&out), names);
    assert_eq!(done.written.len(), blobs.len());
    for w in &done.written {
        let blob = blobs
            .iter()
            .find(|b| to_hex(&sha256(b)) == w.sha256)
            .expect("a stored blob");
        assert_eq!(w.size, blob.len() as u64);
        assert_eq!(&std::fs::read(&w.path).expect("read"), blob);
    }
}
