use super::*;
use crate::index::{MessageRecord, PartRecord};

fn rec(account: &str, uid: u32, shas: &[&str]) -> MessageRecord {
    MessageRecord {
        account: account.into(),
        folder: "Sent".into(),
        uidvalidity: 7,
        old_uid: uid,
        new_uid: Some(uid + 100),
        message_id: Some(format!("{account}{uid}@x")),
        date: None,
        from: None,
        to: None,
        subject: None,
        internal_date: "01-Feb-2024 10:00:00 +0100".into(),
        flags: Vec::new(),
        size_before: 1000,
        size_after: 100,
        parts: shas
            .iter()
            .map(|h| PartRecord {
                sha256: h.to_string(),
                size: 10,
                filename: "f".into(),
                content_type: "application/pdf".into(),
                part_path: "2".into(),
                raw_sha256: None,
            })
            .collect(),
    }
}

fn add(idx: &mut Index, r: &MessageRecord) -> i64 {
    let j = idx.journal_begin(r, b"x").unwrap();
    idx.journal_finish(j, r).unwrap()
}

fn del(h: &str) -> Deletion {
    Deletion {
        sha256: h.into(),
        size: 10,
        stored_size: 10,
    }
}

#[test]
fn issue23_hold_and_release_are_recorded_with_who_and_when() {
    let mut idx = Index::open_in_memory().unwrap();
    assert_eq!(idx.hold("a", "root", "case 7", 100).unwrap(), None);
    let again = idx.hold("a", "bob", "", 200).unwrap().unwrap();
    assert_eq!((again.by.as_str(), again.at), ("root", 100));
    assert_eq!(idx.holds().unwrap().len(), 1);
    assert!(idx.release("b", "root", "", 300).unwrap().is_none());
    assert!(idx.release("a", "carol", "closed", 300).unwrap().is_some());
    assert!(idx.hold_on("a").unwrap().is_none());
    let ev = idx.hold_events(Some("a")).unwrap();
    let seen: Vec<_> = ev
        .iter()
        .map(|e| (e.action.as_str(), e.by.as_str(), e.at))
        .collect();
    assert_eq!(seen, [("hold", "root", 100), ("release", "carol", 300)]);
}

#[test]
fn issue23_intent_keeps_back_what_a_row_or_the_journal_still_names() {
    let mut idx = Index::open_in_memory().unwrap();
    let gone = add(&mut idx, &rec("a", 1, &["aa", "bb"]));
    add(&mut idx, &rec("b", 1, &["bb"]));
    idx.journal_begin(&rec("c", 1, &["cc"]), b"x").unwrap();
    let chosen = idx
        .gc_begin(&[del("aa"), del("bb"), del("cc")], &[gone], "gc", 5)
        .unwrap();
    assert_eq!(chosen, vec![del("aa")]);
    assert_eq!(idx.gc_pending().unwrap(), vec![del("aa")]);
    // The totals lost the dropped message.
    let stats = idx.stats().unwrap();
    assert_eq!(
        stats.iter().map(|s| s.account.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    idx.gc_done(&["aa".into()]).unwrap();
    assert!(idx.gc_pending().unwrap().is_empty());
}

#[test]
fn issue23_relocation_moves_the_row_and_its_totals() {
    let mut idx = Index::open_in_memory().unwrap();
    let id = add(&mut idx, &rec("a", 1, &["aa"]));
    idx.relocate_message(id, "Archive", 9, 4).unwrap();
    let stats = idx.stats().unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].folder.as_str(), stats[0].parts), ("Archive", 1));
    let copies = idx.indexed_copies("a").unwrap();
    assert_eq!((copies[0].uidvalidity, copies[0].uid), (9, Some(4)));
}

#[test]
fn issue23_erasure_takes_every_row_of_the_account_and_is_refused_when_held() {
    let mut idx = Index::open_in_memory().unwrap();
    add(&mut idx, &rec("a", 1, &["aa", "bb"]));
    add(&mut idx, &rec("b", 1, &["bb"]));
    idx.record_skip("a", "Sent", 7, 9, "small").unwrap();
    let mine = idx.account_objects("a").unwrap();
    assert_eq!(mine.len(), 2);
    let shared = idx.used_by_others("a", &mine).unwrap();
    assert_eq!(shared, HashSet::from(["bb".to_string()]));
    idx.hold("a", "root", "", 1).unwrap();
    assert!(idx
        .erase_account("a", &[del("aa")], "root", 2)
        .unwrap()
        .is_err());
    assert_eq!(idx.account_rows("a").unwrap(), 3);
    idx.release("a", "root", "", 3).unwrap();
    let rows = idx
        .erase_account("a", &[del("aa")], "root", 4)
        .unwrap()
        .unwrap();
    assert_eq!((rows.messages, rows.parts), (1, 2));
    assert_eq!(idx.account_rows("a").unwrap(), 0);
    assert_eq!(idx.account_rows("b").unwrap(), 2);
    assert_eq!(idx.gc_pending().unwrap(), vec![del("aa")]);
}
