use super::*;

fn locks() -> (tempfile::TempDir, Locks) {
    let dir = tempfile::tempdir().unwrap();
    let locks = Locks::beside_index(&dir.path().join("index.sqlite"));
    (dir, locks)
}

fn alice() -> Mailbox {
    Mailbox::new("imap.example.org", 993, "alice")
}

#[test]
fn issue9_a_second_claim_is_refused_as_busy_with_the_holders_details() {
    let (_dir, locks) = locks();
    let first = locks.try_claim(&alice(), "work", "run").unwrap();
    assert!(first.taken_over().is_none());
    let err = locks.try_claim(&alice(), "work", "run").unwrap_err();
    let LockError::Busy { mailbox, holder } = &err else {
        panic!("not busy: {err}");
    };
    assert_eq!(mailbox, "alice@imap.example.org:993");
    let holder = holder.as_ref().expect("the holder is named");
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.host, host_name());
    assert_eq!(holder.command, "run");
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains(&format!("slimbox pid {} on host", std::process::id())),
        "{text}"
    );
    assert!(text.contains("since"), "{text}");
}

#[test]
fn issue9_two_names_of_one_mailbox_collide_and_other_mailboxes_do_not() {
    let (_dir, locks) = locks();
    let _held = locks.try_claim(&alice(), "work", "run").unwrap();
    let same = Mailbox::new("IMAP.example.org", 993, "Alice");
    assert!(locks.try_claim(&same, "other name", "reattach").is_err());
    for other in [
        Mailbox::new("imap.example.org", 143, "alice"),
        Mailbox::new("imap.example.org", 993, "bob"),
        Mailbox::new("mail.example.org", 993, "alice"),
    ] {
        locks
            .try_claim(&other, "x", "run")
            .expect("another mailbox");
    }
}

#[test]
fn issue9_a_released_claim_can_be_taken_again_and_names_nobody() {
    let (_dir, locks) = locks();
    drop(locks.try_claim(&alice(), "work", "run").unwrap());
    let again = locks.try_claim(&alice(), "work", "run").unwrap();
    assert!(again.taken_over().is_none(), "released cleanly");
}

#[test]
fn issue9_a_lock_file_left_by_a_dead_process_is_taken_over() {
    let (dir, locks) = locks();
    let dead = Holder {
        pid: 4_000_000,
        host: "elsewhere".into(),
        since: 1_700_000_000,
        account: "work".into(),
        command: "run".into(),
    };
    let path = dir.path().join("locks").join(alice().file_name());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
    let claim = locks.try_claim(&alice(), "work", "run").unwrap();
    assert_eq!(claim.taken_over(), Some(&dead));
    let now = Holder::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(now.pid, std::process::id(), "the file names the new holder");
    drop(claim);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "",
        "emptied on release"
    );
}

#[test]
fn a_damaged_lock_file_does_not_stop_a_claim() {
    let (dir, locks) = locks();
    let path = dir.path().join("locks").join(alice().file_name());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"\xff\xfe not json").unwrap();
    let claim = locks.try_claim(&alice(), "work", "run").unwrap();
    assert!(claim.taken_over().is_none());
}

#[test]
fn lock_file_names_are_safe_and_distinct() {
    let odd = Mailbox::new("host/../x", 993, "a b/c\\d:e");
    let name = odd.file_name();
    assert!(!name.contains('/') && !name.contains('\\') && !name.contains(' '));
    assert_ne!(
        Mailbox::new("h", 1, "a_b").file_name(),
        Mailbox::new("h", 1, "a b").file_name()
    );
}

#[tokio::test]
async fn issue9_a_waiting_claim_gets_the_mailbox_when_the_holder_lets_go() {
    let (_dir, locks) = locks();
    let held = locks.try_claim(&alice(), "work", "run").unwrap();
    let told = std::sync::atomic::AtomicBool::new(false);
    let release = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        drop(held);
    };
    let mailbox = alice();
    let wait = locks.claim_waiting(&mailbox, "work", "run", |e| {
        assert!(e.is_busy());
        told.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let (claim, ()) = tokio::join!(wait, release);
    claim.expect("claimed after the holder let go");
    assert!(told.load(std::sync::atomic::Ordering::SeqCst));
}
