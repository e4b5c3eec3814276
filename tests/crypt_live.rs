//! Issue 24: an encrypted store (`[store] encryption = "age"`) after real
//! runs on Dovecot, on a local folder and on moto's S3 server: no object's
//! name is an attachment's SHA-256 and no object holds a known plaintext
//! marker; restore and reattach are byte-exact; `age -d` (the standard
//! tool, Debian's `age`) decrypts an object by hand to the attachment; one
//! flipped byte is found by `verify --read-data` naming its message; a
//! wrong key fails `restore` with exit 1 and says so; `store copy` turns a
//! plain store into an encrypted one (killed half-way and resumed), and
//! re-keys it.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;
use slimbox::store::{object_key, sha256, to_hex, KeySource, Keys, Store};
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox;
use support::objstore::{Kind, ObjStore};

const DATE: &str = "01-Feb-2024 10:00:00 +0100";
const MARKER: &[u8] = b"PLAINTEXT-MARKER-issue24/";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fresh age identity file, made by the standard tool.
fn keygen(path: &FsPath) -> PathBuf {
    let st = Command::new("age-keygen").arg("-o").arg(path).output();
    match st {
        Ok(o) if o.status.success() => path.to_path_buf(),
        other => panic!(
            "age-keygen (Debian's `age`, installed by scripts/test-deps) is needed: {other:?}"
        ),
    }
}

/// Where the objects are: a local folder, or moto's bucket.
enum Place {
    Local(PathBuf),
    S3(ObjStore),
}

