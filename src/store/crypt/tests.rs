use super::*;
use crate::store::{object_key, sha256, to_hex, Compression, PutOptions, StoreError};
use age::secrecy::ExposeSecret;
use bytes::Bytes;

fn new_keys() -> Arc<Keys> {
    let id = age::x25519::Identity::generate();
    Keys::parse(id.to_string().expose_secret(), "a test key").unwrap()
}

fn files_under(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn issue24_local_store_round_trips_without_plain_names_or_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = new_keys();
    let store = Store::open(&dir.path().to_string_lossy())
        .unwrap()
        .with_compression(Compression::Zstd { level: 3 })
        .with_encryption(Arc::clone(&keys));
    let marker = b"PLAINTEXT-MARKER-issue24 ";
    let small = Bytes::from(marker.repeat(10));
    let big: Bytes = (0..500_000u32)
        .flat_map(|i| i.to_le_bytes())
        .chain(marker.iter().copied())
        .collect::<Vec<u8>>()
        .into();
    let mut hashes = Vec::new();
    for (data, ct) in [(&small, Some("text/plain")), (&big, Some("image/jpeg"))] {
        let h = sha256(data);
        let opts = PutOptions::new().compress_as(ct).unsynced();
        store.put(&h, data.clone(), opts).await.unwrap();
        store.sync_later(vec![h]).wait().await.unwrap();
        assert_eq!(&store.get(&h).await.unwrap(), data);
        assert_eq!(store.size(&h).await.unwrap(), Some(data.len() as u64));
        let (out, n) = store.read_into(&h, Vec::new()).await.unwrap();
        assert_eq!((&out[..], n), (&data[..], data.len() as u64));
        hashes.push(h);
    }
    hashes.sort_unstable();
    assert_eq!(store.list_hashes().await.unwrap(), hashes);
    for h in &hashes {
        assert_eq!(store.find_by_prefix(&h[..8], 4).await.unwrap(), vec![*h]);
    }
    for f in files_under(dir.path()) {
        let name = f.to_string_lossy().to_string();
        let bytes = std::fs::read(&f).unwrap();
        for h in &hashes {
            assert!(!name.contains(&to_hex(h)), "{name}");
        }
        assert!(
            memchr::memmem::find(&bytes, b"PLAINTEXT-MARKER").is_none(),
            "{name}"
        );
    }
    // A fresh handle (nothing known) reads the same.
    let again = Store::open(&dir.path().to_string_lossy())
        .unwrap()
        .with_encryption(keys);
    for h in &hashes {
        again.check(h).await.unwrap();
    }
}

#[tokio::test]
async fn issue24_damage_and_wrong_key_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = new_keys();
    let store = Store::open(&dir.path().to_string_lossy())
        .unwrap()
        .with_encryption(Arc::clone(&keys));
    let data = Bytes::from(vec![42u8; 200_000]);
    let h = sha256(&data);
    store.put(&h, data, PutOptions::new()).await.unwrap();

    let wrong = Store::open(&dir.path().to_string_lossy())
        .unwrap()
        .with_encryption(new_keys());
    let err = wrong.get(&h).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("a test key") && msg.contains(&keys.recipient()),
        "{msg}"
    );

    let plain_dir = tempfile::tempdir().unwrap();
    let plain_store = Store::open(&plain_dir.path().to_string_lossy()).unwrap();
    plain_store
        .put(&h, Bytes::from(vec![42u8; 200_000]), PutOptions::new())
        .await
        .unwrap();
    let on_plain = Store::open(&plain_dir.path().to_string_lossy())
        .unwrap()
        .with_encryption(Arc::clone(&keys));
    let err = on_plain.get(&h).await.unwrap_err();
    assert!(err.to_string().contains("not encrypted"), "{err}");

    let file = dir
        .path()
        .join(store.physical_key(&object_key(&h)).as_ref());
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let err = store.get(&h).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&object_key(&h).to_string()),
        "{err}"
    );
    assert!(matches!(
        store.check(&h).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn issue24_key_sources_are_named_in_errors() {
    let missing = KeySource::File("/nonexistent/slimbox.key".into());
    let err = Keys::load(&missing).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/slimbox.key"), "{err}");
    assert!(err.contains("encryption_key_file"), "{err}");
    let err = Keys::load(&KeySource::Command("exit 3".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("encryption_key_command"), "{err}");
    let err = Keys::load(&KeySource::Env("SLIMBOX_TEST_NO_SUCH_VAR".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("SLIMBOX_TEST_NO_SUCH_VAR"), "{err}");
    let id = age::x25519::Identity::generate();
    let text = format!(
        "# created: now\n# public key: x\n{}\n",
        id.to_string().expose_secret()
    );
    let k = Keys::parse(&text, "t").unwrap();
    assert_eq!(k.recipient(), id.to_public().to_string());
}
