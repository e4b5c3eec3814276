use super::*;
use crate::store::{object_key, PutOptions};

fn text(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(
            format!("{i},2024-01-{:02},invoice,{}.00\n", i % 28 + 1, i * 7).as_bytes(),
        );
        i += 1;
    }
    out.truncate(n);
    out
}

/// Bytes that do not compress (a simple xorshift stream).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn zstd_store(dir: &std::path::Path) -> Store {
    Store::open(dir.to_str().expect("utf-8"))
        .expect("store")
        .with_compression(Compression::Zstd { level: 3 })
}

#[test]
fn declared_types_decide_what_is_tried() {
    let data = b"plain words";
    for ct in [
        None,
        Some("text/plain"),
        Some("text/csv; charset=utf-8"),
        Some("TEXT/HTML"),
        Some("application/json"),
        Some("application/xml"),
        Some("application/atom+xml"),
        Some("application/ld+json"),
        Some("application/pdf"),
        Some("application/msword"),
        Some("application/vnd.ms-excel"),
        Some("application/vnd.ms-powerpoint"),
        Some("application/rtf"),
        Some("application/octet-stream"),
        Some("message/rfc822"),
        Some(""),
    ] {
        assert!(worth_trying(ct, data), "{ct:?}");
    }
    for ct in [
        "image/jpeg",
        "image/png",
        "video/mp4",
        "audio/mpeg",
        "application/zip",
        "application/gzip",
        "application/zstd",
        "application/x-7z-compressed",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
    ] {
        assert!(!worth_trying(Some(ct), data), "{ct}");
    }
}

#[test]
fn compressed_magic_is_never_tried_whatever_the_type() {
    let mut mp4 = b"\x00\x00\x00\x20ftypisom".to_vec();
    mp4.extend_from_slice(&[0; 20]);
    let mut webp = b"RIFF\x10\x00\x00\x00WEBPVP8 ".to_vec();
    webp.extend_from_slice(&[0; 8]);
    let zst = zstd::bulk::compress(&text(10_000), 3).expect("zstd");
    let samples: Vec<(&str, Vec<u8>)> = vec![
        ("zip/docx", b"PK\x03\x04\x14\x00\x06\x00".to_vec()),
        ("gzip", b"\x1f\x8b\x08\x00".to_vec()),
        ("zstd", zst),
        ("bzip2", b"BZh91AY&SY".to_vec()),
        ("xz", b"\xfd7zXZ\x00\x00".to_vec()),
        ("7z", b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec()),
        ("rar", b"Rar!\x1a\x07\x01\x00".to_vec()),
        ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF".to_vec()),
        ("png", b"\x89PNG\r\n\x1a\n\x00\x00".to_vec()),
        ("gif", b"GIF89a\x01\x00".to_vec()),
        ("webp", webp),
        ("mp4", mp4),
        ("mkv", b"\x1a\x45\xdf\xa3\x01\x00".to_vec()),
        ("mp3", b"ID3\x04\x00\x00".to_vec()),
        ("mp3 frame", b"\xff\xfb\x90\x64".to_vec()),
    ];
    for (what, data) in samples {
        assert!(looks_compressed(&data), "{what}");
        for ct in [None, Some("text/plain"), Some("application/octet-stream")] {
            assert!(!worth_trying(ct, &data), "{what} as {ct:?}");
        }
    }
    for plain in [
        &b"%PDF-1.7\n"[..],
        b"id,name\n1,a\n",
        b"{\"a\":1}",
        b"<?xml",
        b"RIFF\0\0\0\0WAVEfmt ",
        b"",
        b"\xff",
    ] {
        assert!(!looks_compressed(plain), "{plain:?}");
    }
}

#[test]
fn encode_keeps_only_real_savings() {
    let t = text(100_000);
    let packed = encode(&t, 3).expect("text compresses");
    assert!(packed.len() < t.len() / 3, "{}", packed.len());
    assert_eq!(declared_size(&packed), Some(t.len() as u64));
    assert_eq!(decode(&packed).expect("decode"), t);
    assert!(encode(&noise(100_000), 3).is_none(), "noise is kept plain");
}

#[test]
fn decode_refuses_frames_that_outgrow_their_size() {
    let t = text(10_000);
    let mut two = zstd::bulk::compress(&t, 3).expect("zstd");
    two.extend(zstd::bulk::compress(&t, 3).expect("zstd"));
    let err = decode(&two).expect_err("past the stated size");
    assert!(err.contains("10000"), "{err}");
    // A stream frame does not state its size: refused rather than guessed.
    let mut streamed = Vec::new();
    zstd::stream::copy_encode(&t[..], &mut streamed, 3).expect("encode");
    assert!(decode(&streamed).is_err());
    assert!(decode(b"not zstd").is_err());
}

#[test]
fn keys_of_both_forms_parse() {
    let h = sha256(b"abc");
    let hex = to_hex(&h);
    assert_eq!(compressed_key(&h).as_ref(), format!("sha256/ba/{hex}.zst"));
    assert_eq!(parse_stored_key(&object_key(&h)), Some((h, false)));
    assert_eq!(parse_stored_key(&compressed_key(&h)), Some((h, true)));
    for bad in [
        Path::from_iter(["sha256", "00", &format!("{hex}.zst")]),
        Path::from_iter(["sha256", "ba", &format!("{}.zst", hex.to_uppercase())]),
        Path::from_iter(["sha256", "ba", &format!("{hex}.gz")]),
        Path::from_iter(["sha256", "ba", &format!("{hex}.zst.zst")]),
    ] {
        assert_eq!(parse_stored_key(&bad), None, "{bad}");
    }
}