impl Place {
    fn store_toml(&self) -> String {
        match self {
            Place::Local(p) => format!("[store]\nurl = \"{}\"\n", p.display()),
            Place::S3(s) => s.store_toml(),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        match self {
            Place::Local(_) => Vec::new(),
            Place::S3(s) => s.env(),
        }
    }

    fn open(&self) -> Store {
        match self {
            Place::Local(p) => Store::open(&p.to_string_lossy()).unwrap(),
            Place::S3(s) => s.open(),
        }
    }

    /// Every object as the backend holds it: name and bytes.
    fn raw_objects(&self) -> Vec<(String, Vec<u8>)> {
        let raw = self.open().object_store();
        rt().block_on(async {
            use futures::TryStreamExt;
            let all: Vec<_> = raw.list(None).try_collect().await.unwrap();
            let mut out = Vec::new();
            for m in all {
                let b = raw.get(&m.location).await.unwrap().bytes().await.unwrap();
                out.push((m.location.to_string(), b.to_vec()));
            }
            out
        })
    }

    fn read_raw(&self, name: &Path) -> Vec<u8> {
        let raw = self.open().object_store();
        rt().block_on(async { raw.get(name).await.unwrap().bytes().await.unwrap().to_vec() })
    }

    fn write_raw(&self, name: &Path, data: Vec<u8>) {
        let raw: Arc<dyn ObjectStore> = self.open().object_store();
        rt().block_on(raw.put(name, Bytes::from(data).into()))
            .unwrap();
    }
}

fn slimbox(config: &FsPath, place: &Place) -> Command {
    let mut c = mailbox::slimbox(config);
    c.envs(place.env());
    c
}

fn output(c: &mut Command) -> (i32, String) {
    let out = c.output().expect("run slimbox");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn ok(c: &mut Command) -> String {
    let (code, text) = output(c);
    assert_eq!(code, 0, "slimbox failed:\n{text}");
    text
}

/// The config of `d` with `store` (a `[store]` table) in place of the
/// local store, and a `[links] base_url`.
fn write_config(d: &Dovecot, dir: &FsPath, store: &str) -> PathBuf {
    let config = mailbox::write_config(d, dir, "100KiB");
    let text = std::fs::read_to_string(&config).unwrap();
    let local = format!("[store]\nurl = \"{}\"\n", dir.join("store").display());
    assert!(text.contains(&local), "{text}");
    let text = text.replace(&local, store) + "[links]\nbase_url = \"http://127.0.0.1:9\"\n";
    std::fs::write(&config, text).unwrap();
    config
}

fn encryption(key: &FsPath) -> String {
    format!(
        "encryption = \"age\"\nencryption_key_file = \"{}\"\n",
        key.display()
    )
}

/// `count` messages in Sent, each with an attachment that carries the
/// marker; (id, message, attachment).
fn seed(d: &Dovecot, count: u64, size: usize, seed0: u64) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..count {
        let id = format!("m{}", seed0 + i);
        let mut data = MARKER.to_vec();
        data.extend(mailbox::noise(size + 10_000 * i as usize, seed0 + i));
        data.extend_from_slice(MARKER);
        let msg = mailbox::with_attachment(
            &id,
            "File",
            &format!("{id}.pdf"),
            "application/pdf",
            data.clone(),
        );
        rt().block_on(mailbox::seed(d, "Sent", &msg, &["\\Seen"], DATE));
        out.push((id, msg, data));
    }
    out
}

fn restored(config: &FsPath, place: &Place, dir: &FsPath, id: &str) -> Vec<u8> {
    let to = dir.join(format!("restored-{id}"));
    ok(slimbox(config, place)
        .args([
            "restore",
            "--message-id",
            &format!("{id}@example.com"),
            "--to",
        ])
        .arg(&to));
    std::fs::read(to.join(format!("{id}.pdf"))).expect("restored file")
}

/// Nothing in the backend names or holds an attachment in plain.
fn nothing_plain(place: &Place, seeded: &[(String, Vec<u8>, Vec<u8>)]) {
    let objects = place.raw_objects();
    assert!(objects.len() >= seeded.len(), "{}", objects.len());
    for (name, bytes) in &objects {
        for (_, _, data) in seeded {
            assert!(!name.contains(&to_hex(&sha256(data))), "{name}");
        }
        assert!(
            memchr::memmem::find(bytes, MARKER).is_none(),
            "{name} holds plaintext"
        );
    }
}

/// The backend's name of the object holding `data`, under the store's URL.
fn physical(place: &Place, key: &FsPath, data: &[u8]) -> Path {
    let keys = Keys::load(&KeySource::File(key.to_path_buf())).unwrap();
    let store = place.open().with_encryption(keys);
    // The place's store already has the bucket's prefix.
    store.physical_key(&object_key(&sha256(data)))
}

/// `age -d -i key` of the object holding `data` gives `data`.
fn by_hand(place: &Place, key: &FsPath, dir: &FsPath, data: &[u8]) {
    let file = dir.join("object.age");
    std::fs::write(&file, place.read_raw(&physical(place, key, data))).unwrap();
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(key)
        .arg(&file)
        .output()
        .expect("age (Debian's `age`, installed by scripts/test-deps)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "age -d did not give the attachment back"
    );
}

/// `slimbox serve` answers a short link (found through the pointers) with
/// the decrypted bytes, whole and in a Range.
fn served(config: &FsPath, place: &Place, data: &[u8]) {
    let c = slimbox::config::load(Some(config)).unwrap();
    let secret = slimbox::links::Secret::load_or_create(&c.links.secret_file).unwrap();
    let mut cmd = mailbox::slimbox(config);
    cmd.envs(place.env());
    let serve = support::serve::Serve::start_with(config, cmd);
    let url = secret.file_link(&serve.base, &to_hex(&sha256(data)), "f.pdf", None);
    rt().block_on(async {
        let client = reqwest::Client::new();
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{}", serve.log());
        assert!(res.bytes().await.unwrap() == data, "served bytes differ");
        let res = client
            .get(&url)
            .header("range", "bytes=70000-70099")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206, "{}", serve.log());
        assert_eq!(&res.bytes().await.unwrap()[..], &data[70000..70100]);
    });
}

