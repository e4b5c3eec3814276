use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::store::PutOptions;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().to_string_lossy()).expect("open store");
    (dir, store)
}

fn memory_store(name: &str) -> Store {
    let inner = Arc::new(object_store::memory::InMemory::new());
    Store::from_object_store(inner, format!("memory:///{name}"))
}

/// Puts `n` small objects and returns their hashes.
async fn fill(store: &Store, n: u32) -> Vec<Sha256> {
    let mut hashes = Vec::new();
    for i in 0..n {
        let data = Bytes::from(format!("object number {i}").repeat(50));
        let hash = sha256(&data);
        store
            .put(&hash, data, PutOptions::new())
            .await
            .expect("put");
        hashes.push(hash);
    }
    hashes.sort_unstable();
    hashes
}

fn large() -> Bytes {
    let mut data: Vec<u8> = (0..STREAM_ABOVE as usize + PART_SIZE / 2 + 17)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    data[12345] = 7;
    Bytes::from(data)
}

fn opts(checkpoint: Option<PathBuf>) -> CopyOptions {
    CopyOptions {
        concurrency: 3,
        checkpoint,
    }
}

fn flip_byte(store: &Store, hash: &Sha256, at: usize) {
    let file = store
        .local_root()
        .expect("local")
        .join(object_key(hash).as_ref());
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[at] ^= 0x01;
    std::fs::write(&file, bytes).expect("write");
}

#[tokio::test]
async fn copies_every_object_small_and_streamed() {
    let (_a, src) = temp_store();
    let (_b, dst) = temp_store();
    let mut hashes = fill(&src, 10).await;
    let big = large();
    let big_hash = sha256(&big);
    src.put(&big_hash, big.clone(), PutOptions::new())
        .await
        .expect("put large");
    hashes.push(big_hash);
    hashes.sort_unstable();

    let report = copy_store(&src, &dst, &opts(None), &())
        .await
        .expect("copy");
    assert!(report.complete(), "{:?}", report.failed);
    assert_eq!((report.objects, report.written), (11, 11));
    assert_eq!(report.present + report.resumed, 0);
    assert_eq!(dst.list_hashes().await.expect("list"), hashes);
    assert_eq!(dst.get(&big_hash).await.expect("get large"), big);

    // Again: everything is there, read back and checked, nothing written.
    let again = copy_store(&src, &dst, &opts(None), &())
        .await
        .expect("copy");
    assert_eq!((again.written, again.present), (0, 11));
    assert_eq!(again.present_bytes, report.written_bytes);
}

#[tokio::test]
async fn copies_into_a_remote_like_store() {
    let (_a, src) = temp_store();
    let dst = memory_store("dst");
    let hashes = fill(&src, 3).await;
    let big = large();
    let big_hash = sha256(&big);
    src.put(&big_hash, big.clone(), PutOptions::new())
        .await
        .expect("put large");

    let report = copy_store(&src, &dst, &opts(None), &())
        .await
        .expect("copy");
    assert!(report.complete(), "{:?}", report.failed);
    assert_eq!(report.written, 4);
    assert_eq!(dst.get(&big_hash).await.expect("get"), big);
    for h in &hashes {
        assert!(dst.get(h).await.is_ok());
    }
}

#[tokio::test]
async fn the_same_store_is_refused() {
    let (dir, src) = temp_store();
    let again = Store::open(&dir.path().to_string_lossy()).expect("open");
    let err = copy_store(&src, &again, &opts(None), &())
        .await
        .expect_err("same");
    assert!(matches!(err, CopyError::SameStore { .. }), "{err}");
    assert!(err.to_string().contains(src.url()), "{err}");
}

