//! Issue 23: a store that does not only grow. On a private Dovecot, with a
//! local store and with S3 (moto), Azure (Azurite) and GCS
//! (fake-gcs-server): `store gc` deletes the objects of messages the owner
//! expunged only after the grace (time injected with
//! `SLIMBOX_TEST_NOW`), keeps those of a message moved to another folder
//! (whose `restore` and `reattach` still work), of an attachment another
//! mailbox still uses, of a held mailbox and of a run paused between the
//! store and the APPEND; `erase` takes every row and object only its
//! account used, and the other mailboxes' files restore byte for byte.

mod support;

use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};
use slimbox::imap::Session;
use support::dovecot::{Dovecot, DovecotOptions};
use support::mailbox;
use support::objstore::{Kind, ObjStore};
use support::pg::Pg;

const DATE: &str = "01-Feb-2024 10:00:00 +0100";
const DAY: i64 = 86_400;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Where slimbox keeps its objects, and how to look into it.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    server: Option<ObjStore>,
    pg: Option<Pg>,
    /// Set when the store is encrypted ([`Setup::encrypted`]).
    keys: Option<std::sync::Arc<slimbox::store::Keys>>,
}

impl Setup {
    /// alice and bob on `d`, the store local.
    fn new(d: &Dovecot) -> Setup {
        Setup::with_index(d, None, false)
    }