fn cycle(place: Place) {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(&dir.path().join("store-key.txt"));
    let store = place.store_toml() + &encryption(&key);
    let config = write_config(&d, dir.path(), &store);
    let seeded = seed(&d, 2, 150_000, 1);

    ok(slimbox(&config, &place).arg("run"));
    nothing_plain(&place, &seeded);
    for (id, _, data) in &seeded {
        assert!(restored(&config, &place, dir.path(), id) == *data, "{id}");
    }
    let (first_id, first_msg, first_data) = &seeded[0];
    ok(slimbox(&config, &place).args([
        "reattach",
        "--message-id",
        &format!("{first_id}@example.com"),
    ]));
    let after = rt().block_on(mailbox::snapshot(&d, "Sent"));
    assert!(after.values().any(|m| m.bytes == *first_msg), "reattach");
    let out = ok(slimbox(&config, &place).args(["verify", "--read-data"]));
    assert!(out.contains("all is well"), "{out}");
    by_hand(&place, &key, dir.path(), first_data);
    let said = ok(slimbox(&config, &place).args(["store", "where", &to_hex(&sha256(first_data))]));
    let name = physical(&place, &key, first_data).to_string();
    assert!(said.contains(&name) && said.contains("age -d"), "{said}");
    served(&config, &place, first_data);

    rebuilt(&config, &place, dir.path(), &seeded);
    wrong_key(&config, &place, dir.path(), &key, &seeded[1].0);
    damaged(&config, &place, &key, &seeded);
}

/// The index lost and rebuilt from the mailbox and the encrypted store
/// (the first message, reattached, is a plain one again).
fn rebuilt(config: &FsPath, place: &Place, dir: &FsPath, seeded: &[(String, Vec<u8>, Vec<u8>)]) {
    for f in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let out = ok(slimbox(config, place).args(["index", "rebuild"]));
    assert!(out.contains("1 converted messages found"), "{out}");
    assert!(out.contains("1 written to the index (1 parts)"), "{out}");
    assert!(out.contains("1 objects checked"), "{out}");
    let list = ok(slimbox(config, place).args(["list", "--json"]));
    assert!(list.contains(&to_hex(&sha256(&seeded[1].2))), "{list}");
}

/// A wrong key: exit 1, about the key and where it came from.
fn wrong_key(config: &FsPath, place: &Place, dir: &FsPath, key: &FsPath, id: &str) {
    let other = keygen(&dir.join("other-key.txt"));
    let wrong = dir.join("wrong.toml");
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(&wrong, text.replace(&encryption(key), &encryption(&other))).unwrap();
    let to = dir.join("wrong-restore");
    let (code, said) = output(
        slimbox(&wrong, place)
            .args([
                "restore",
                "--message-id",
                &format!("{id}@example.com"),
                "--to",
            ])
            .arg(&to),
    );
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("encryption key"), "{said}");
    assert!(said.contains(&other.display().to_string()), "{said}");
    assert!(!said.contains("corrupt"), "{said}");
}

/// One flipped byte: damage, named with its message (the second; the
/// first is not named).
fn damaged(config: &FsPath, place: &Place, key: &FsPath, seeded: &[(String, Vec<u8>, Vec<u8>)]) {
    let first_id = &seeded[0].0;
    let (second_id, _, second_data) = &seeded[1];
    let name = physical(place, key, second_data);
    let mut bytes = place.read_raw(&name);
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    place.write_raw(&name, bytes);
    let (code, said) = output(slimbox(config, place).args(["verify", "--read-data"]));
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains(&object_key(&sha256(second_data)).to_string()),
        "{said}"
    );
    assert!(said.contains("corrupt"), "{said}");
    assert!(said.contains(&format!("{second_id}@example.com")), "{said}");
    assert!(!said.contains(&format!("{first_id}@example.com")), "{said}");
}

#[test]
fn issue24_encrypted_local_store_cycle() {
    let dir = tempfile::tempdir().unwrap();
    cycle(Place::Local(dir.path().join("encrypted-store")));
}

#[test]
fn issue24_encrypted_s3_store_cycle() {
    cycle(Place::S3(ObjStore::start(Kind::S3)));
}

