//! The audit against a local store and an index in memory, without servers.

use super::*;
use crate::store::{object_key, sha256, PutOptions};

fn never() -> impl AsyncFn(&AccountConfig) -> Result<Session, ConnectError> {
    async |_: &AccountConfig| Err::<Session, ConnectError>("no server in these tests".into())
}

async fn audit(store: &Store, read_data: bool) -> Findings {
    let index = Index::open_in_memory().expect("index");
    let scope = Scope {
        accounts: &[],
        all_accounts: &[],
        read_data,
    };
    run(store, &index, scope, never(), &NoProgress)
        .await
        .expect("audit")
}

#[test]
fn index_users_are_message_ids_or_uids() {
    let by_uid = MessageRef::from_index("a".into(), "Sent".into(), "UID 7".into());
    assert_eq!((by_uid.uid, by_uid.message_id.as_deref()), (Some(7), None));
    let by_id = MessageRef::from_index("a".into(), "Sent".into(), "x@y".into());
    assert_eq!(
        (by_id.uid, by_id.message_id.as_deref()),
        (None, Some("x@y"))
    );
    assert_eq!(by_id.to_string(), "a Sent <x@y>");

    // The server's UID fills in the index entry of the same message.
    let mut list = vec![by_id.clone()];
    MessageRef {
        uid: Some(9),
        ..by_id
    }
    .add_to(&mut list);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].to_string(), "a Sent <x@y> (UID 9)");
}

#[test]
fn problem_kinds_keep_their_json_names() {
    let json = serde_json::to_string(&[ProblemKind::SizeMismatch, ProblemKind::DamagedMessage])
        .expect("json");
    assert_eq!(json, r#"["size-mismatch","damaged-message"]"#);
}

#[tokio::test]
async fn issue8_read_data_reads_orphans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf-8")).expect("store");
    let good = b"an attachment put back with reattach".to_vec();
    store
        .put(&sha256(&good), good.clone().into(), PutOptions::new())
        .await
        .expect("put");
    // A damaged orphan: its content no longer hashes to its name.
    let damaged = sha256(b"another one");
    let path = dir.path().join(object_key(&damaged).to_string());
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"another onE").expect("write");

    // Without read_data both are orphans and nothing is wrong.
    let f = audit(&store, false).await;
    assert!(f.problems.is_empty(), "{f:#?}");
    assert_eq!(f.orphans.len(), 2);
    assert_eq!(f.objects_checked, 0);

    // With it, both are read: the damaged one is a problem, with its file
    // and how to repair it; the good one stays an orphan.
    let f = audit(&store, true).await;
    assert_eq!(f.objects_checked, 2);
    assert_eq!(f.bytes_read, good.len() as u64);
    assert_eq!(f.problems.len(), 1, "{f:#?}");
    let p = &f.problems[0];
    assert_eq!(p.kind, ProblemKind::Corrupt);
    assert_eq!(p.sha256.as_deref(), Some(to_hex(&damaged).as_str()));
    assert!(p.messages.is_empty());
    assert!(
        p.repair
            .contains(&format!("delete the damaged file {}", path.display())),
        "{}",
        p.repair
    );
    assert_eq!(f.orphans.len(), 1);
    assert_eq!(f.orphans[0].sha256, to_hex(&sha256(&good)));
}
