use super::PutOptions;
use super::*;
use bytes::Bytes;
use url::Url;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().to_string_lossy()).expect("open store");
    (dir, store)
}

#[tokio::test]
async fn put_then_get_round_trips() {
    let (_dir, store) = temp_store();
    let data = Bytes::from_static(b"hello, attachment");
    let hash = sha256(&data);
    assert!(!store.exists(&hash).await.unwrap());
    assert_eq!(store.size(&hash).await.unwrap(), None);
    assert_eq!(
        store
            .put(&hash, data.clone(), PutOptions::new())
            .await
            .unwrap()
            .outcome,
        PutOutcome::Stored
    );
    assert_eq!(store.get(&hash).await.unwrap(), data);
    assert!(store.exists(&hash).await.unwrap());
    assert_eq!(store.size(&hash).await.unwrap(), Some(data.len() as u64));
    // The file is where links will point.
    let root = store.local_root().unwrap();
    let file = root.join(object_key(&hash).as_ref());
    assert_eq!(std::fs::read(file).unwrap(), data);
}

#[tokio::test]
async fn empty_object_round_trips() {
    let (_dir, store) = temp_store();
    let hash = sha256(b"");
    assert_eq!(
        store
            .put(&hash, Bytes::new(), PutOptions::new())
            .await
            .unwrap()
            .outcome,
        PutOutcome::Stored
    );
    assert_eq!(store.get(&hash).await.unwrap(), Bytes::new());
}

#[tokio::test]
async fn second_put_is_already_present() {
    let (_dir, store) = temp_store();
    let data = Bytes::from(vec![7u8; 100_000]);
    let hash = sha256(&data);
    assert_eq!(
        store
            .put(&hash, data.clone(), PutOptions::new())
            .await
            .unwrap()
            .outcome,
        PutOutcome::Stored
    );
    assert_eq!(
        store
            .put(&hash, data, PutOptions::new())
            .await
            .unwrap()
            .outcome,
        PutOutcome::AlreadyPresent
    );
}

#[tokio::test]
async fn put_with_wrong_hash_is_refused() {
    let (_dir, store) = temp_store();
    let wrong = sha256(b"something else");
    let err = store
        .put(&wrong, Bytes::from_static(b"data"), PutOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::HashMismatch { .. }),
        "unexpected error: {err}"
    );
    assert!(!err.is_transient());
    assert!(err.to_string().contains(&to_hex(&wrong)), "{err}");
    // Nothing may have been written under the wrong key.
    assert!(!store.exists(&wrong).await.unwrap());
    assert!(store.list_hashes().await.unwrap().is_empty());
}

fn flip_first_byte(store: &Store, hash: &Sha256) {
    let file = store.local_root().unwrap().join(object_key(hash).as_ref());
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
}