/// `store copy` of a plain store into an encrypted one, killed after two
/// objects and resumed; then everything from the new store; then a re-key.
#[test]
fn issue24_store_copy_plain_to_encrypted_resumes_then_rekeys() {
    let d = Dovecot::start(DovecotOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let plain = Place::Local(dir.path().join("plain"));
    let config = write_config(&d, dir.path(), &plain.store_toml());
    let seeded = seed(&d, 5, 120_000, 10);
    ok(slimbox(&config, &plain).arg("run"));

    let key = keygen(&dir.path().join("store-key.txt"));
    let new = dir.path().join("encrypted");
    let copy = |to: &FsPath, key: &FsPath| {
        let mut c = slimbox(&config, &plain);
        c.args(["store", "copy", "--to"])
            .arg(to)
            .args(["--set", "encryption=age", "--set"])
            .arg(format!("encryption_key_file={}", key.display()))
            .env_remove("SLIMBOX_TEST_COPY_PAUSE_AFTER");
        c
    };
    let before = std::fs::read_to_string(&config).unwrap();
    let mut child = copy(&new, &key)
        .env("SLIMBOX_TEST_COPY_PAUSE_AFTER", "2")
        .env("SLIMBOX_TEST_PAUSE_FILE", dir.path().join("never"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let paused = stderr
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("slimbox-test: copy paused after 2 objects"));
    assert!(paused, "the copy never reached its pause");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);

    let out = ok(&mut copy(&new, &key));
    assert!(out.contains("5 objects from"), "{out}");
    assert!(
        out.contains("2 verified by the interrupted copy before"),
        "{out}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("encryption = \"age\""), "{text}");
    let encrypted = Place::Local(std::fs::canonicalize(&new).unwrap());
    nothing_plain(&encrypted, &seeded);

    // The plain store is gone: everything from the encrypted one.
    std::fs::rename(dir.path().join("plain"), dir.path().join("old-plain")).unwrap();
    let more = seed(&d, 1, 130_000, 40);
    ok(slimbox(&config, &encrypted).arg("run"));
    let listed = rt().block_on(async {
        let keys = Keys::load(&KeySource::File(key.clone())).unwrap();
        encrypted
            .open()
            .with_encryption(keys)
            .list_hashes()
            .await
            .unwrap()
    });
    let names: Vec<String> = encrypted.raw_objects().into_iter().map(|o| o.0).collect();
    assert_eq!(listed.len(), 6, "{names:#?}");
    for (id, _, data) in seeded.iter().chain(&more) {
        assert!(
            restored(&config, &encrypted, dir.path(), id) == *data,
            "{id}"
        );
    }
    ok(slimbox(&config, &encrypted).args(["reattach", "--message-id", "m10@example.com"]));
    let out = ok(slimbox(&config, &encrypted).args(["verify", "--read-data"]));
    assert!(out.contains("6 objects read and hashed"), "{out}");
    assert!(out.contains("all is well"), "{out}");
    by_hand(&encrypted, &key, dir.path(), &more[0].2);

    rekeyed(&config, &encrypted, dir.path(), &seeded[1].2);
}

/// Re-keyed: a new key, a new store, the config follows.
fn rekeyed(config: &FsPath, encrypted: &Place, dir: &FsPath, data: &[u8]) {
    let key2 = keygen(&dir.join("new-key.txt"));
    let newer = dir.join("rekeyed");
    let mut c = slimbox(config, encrypted);
    c.args(["store", "copy", "--to"])
        .arg(&newer)
        .args(["--set", "encryption=age", "--set"])
        .arg(format!("encryption_key_file={}", key2.display()));
    let out = ok(&mut c);
    assert!(out.contains("6 objects from"), "{out}");
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(&key2.display().to_string()), "{text}");
    let rekeyed = Place::Local(std::fs::canonicalize(&newer).unwrap());
    let out = ok(slimbox(config, &rekeyed).args(["verify", "--read-data"]));
    assert!(out.contains("all is well"), "{out}");
    by_hand(&rekeyed, &key2, dir, data);
}