    /// alice and bob on `d`, the store local (`kind` None) or on an
    /// emulated object store (moto's S3, Azurite, fake-gcs-server), the
    /// index in a private PostgreSQL with `pg`.
    fn with_index(d: &Dovecot, kind: Option<Kind>, pg: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = mailbox::write_config(d, dir.path(), "100KiB");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!(
            "[[account]]\nname = \"bob\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"implicit\"\n\
             ca_file = \"{}\"\nuser = \"bob\"\npassword_env = \"SLIMBOX_TEST_PASSWORD_BOB\"\n",
            d.imaps_port,
            d.ca_pem.display()
        ));
        let server = kind.map(ObjStore::start);
        if let Some(s) = &server {
            let local = format!(
                "[store]\nurl = \"{}\"\n",
                dir.path().join("store").display()
            );
            assert!(text.contains(&local), "{text}");
            text = text.replace(&local, &s.store_toml());
        }
        std::fs::write(&config, text).unwrap();
        let pg = pg.then(Pg::start);
        if let Some(pg) = &pg {
            pg.use_in_config(&config);
        }
        Setup {
            dir,
            config,
            server,
            pg,
            keys: None,
        }
    }

    /// The same store encrypted (`[store] encryption = "age"`), with a
    /// key made here.
    fn encrypted(mut self) -> Setup {
        use age::secrecy::ExposeSecret;
        let identity = age::x25519::Identity::generate();
        let secret = identity.to_string().expose_secret().to_string();
        let key = self.dir.path().join("store-key.txt");
        std::fs::write(&key, format!("{secret}\n")).unwrap();
        let text = std::fs::read_to_string(&self.config).unwrap();
        assert!(text.contains("[store]\n"), "{text}");
        let lines = format!(
            "[store]\nencryption = \"age\"\nencryption_key_file = \"{}\"\n",
            key.display()
        );
        // Stubs of an encrypted store link to `serve` (never reached here).
        let text =
            text.replacen("[store]\n", &lines, 1) + "[links]\nbase_url = \"http://127.0.0.1:9\"\n";
        std::fs::write(&self.config, text).unwrap();
        self.keys = Some(slimbox::store::Keys::parse(&secret, "test").unwrap());
        self
    }

    /// Files under `sub` of a local store, with their sizes.
    fn local_files(&self, sub: &str) -> Vec<u64> {
        fn walk(d: &std::path::Path, out: &mut Vec<u64>) {
            for e in std::fs::read_dir(d).into_iter().flatten() {
                let p = e.unwrap().path();
                match p.is_dir() {
                    true => walk(&p, out),
                    false => out.push(std::fs::metadata(&p).unwrap().len()),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("store").join(sub), &mut out);
        out
    }

    fn slimbox(&self) -> Command {
        let mut c = mailbox::slimbox(&self.config);
        c.env("SLIMBOX_TEST_PASSWORD_BOB", "bobpw");
        if let Some(s) = &self.server {
            c.envs(s.env());
        }
        if let Some(pg) = &self.pg {
            c.envs(pg.env());
        }
        c
    }

    /// `slimbox ARGS` at the injected time `at`, which must succeed.
    fn ok_at(&self, at: i64, args: &[&str]) -> String {
        mailbox::ok(
            self.slimbox()
                .env("SLIMBOX_TEST_NOW", at.to_string())
                .args(args),
        )
    }

    /// The hashes the store holds.
    fn stored(&self) -> Vec<String> {
        rt().block_on(async {
            let mut store = match &self.server {
                Some(s) => s.open(),
                None => {
                    slimbox::store::Store::open(self.dir.path().join("store").to_str().unwrap())
                        .unwrap()
                }
            };
            if let Some(k) = &self.keys {
                store = store.with_encryption(k.clone());
            }
            let mut out: Vec<String> = store
                .list_hashes()
                .await
                .unwrap()
                .iter()
                .map(slimbox::store::to_hex)
                .collect();
            out.sort();
            out
        })
    }

    fn restored(&self, id: &str, name: &str) -> Vec<u8> {
        let to = self.dir.path().join(format!("out-{id}"));
        mailbox::ok(
            self.slimbox()
                .args(["restore", "--message-id", id, "--to"])
                .arg(&to),
        );
        std::fs::read(to.join(name)).unwrap()
    }
}

fn hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

async fn login(d: &Dovecot, user: &str) -> Session {
    let pw = if user == "alice" { "alicepw" } else { "bobpw" };
    Session::connect(&mailbox::imap_config(d, user, pw))
        .await
        .expect("login")
}

/// The UID of the message with Message-ID `id` in the selected folder.
async fn uid_of(s: &mut Session, id: &str) -> u32 {
    let uids = s.search_header("Message-ID", id).await.expect("search");
    *uids.first().unwrap_or_else(|| panic!("no message <{id}>"))
}

/// The owner expunges the messages `ids` of `folder`.
fn expunge(d: &Dovecot, user: &str, folder: &str, ids: &[&str]) {
    rt().block_on(async {
        let mut s = login(d, user).await;
        let f = mailbox::folder(&mut s, folder).await;
        s.select(&f).await.expect("select");
        for id in ids {
            let uid = uid_of(&mut s, id).await;
            s.delete_uids(&[uid], None).await.expect("expunge");
        }
        let _ = s.logout().await;
    });
}

/// The owner moves message `id` from `from` to `to`.
fn move_message(d: &Dovecot, from: &str, to: &str, id: &str) {
    rt().block_on(async {
        let mut s = login(d, "alice").await;
        let f = mailbox::folder(&mut s, from).await;
        let t = mailbox::folder(&mut s, to).await;
        s.select(&f).await.expect("select");
        let uid = uid_of(&mut s, id).await;
        s.move_uids(&[uid], &t).await.expect("move");
        let _ = s.logout().await;
    });
}

fn seed(d: &Dovecot, user: &str, folder: &str, msg: &[u8]) {
    rt().block_on(async {
        let mut s = login(d, user).await;
        let f = mailbox::folder(&mut s, folder).await;
        s.append(&f, &[], DATE, msg).await.expect("append");
        let _ = s.logout().await;
    });
}

fn message(id: &str, data: &[u8]) -> Vec<u8> {
    mailbox::with_attachment(
        id,
        id,
        &format!("{id}.pdf"),
        "application/pdf",
        data.to_vec(),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The unreferenced objects a gc reported, with their state.
fn unreferenced(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report["unreferenced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["sha256"].as_str().unwrap().to_string(),
                o["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Expunged: listed by the dry run, kept within the grace, deleted after
/// it (exactly those); moved: kept, and restore and reattach still work.
/// Encrypted: the same, the byte figures the ciphertexts', and each
/// deleted object's ciphertext and pointer gone together.
fn expunged_then_gc(kind: Option<Kind>, pg: bool, encrypted: bool) {
    let d = Dovecot::start(DovecotOptions::default());
    let mut env = Setup::with_index(&d, kind, pg);
    if encrypted {
        env = env.encrypted();
    }
    let files: Vec<Vec<u8>> = (0..5)
        .map(|i| mailbox::noise(150_000, 41 + 2 * i))
        .collect();
    let ids = ["m0", "m1", "m2", "m3", "m4"];
    let msgs: Vec<Vec<u8>> = ids
        .iter()
        .zip(&files)
        .map(|(id, f)| message(id, f))
        .collect();
    for m in &msgs {
        seed(&d, "alice", "Sent", m);
    }
    mailbox::ok(env.slimbox().args(["run", "--account", "alice"]));
    let before = env.stored();
    assert_eq!(before.len(), 5, "{before:?}");

    expunge(&d, "alice", "Sent", &["m0", "m1", "m2"]);
    move_message(&d, "Sent", "Archive", "m3");
    let gone: Vec<String> = {
        let mut g: Vec<String> = files[..3].iter().map(|f| hex(f)).collect();
        g.sort();
        g
    };
    let t0 = now();

    let dry = json(&env.ok_at(t0, &["store", "gc", "--dry-run", "--json"]));
    let listed: Vec<String> = unreferenced(&dry).into_iter().map(|(h, _)| h).collect();
    assert_eq!(listed, gone, "{dry:#}");
    assert_eq!(dry["unreferenced_objects"], 3, "{dry:#}");
    assert!(
        dry["unreferenced_bytes"].as_u64().unwrap() >= 3 * 150_000,
        "{dry:#}"
    );
    if encrypted {
        let cipher = env.local_files("age");
        assert_eq!(cipher.len(), 5, "{cipher:?}");
        assert_eq!(
            dry["stored_bytes"].as_u64().unwrap(),
            cipher.iter().sum::<u64>(),
            "{dry:#}"
        );
    }
    let text = env.ok_at(t0, &["store", "gc", "--dry-run"]);
    assert!(
        text.contains(&gone[0]) && text.contains("waiting until"),
        "{text}"
    );

    // Within the grace: recorded, nothing deleted.
    let first = json(&env.ok_at(t0, &["store", "gc", "--json"]));
    assert_eq!(first["deleted_objects"], 0, "{first:#}");
    assert_eq!(
        first["rows_relocated"], 1,
        "the moved message's row follows it: {first:#}"
    );
    assert_eq!(env.stored(), before);
    let later = json(&env.ok_at(t0 + 29 * DAY, &["store", "gc", "--json"]));
    assert_eq!(later["deleted_objects"], 0, "{later:#}");
    let stats = json(&mailbox::ok(
        env.slimbox().args(["stats", "--store", "--json"]),
    ));
    assert_eq!(stats["waiting_objects"], 3, "{stats:#}");

    // After it: exactly those.
    let after = json(&env.ok_at(t0 + 31 * DAY, &["store", "gc", "--json"]));
    assert_eq!(after["deleted_objects"], 3, "{after:#}");
    let deleted: Vec<String> = unreferenced(&after)
        .into_iter()
        .filter(|(_, s)| s == "deleted")
        .map(|(h, _)| h)
        .collect();
    assert_eq!(deleted, gone);
    let mut kept: Vec<String> = files[3..].iter().map(|f| hex(f)).collect();
    kept.sort();
    assert_eq!(env.stored(), kept);
    if encrypted {
        assert_eq!(env.local_files("age").len(), 2, "ciphertexts left");
        assert_eq!(env.local_files("age-ix").len(), 2, "pointers left");
        assert!(after["deleted_bytes"].as_u64().unwrap() > 3 * 150_000);
    }
    mailbox::ok(env.slimbox().args(["verify", "--read-data"]));

    // The moved message: its file restores, and it is put back whole.
    assert_eq!(env.restored("m3@example.com", "m3.pdf"), files[3]);
    let back = mailbox::ok(
        env.slimbox()
            .args(["reattach", "--message-id", "m3@example.com"]),
    );
    assert!(back.contains("whole again"), "{back}");
    let archive = rt().block_on(mailbox::snapshot(&d, "Archive"));
    assert!(
        archive.values().any(|m| m.bytes == msgs[3]),
        "m3 is whole again in Archive"
    );
    // A second gc at the same time has nothing left to do.
    let again = json(&env.ok_at(t0 + 31 * DAY, &["store", "gc", "--json"]));
    assert_eq!(again["deleted_objects"], 0, "{again:#}");
    if encrypted {
        // Erase: alice's last objects go, ciphertexts and pointers both.
        let erased = json(&mailbox::ok(env.slimbox().args([
            "erase",
            "--account",
            "alice",
            "--yes",
            "--json",
        ])));
        assert_eq!(erased["objects"].as_array().unwrap().len(), 2, "{erased:#}");
        assert!(env.stored().is_empty());
        assert!(env.local_files("age").is_empty());
        assert!(env.local_files("age-ix").is_empty());
    }
}

#[test]
fn issue23_gc_takes_expunged_objects_after_the_grace_local() {
    expunged_then_gc(None, false, false);
}

#[test]
fn issue23_gc_takes_expunged_objects_after_the_grace_s3() {
    expunged_then_gc(Some(Kind::S3), false, false);
}

#[test]
fn issue23_gc_takes_expunged_objects_after_the_grace_encrypted() {
    expunged_then_gc(None, false, true);
}

#[test]
fn issue23_gc_takes_expunged_objects_after_the_grace_azure() {
    expunged_then_gc(Some(Kind::Azure), false, false);
}

#[test]
fn issue23_gc_takes_expunged_objects_after_the_grace_gcs() {
    expunged_then_gc(Some(Kind::Gcs), false, false);
}

#[test]
fn issue23_gc_takes_expunged_objects_after_the_grace_postgres_index() {
    expunged_then_gc(None, true, false);
}

#[test]
fn issue23_shared_held_and_erased() {
    shared_held_erased(None, false);
}

#[test]
fn issue23_shared_held_and_erased_postgres_index() {
    shared_held_erased(None, true);
}

#[test]
fn issue23_shared_held_and_erased_azure() {
    shared_held_erased(Some(Kind::Azure), false);
}

#[test]
fn issue23_shared_held_and_erased_gcs() {
    shared_held_erased(Some(Kind::Gcs), false);
}

/// Shared objects, hold, release, erase.
fn shared_held_erased(kind: Option<Kind>, pg: bool) {
    let d = Dovecot::start(DovecotOptions::default());
    let env = Setup::with_index(&d, kind, pg);
    let shared = mailbox::noise(200_000, 61);
    let only_a = mailbox::noise(200_000, 63);
    let only_b = mailbox::noise(200_000, 65);
    let kept_b = mailbox::noise(200_000, 67);
    seed(&d, "alice", "Sent", &message("sa", &shared));
    seed(&d, "alice", "Sent", &message("a1", &only_a));
    seed(&d, "bob", "Sent", &message("sb", &shared));
    seed(&d, "bob", "Sent", &message("b1", &only_b));
    seed(&d, "bob", "Sent", &message("b2", &kept_b));
    mailbox::ok(env.slimbox().arg("run"));
    assert_eq!(env.stored().len(), 4);
    let t0 = now();

    // alice drops the shared file; bob still has it. Her row of it names
    // nothing unreferenced: gc drops it at once (issue 23 follow-up: it
    // used to stay forever).
    expunge(&d, "alice", "Sent", &["sa"]);
    let first = json(&env.ok_at(t0, &["store", "gc", "--json"]));
    assert_eq!(first["rows_dropped"], 1, "{first:#}");
    assert_eq!(first["unreferenced_objects"], 0, "{first:#}");
    let list = json(&mailbox::ok(env.slimbox().args(["list", "--json"])));
    let alice = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["account"] == "alice")
        .count();
    assert_eq!(alice, 1, "only a1's row is left: {list:#}");
    env.ok_at(t0 + 31 * DAY, &["store", "gc"]);
    assert!(env.stored().contains(&hex(&shared)), "bob still uses it");

    // bob is held: his expunged file stays, and he cannot be erased.
    let held = mailbox::ok(
        env.slimbox()
            .args(["hold", "bob", "--by", "legal", "--note", "case 7"]),
    );
    assert!(held.contains("held (by legal"), "{held}");
    expunge(&d, "bob", "Sent", &["b1"]);
    env.ok_at(t0 + 31 * DAY, &["store", "gc"]);
    env.ok_at(t0 + 100 * DAY, &["store", "gc"]);
    assert!(env.stored().contains(&hex(&only_b)), "held");
    let out = env
        .slimbox()
        .args(["erase", "--account", "bob", "--yes"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("legal hold"),
        "{said}"
    );
    assert!(env.stored().contains(&hex(&only_b)));

    // Released: gc takes it after the grace.
    let lifted = mailbox::ok(env.slimbox().args(["release", "bob"]));
    assert!(lifted.contains("lifted"), "{lifted}");
    env.ok_at(t0 + 100 * DAY, &["store", "gc"]);
    assert!(
        env.stored().contains(&hex(&only_b)),
        "grace starts at release"
    );
    env.ok_at(t0 + 131 * DAY, &["store", "gc"]);
    assert!(
        !env.stored().contains(&hex(&only_b)),
        "released and past the grace"
    );

    // Erase alice: her own file, rows and readable copies go at once; the
    // file bob shares stays and restores byte for byte.
    let erased = json(&mailbox::ok(env.slimbox().args([
        "erase",
        "--account",
        "alice",
        "--yes",
        "--json",
    ])));
    let objects: Vec<&str> = erased["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(objects, [hex(&only_a).as_str()], "{erased:#}");
    // Her row of the expunged shared message went at the first gc: she
    // names nothing bob uses any more.
    assert_eq!(erased["shared_kept"], 0, "{erased:#}");
    assert!(!env.stored().contains(&hex(&only_a)));
    assert!(env.stored().contains(&hex(&shared)));
    let list = json(&mailbox::ok(env.slimbox().args(["list", "--json"])));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["account"] != "alice"),
        "{list:#}"
    );
    assert!(!env.dir.path().join("store/files/alice").exists());
    assert_eq!(env.restored("sb@example.com", "sb.pdf"), shared);
    assert_eq!(env.restored("b2@example.com", "b2.pdf"), kept_b);
    mailbox::ok(
        env.slimbox()
            .args(["verify", "--read-data", "--account", "bob"]),
    );
}

/// A gc while a run of bob is paused between the store and the APPEND
/// takes nothing that run stored, and the run finishes.
#[test]
fn issue23_gc_leaves_a_run_in_flight_alone() {
    let d = Dovecot::start(DovecotOptions::default());
    let env = Setup::new(&d);
    let files: Vec<Vec<u8>> = (0..3)
        .map(|i| mailbox::noise(150_000, 71 + 2 * i))
        .collect();
    for (i, f) in files.iter().enumerate() {
        seed(&d, "bob", "Sent", &message(&format!("r{i}"), f));
    }
    // alice's expunged file is due while bob's run is in flight.
    let old = mailbox::noise(150_000, 81);
    seed(&d, "alice", "Sent", &message("old", &old));
    mailbox::ok(env.slimbox().args(["run", "--account", "alice"]));
    expunge(&d, "alice", "Sent", &["old"]);
    let t0 = now();
    env.ok_at(t0, &["store", "gc"]);
    let pause = env.dir.path().join("go");
    let mut child = env
        .slimbox()
        .args(["run", "--account", "bob"])
        .env("SLIMBOX_TEST_PAUSE_AT", "prepared")
        .env("SLIMBOX_TEST_PAUSE_FILE", &pause)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_pause(&mut child);
    let stored = env.stored();
    assert!(!stored.is_empty());
    // Far after any grace, twice: still nothing of that run goes, and
    // the deletions due wait while a mailbox is busy.
    let far = t0 + 400 * DAY;
    env.ok_at(far, &["store", "gc"]);
    let busy = json(&env.ok_at(far + 31 * DAY, &["store", "gc", "--json"]));
    assert_eq!(
        busy["deferred_busy"],
        serde_json::json!(["bob"]),
        "{busy:#}"
    );
    assert_eq!(busy["deleted_objects"], 0, "{busy:#}");
    for h in &stored {
        assert!(env.stored().contains(h), "the run's object {h} was taken");
    }
    std::fs::write(&pause, b"").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the run finishes");
    let done = json(&env.ok_at(far + 31 * DAY, &["store", "gc", "--json"]));
    assert_eq!(done["deleted_objects"], 1, "{done:#}");
    assert!(!env.stored().contains(&hex(&old)));
    for (i, f) in files.iter().enumerate() {
        assert_eq!(
            &env.restored(&format!("r{i}@example.com"), &format!("r{i}.pdf")),
            f
        );
    }
    mailbox::ok(
        env.slimbox()
            .args(["verify", "--read-data", "--account", "bob"]),
    );
}

/// Reads the child's stderr until the test hook says it paused.
fn wait_for_pause(child: &mut std::process::Child) {
    use std::io::{BufRead, BufReader};
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("slimbox-test: paused at prepared") {
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return;
        }
    }
    panic!("the run never paused: {seen}");
}