#[tokio::test]
async fn text_is_stored_compressed_and_read_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = zstd_store(dir.path());
    let data = Bytes::from(text(200_000));
    let h = sha256(&data);
    let put = store
        .put(
            &h,
            data.clone(),
            PutOptions::new()
                .compress_as(Some("text/csv"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .expect("put");
    assert_eq!(put.outcome, PutOutcome::Stored);
    let stored = put.compressed_size.expect("compressed");
    assert!(stored < 50_000, "{stored}");
    store.sync_later(vec![h]).wait().await.expect("sync");
    let zst = dir.path().join(compressed_key(&h).to_string());
    assert_eq!(std::fs::metadata(&zst).expect("zst file").len(), stored);
    assert!(!dir.path().join(object_key(&h).to_string()).exists());

    // A fresh handle (not knowing the form, compression off) reads it all.
    let fresh = Store::open(dir.path().to_str().expect("utf-8")).expect("store");
    assert_eq!(fresh.size(&h).await.expect("size"), Some(data.len() as u64));
    assert!(fresh.exists(&h).await.expect("exists"));
    assert_eq!(fresh.get(&h).await.expect("get"), data);
    assert_eq!(fresh.list_hashes().await.expect("list"), vec![h]);
    let fresh = Store::open(dir.path().to_str().expect("utf-8")).expect("store");
    assert_eq!(
        fresh.get_each(&[h, h]).await.expect("each"),
        vec![(h, data.clone())]
    );

    // Written again: already there (the caller reads it back to check it).
    let again = store
        .put(
            &h,
            data,
            PutOptions::new()
                .compress_as(Some("text/csv"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .expect("put again");
    assert_eq!(again.outcome, PutOutcome::AlreadyPresent);
}

#[tokio::test]
async fn issue11_stored_zst_attachment_is_itself() {
    // An attachment that is a .zst file: its bytes start with the zstd
    // magic. It is stored plain and comes back as those very bytes.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = zstd_store(dir.path());
    let attachment = Bytes::from(zstd::bulk::compress(&text(100_000), 1).expect("zstd"));
    let h = sha256(&attachment);
    for ct in [
        Some("application/zstd"),
        Some("application/octet-stream"),
        Some("text/plain"),
        None,
    ] {
        let put = store
            .put(
                &h,
                attachment.clone(),
                PutOptions::new()
                    .compress_as(ct)
                    .checked_by_caller()
                    .unsynced(),
            )
            .await
            .expect("put");
        assert_eq!(put.compressed_size, None, "{ct:?}");
    }
    store.sync_later(vec![h]).wait().await.expect("sync");
    assert!(dir.path().join(object_key(&h).to_string()).exists());
    assert!(!dir.path().join(compressed_key(&h).to_string()).exists());
    let fresh = Store::open(dir.path().to_str().expect("utf-8")).expect("store");
    assert_eq!(fresh.get(&h).await.expect("get"), attachment);
    assert_eq!(
        fresh.size(&h).await.expect("size"),
        Some(attachment.len() as u64)
    );

    // Even a zstd frame of the very same content stored plain under the
    // hash of the frame is never decompressed: the key says plain.
    let inner_text = Bytes::from(text(100_000));
    let ht = sha256(&inner_text);
    assert_ne!(ht, h);
    assert!(matches!(
        fresh.get(&ht).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn plain_when_already_plain_or_not_worth_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain_store = Store::open(dir.path().to_str().expect("utf-8")).expect("store");
    let data = Bytes::from(text(50_000));
    let h = sha256(&data);
    plain_store
        .put(&h, data.clone(), PutOptions::new())
        .await
        .expect("plain put");
    let store = zstd_store(dir.path());
    let put = store
        .put(
            &h,
            data.clone(),
            PutOptions::new()
                .compress_as(Some("text/plain"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .expect("put");
    assert_eq!(
        put,
        Put {
            outcome: PutOutcome::AlreadyPresent,
            compressed_size: None
        }
    );
    assert!(!dir.path().join(compressed_key(&h).to_string()).exists());

    let n = Bytes::from(noise(50_000));
    let hn = sha256(&n);
    let put = store
        .put(
            &hn,
            n,
            PutOptions::new()
                .compress_as(Some("text/plain"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .expect("put");
    assert_eq!(put.compressed_size, None, "saves under 5 %");

    let jpeg_like = Bytes::from(text(50_000));
    let mut jpeg = b"\xff\xd8\xff\xe0".to_vec();
    jpeg.extend_from_slice(&jpeg_like);
    let jpeg = Bytes::from(jpeg);
    let hj = sha256(&jpeg);
    let put = store
        .put(
            &hj,
            jpeg,
            PutOptions::new()
                .compress_as(Some("image/jpeg"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .expect("put");
    assert_eq!(put.compressed_size, None);
}

#[tokio::test]
async fn issue11_corrupt_compressed_object_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = zstd_store(dir.path());
    let data = Bytes::from(text(100_000));
    let h = sha256(&data);
    store
        .put(
            &h,
            data,
            PutOptions::new()
                .compress_as(Some("text/plain"))
                .checked_by_caller()
                .unsynced(),
        )
        .await
        .expect("put");
    let path = dir.path().join(compressed_key(&h).to_string());
    let good = std::fs::read(&path).expect("read");

    // A flipped byte in the middle, a truncated frame, and garbage.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let truncated = good[..good.len() / 2].to_vec();
    for (what, bad) in [
        ("flipped", flipped),
        ("truncated", truncated),
        ("garbage", b"junk".to_vec()),
    ] {
        std::fs::write(&path, &bad).expect("damage");
        let fresh = Store::open(dir.path().to_str().expect("utf-8")).expect("store");
        match fresh.get(&h).await {
            Err(StoreError::Corrupt { key, .. }) => {
                assert!(key.ends_with(".zst"), "{what}: {key}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}