#[tokio::test]
async fn corrupt_object_is_detected_on_get() {
    let (_dir, store) = temp_store();
    let data = Bytes::from_static(b"precious attachment bytes");
    let hash = sha256(&data);
    store.put(&hash, data, PutOptions::new()).await.unwrap();
    flip_first_byte(&store, &hash);

    let err = store.get(&hash).await.unwrap_err();
    let key = object_key(&hash).to_string();
    match &err {
        StoreError::Corrupt { key: k, .. } => assert_eq!(k, &key),
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(err.to_string().contains(&key), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn put_over_corrupt_object_fails_without_overwriting() {
    let (_dir, store) = temp_store();
    let data = Bytes::from_static(b"precious attachment bytes");
    let hash = sha256(&data);
    store
        .put(&hash, data.clone(), PutOptions::new())
        .await
        .unwrap();
    flip_first_byte(&store, &hash);

    let err = store.put(&hash, data, PutOptions::new()).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key, .. } if *key == object_key(&hash).to_string()),
        "unexpected error: {err}"
    );
    // Still corrupt: a human decides, not us.
    assert!(matches!(
        store.get(&hash).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn issue13_put_hashed_leaves_an_existing_object_to_the_read_back() {
    // The pipeline reads every object back after storing it, so an
    // object many mailboxes share is neither written again nor read
    // twice; a damaged one is still never overwritten, and the
    // read-back finds it.
    let (_dir, store) = temp_store();
    let data = Bytes::from_static(b"an attachment sent to everyone");
    let hash = sha256(&data);
    store
        .put(&hash, data.clone(), PutOptions::new())
        .await
        .unwrap();
    flip_first_byte(&store, &hash);
    let again = store
        .put(
            &hash,
            data,
            PutOptions::new().checked_by_caller().unsynced(),
        )
        .await
        .unwrap();
    assert_eq!(again.outcome, PutOutcome::AlreadyPresent);
    assert!(matches!(
        store.get(&hash).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn missing_object_is_not_found() {
    let (_dir, store) = temp_store();
    let hash = sha256(b"never stored");
    let err = store.get(&hash).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { .. }),
        "unexpected error: {err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&object_key(&hash).to_string()), "{msg}");
    assert!(msg.contains(store.url()), "{msg}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn list_hashes_returns_what_was_put() {
    let (_dir, store) = temp_store();
    assert!(store.list_hashes().await.unwrap().is_empty());
    let mut expected = Vec::new();
    for i in 0..20u32 {
        let data = Bytes::from(format!("object {i}"));
        let hash = sha256(&data);
        store.put(&hash, data, PutOptions::new()).await.unwrap();
        expected.push(hash);
    }
    // Strays that must be skipped, not reported or fatal.
    let root = store.local_root().unwrap();
    std::fs::create_dir_all(root.join("sha256/zz")).unwrap();
    std::fs::write(root.join("sha256/zz/not-a-hash"), b"x").unwrap();
    std::fs::write(root.join("sha256/README"), b"x").unwrap();
    std::fs::write(root.join("unrelated"), b"x").unwrap();

    expected.sort_unstable();
    assert_eq!(store.list_hashes().await.unwrap(), expected);
}

#[tokio::test]
async fn open_relative_path_creates_and_canonicalizes() {
    // Relative to the test's cwd (the package root); the guard removes it.
    let base = tempfile::Builder::new()
        .prefix(".slimbox-store-test-")
        .tempdir_in(".")
        .unwrap();
    let name = base.path().file_name().unwrap().to_string_lossy();
    let relative = format!("{name}/new/store");
    let store = Store::open(&relative).unwrap();

    let expected = std::fs::canonicalize(base.path().join("new/store")).unwrap();
    assert_eq!(store.local_root(), Some(expected.as_path()));
    assert!(expected.is_absolute());
    let url = Url::from_file_path(&expected).unwrap();
    assert_eq!(store.url(), url.as_str());
    assert_eq!(
        store.default_link_template(),
        format!("{url}/sha256/{{sha256_2}}/{{sha256}}")
    );

    let data = Bytes::from_static(b"relative");
    let hash = sha256(&data);
    store
        .put(&hash, data.clone(), PutOptions::new())
        .await
        .unwrap();
    assert_eq!(store.get(&hash).await.unwrap(), data);
}

#[tokio::test]
async fn open_file_url() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("via url");
    let url = Url::from_file_path(&target).unwrap();
    let store = Store::open(url.as_str()).unwrap();
    let expected = std::fs::canonicalize(&target).unwrap();
    assert_eq!(store.local_root(), Some(expected.as_path()));
    assert!(store.url().starts_with("file:///"), "{}", store.url());
    assert!(!store.url().ends_with('/'));
    // Spaces are percent-encoded so that the link works as a URL.
    assert!(store.url().ends_with("/via%20url"), "{}", store.url());

    let data = Bytes::from_static(b"file url");
    let hash = sha256(&data);
    store
        .put(&hash, data.clone(), PutOptions::new())
        .await
        .unwrap();
    // Another handle on the same directory sees the object.
    let again = Store::open(&expected.to_string_lossy()).unwrap();
    assert_eq!(again.get(&hash).await.unwrap(), data);
}

#[test]
fn unsupported_schemes_are_clear_errors() {
    // s3:// was here until issue 11 made it a supported backend.
    for url in ["hdfs://namenode/prefix", "ftp://example.com/store"] {
        let err = Store::open(url).unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedScheme { .. }),
            "{url}: unexpected error: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(url), "{msg}");
        assert!(msg.contains("not support"), "{msg}");
        assert!(!err.is_transient());
        // The "write it as a path" hint only makes sense without "://".
        assert!(!msg.contains("./"), "{msg}");
    }
    let msg = Store::open("foo:bar").unwrap_err().to_string();
    assert!(msg.contains("write it as ./foo:bar"), "{msg}");
}

#[test]
fn bad_locations_are_clear_errors() {
    assert!(matches!(
        Store::open(""),
        Err(StoreError::BadLocation { .. })
    ));
    assert!(matches!(
        Store::open("file://remote-host/store"),
        Err(StoreError::BadLocation { .. })
    ));
    // A regular file cannot be a store directory.
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = Store::open(&file.path().to_string_lossy()).unwrap_err();
    assert!(
        matches!(err, StoreError::OpenDir { .. }),
        "unexpected: {err}"
    );
}

#[tokio::test]
async fn from_object_store_uses_display_url() {
    let inner = Arc::new(object_store::memory::InMemory::new());
    let store = Store::from_object_store(inner, "https://files.example/att/".to_string());
    assert_eq!(store.url(), "https://files.example/att");
    assert_eq!(store.local_root(), None);
    assert_eq!(
        store.default_link_template(),
        "https://files.example/att/sha256/{sha256_2}/{sha256}"
    );
    let data = Bytes::from_static(b"in memory");
    let hash = sha256(&data);
    assert_eq!(
        store
            .put(&hash, data.clone(), PutOptions::new())
            .await
            .unwrap()
            .outcome,
        PutOutcome::Stored
    );
    assert_eq!(
        store
            .put(&hash, data.clone(), PutOptions::new())
            .await
            .unwrap()
            .outcome,
        PutOutcome::AlreadyPresent
    );
    assert_eq!(store.get(&hash).await.unwrap(), data);
    assert_eq!(store.list_hashes().await.unwrap(), vec![hash]);
}

#[tokio::test]
async fn memory_url_with_prefix_opens() {
    let store = Store::open("memory:///some/prefix").unwrap();
    assert_eq!(store.local_root(), None);
    let data = Bytes::from_static(b"prefixed");
    let hash = sha256(&data);
    store
        .put(&hash, data.clone(), PutOptions::new())
        .await
        .unwrap();
    assert_eq!(store.get(&hash).await.unwrap(), data);
    assert_eq!(store.list_hashes().await.unwrap(), vec![hash]);
}

#[test]
fn issue21_identity_is_the_normalised_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    let plain = Store::open(&a.to_string_lossy()).expect("open");
    let slash = Store::open(&format!("{}/", a.display())).expect("open");
    assert_eq!(plain.identity(), slash.identity());
    assert!(
        plain.identity().starts_with("file:///"),
        "{}",
        plain.identity()
    );
    let b = Store::open(&dir.path().join("b").to_string_lossy()).expect("open");
    assert_ne!(plain.identity(), b.identity());
    let mem = Store::open("memory:///").expect("memory");
    assert_eq!(mem.identity(), "memory:///");
}