#[tokio::test]
async fn a_corrupt_object_at_the_destination_fails_and_stays() {
    let (_a, src) = temp_store();
    let (_b, dst) = temp_store();
    let hashes = fill(&src, 4).await;
    let bad = hashes[2];
    let data = src.get(&bad).await.expect("get");
    dst.put(&bad, data, PutOptions::new()).await.expect("put");
    flip_byte(&dst, &bad, 3);

    let report = copy_store(&src, &dst, &opts(None), &())
        .await
        .expect("copy");
    assert!(!report.complete());
    assert_eq!(report.failed.len(), 1);
    let failure = &report.failed[0];
    assert_eq!(failure.sha256, bad);
    assert_eq!(failure.key, object_key(&bad).to_string());
    assert!(
        matches!(failure.error, StoreError::Corrupt { ref url, .. } if url == dst.url()),
        "{}",
        failure.error
    );
    assert_eq!(report.written, 3);
    // Not overwritten: a person decides.
    assert!(matches!(
        dst.get(&bad).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_corrupt_source_object_never_reaches_the_destination() {
    let (_a, src) = temp_store();
    let (_b, dst) = temp_store();
    let small = fill(&src, 2).await[0];
    let big = large();
    let big_hash = sha256(&big);
    src.put(&big_hash, big, PutOptions::new())
        .await
        .expect("put large");
    flip_byte(&src, &small, 0);
    flip_byte(&src, &big_hash, PART_SIZE + 5);

    let report = copy_store(&src, &dst, &opts(None), &())
        .await
        .expect("copy");
    let mut failed: Vec<Sha256> = report.failed.iter().map(|f| f.sha256).collect();
    failed.sort_unstable();
    let mut expected = vec![small, big_hash];
    expected.sort_unstable();
    assert_eq!(failed, expected);
    for f in &report.failed {
        assert!(
            matches!(f.error, StoreError::Corrupt { ref url, .. } if url == src.url()),
            "{}",
            f.error
        );
    }
    assert!(!dst.exists(&small).await.expect("head"));
    assert!(!dst.exists(&big_hash).await.expect("head"));
    assert_eq!(report.written, 1);
}

#[tokio::test]
async fn a_checkpoint_resumes_with_a_size_check() {
    let (_a, src) = temp_store();
    let (_b, dst) = temp_store();
    let (_c, index_dir) = temp_store();
    let hashes = fill(&src, 6).await;
    let checkpoint = checkpoint_path(&index_dir.local_root().unwrap().join("i.sqlite"), &dst);
    assert!(checkpoint.starts_with(index_dir.local_root().unwrap()));

    // An interrupted copy: three objects copied and in the checkpoint...
    for h in &hashes[..3] {
        dst.put(h, src.get(h).await.expect("get"), PutOptions::new())
            .await
            .expect("put");
    }
    let mut text = format!("# header\n{}\n", to_hex(&hashes[0]));
    text.push_str(&format!("{}\n{}\n", to_hex(&hashes[1]), to_hex(&hashes[2])));
    // ...a torn last line, and one verified object gone since.
    text.push_str(&to_hex(&hashes[3])[..20]);
    text.push('\n');
    text.push_str(&format!("{}\n", to_hex(&hashes[4])));
    std::fs::write(&checkpoint, text).expect("write checkpoint");
    // One named in the checkpoint whose size changed is read back: corrupt.
    let file = dst
        .local_root()
        .unwrap()
        .join(object_key(&hashes[2]).as_ref());
    std::fs::write(&file, b"truncated").expect("truncate");

    let report = copy_store(&src, &dst, &opts(Some(checkpoint.clone())), &())
        .await
        .expect("copy");
    assert_eq!(report.resumed, 2, "{report:?}");
    assert_eq!(report.written, 3);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].sha256, hashes[2]);
    // Incomplete: the checkpoint stays, with the new objects in it.
    let text = std::fs::read_to_string(&checkpoint).expect("read");
    for h in [&hashes[3], &hashes[4], &hashes[5]] {
        assert!(text.contains(&to_hex(h)), "{text}");
    }

    // Repaired, the copy completes and the checkpoint goes.
    std::fs::remove_file(&file).expect("rm");
    let report = copy_store(&src, &dst, &opts(Some(checkpoint.clone())), &())
        .await
        .expect("copy");
    assert!(report.complete(), "{:?}", report.failed);
    assert_eq!((report.resumed, report.written), (5, 1));
    assert!(!checkpoint.exists());
}

#[tokio::test]
async fn an_object_outside_the_checkpoint_is_hashed_not_skipped() {
    let (_a, src) = temp_store();
    let (_b, dst) = temp_store();
    let (_c, index_dir) = temp_store();
    let hashes = fill(&src, 2).await;
    let checkpoint = index_dir.local_root().unwrap().join("cp");
    let data = src.get(&hashes[0]).await.expect("get");
    dst.put(&hashes[0], data, PutOptions::new())
        .await
        .expect("put");
    // Same size, other bytes: only a read-back can tell.
    flip_byte(&dst, &hashes[0], 1);

    let report = copy_store(&src, &dst, &opts(Some(checkpoint.clone())), &())
        .await
        .expect("copy");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].sha256, hashes[0]);
    assert!(checkpoint.exists());
}

#[tokio::test]
async fn issue11_compressed_objects_are_copied_too() {
    let (_a, plain_src) = temp_store();
    let src = plain_src.with_compression(crate::store::Compression::from_zstd_level(Some(3)));
    let (_b, dst) = temp_store();
    let text = Bytes::from("a line of a log that compresses well\n".repeat(20_000));
    let text_hash = sha256(&text);
    let put = src
        .put(
            &text_hash,
            text.clone(),
            PutOptions::new()
                .compress_as(Some("text/plain"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .expect("put");
    assert!(put.compressed_size.is_some(), "stored compressed");
    let hashes = fill(&src, 2).await;

    let report = copy_store(&src, &dst, &opts(None), &())
        .await
        .expect("copy");
    assert!(report.complete(), "{:?}", report.failed);
    assert_eq!(report.written, 3, "the compressed object is not skipped");
    assert_eq!(dst.get(&text_hash).await.expect("get"), text);
    for h in hashes {
        assert!(dst.exists(&h).await.expect("exists"));
    }
}
