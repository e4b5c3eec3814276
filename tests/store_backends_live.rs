//! Issue 11: remote stores on object_store's own backends, each against a
//! real server on loopback (moto's S3 server, Azurite, fake-gcs-server)
//! started by `scripts/objstore-harness` (tests/support/objstore.rs).

mod support;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions};
use slimbox::store::{object_key, sha256, PutOutcome, StoreError};
use support::objstore::{Kind, ObjStore};

/// A second create-only put of different bytes to the same key is refused
/// by the server itself; slimbox's own second put finds the object there
/// and verified; the first bytes stay.
async fn create_only_on(kind: Kind) {
    let server = ObjStore::start(kind);
    let store = server.open();
    let data = Bytes::from(format!("attachment for {}", kind.name()).repeat(1000));
    let hash = sha256(&data);
    assert_eq!(
        store.put(&hash, data.clone()).await.unwrap(),
        PutOutcome::Stored
    );
    assert_eq!(
        store.put(&hash, data.clone()).await.unwrap(),
        PutOutcome::AlreadyPresent
    );

    let raw = server.raw();
    let key = Path::from(format!("{}/{}", server.prefix(), object_key(&hash)));
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let second = raw
        .put_opts(&key, Bytes::from_static(b"other bytes").into(), create)
        .await;
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "{}: a second create-only put was not refused: {second:?}\n{}",
        kind.name(),
        server.log()
    );
    assert_eq!(store.get(&hash).await.unwrap(), data, "{}", kind.name());
    assert_eq!(store.list_hashes().await.unwrap(), vec![hash]);
}

#[tokio::test]
async fn issue11_create_only_put_is_refused_by_s3() {
    create_only_on(Kind::S3).await;
}

#[tokio::test]
async fn issue11_create_only_put_is_refused_by_azurite() {
    create_only_on(Kind::Azure).await;
}

/// An object overwritten behind slimbox's back is reported as corrupt by a
/// read, naming its key; a stopped server is a transient error.
async fn corrupt_and_down_on(kind: Kind) {
    let mut server = ObjStore::start(kind);
    let store = server.open();
    let data = Bytes::from_static(b"precious bytes that must come back");
    let hash = sha256(&data);
    store.put(&hash, data).await.unwrap();
    let key = Path::from(format!("{}/{}", server.prefix(), object_key(&hash)));
    server
        .raw()
        .put(
            &key,
            Bytes::from_static(b"precious bytes that must come bacK").into(),
        )
        .await
        .unwrap();
    let err = store.get(&hash).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key: k, .. } if *k == object_key(&hash).to_string()),
        "{}: {err}",
        kind.name()
    );

    server.stop();
    let other = Bytes::from_static(b"written while the server is down");
    let err = store.put(&sha256(&other), other).await.unwrap_err();
    assert!(
        err.is_transient(),
        "{}: not transient: {err:?}",
        kind.name()
    );
    server.restart();
    let again = Bytes::from_static(b"written after the restart");
    store.put(&sha256(&again), again.clone()).await.unwrap();
    assert_eq!(store.get(&sha256(&again)).await.unwrap(), again);
    // The objects from before the stop are still there.
    assert_eq!(
        store.list_hashes().await.unwrap().len(),
        2,
        "{}",
        kind.name()
    );
}

#[tokio::test]
async fn issue11_corrupt_object_and_server_down_on_s3() {
    corrupt_and_down_on(Kind::S3).await;
}

#[tokio::test]
async fn issue11_corrupt_object_and_server_down_on_azurite() {
    corrupt_and_down_on(Kind::Azure).await;
}
