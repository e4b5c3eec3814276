use super::*;

const DAY: i64 = 86_400;

fn h(n: u8) -> Sha256 {
    [n; 32]
}

fn stored(n: u8, modified: i64) -> Stored {
    Stored {
        hash: h(n),
        stored_size: 100,
        modified,
    }
}

fn rules(now: i64) -> Rules {
    Rules {
        now,
        grace: 30 * DAY,
        wall: now,
    }
}

#[test]
fn issue23_two_phases_deletion_only_after_the_grace() {
    let seen = Seen {
        known: HashSet::from([h(1)]),
        ..Seen::default()
    };
    let now = 1000 * DAY;
    let first = verdict(&stored(1, 0), &seen, None, rules(now));
    assert_eq!(
        first,
        Verdict::Waiting {
            since: now,
            due: now + 30 * DAY
        }
    );
    let later = verdict(&stored(1, 0), &seen, Some(now), rules(now + 29 * DAY));
    assert!(matches!(later, Verdict::Waiting { .. }));
    let after = verdict(&stored(1, 0), &seen, Some(now), rules(now + 30 * DAY));
    assert_eq!(after, Verdict::Due { since: now });
}

#[test]
fn issue23_referenced_held_scoped_and_recent_objects_are_kept() {
    let now = 1000 * DAY;
    let mut seen = Seen {
        referenced: HashSet::from([h(1)]),
        known: HashSet::from([h(1), h(2)]),
        ..Seen::default()
    };
    assert_eq!(
        verdict(&stored(1, 0), &seen, Some(0), rules(now)),
        Verdict::Referenced
    );
    // No row names it, written a minute ago: a run's write in flight.
    assert_eq!(
        verdict(&stored(3, now - 60), &seen, None, rules(now)),
        Verdict::Recent
    );
    // A clock set ahead does not make a fresh write old.
    let ahead = Rules {
        wall: now - 400 * DAY,
        ..rules(now)
    };
    assert_eq!(
        verdict(&stored(3, now - 399 * DAY), &seen, None, ahead),
        Verdict::Recent
    );
    // Older than the grace: an orphan, a candidate.
    assert!(matches!(
        verdict(&stored(3, now - 31 * DAY), &seen, None, rules(now)),
        Verdict::Waiting { .. }
    ));
    seen.spare_unknown = true;
    assert_eq!(
        verdict(&stored(3, 0), &seen, Some(0), rules(now)),
        Verdict::Recent
    );
    seen.scope = Some(HashSet::from([h(1)]));
    assert_eq!(
        verdict(&stored(2, 0), &seen, Some(0), rules(now)),
        Verdict::OutOfScope
    );
}

fn copy(folder: &str, uid: u32, id: &str, objects: &[u8]) -> Copy {
    Copy {
        folder: folder.into(),
        uidvalidity: 1,
        uid: Some(uid),
        message_id: Some(id.into()),
        objects: objects.iter().map(|n| h(*n)).collect(),
    }
}

#[test]
fn issue23_a_moved_message_is_relocated_an_expunged_one_is_gone() {
    let rows = BTreeMap::from([
        (1, copy("Sent", 5, "a@x", &[1])),
        (2, copy("Sent", 6, "b@x", &[2])),
        (3, copy("Sent", 7, "c@x", &[3])),
    ]);
    let found = vec![
        copy("Sent", 5, "a@x", &[1]),
        copy("Archive", 1, "b@x", &[2]),
    ];
    let fate = match_rows(&rows, &found);
    assert_eq!(fate.relocate, vec![(2, copy("Archive", 1, "b@x", &[2]))]);
    assert_eq!(fate.gone, BTreeMap::from([(3, vec![h(3)])]));
}

#[test]
fn issue23_forms_of_one_object_are_one() {
    let o = |c: bool, size| StoredObject {
        hash: h(1),
        compressed: c,
        stored_size: size,
        modified: 5,
    };
    let merged = merge_forms(vec![o(false, 10), o(true, 3)]);
    assert_eq!(
        merged,
        vec![Stored {
            hash: h(1),
            stored_size: 13,
            modified: 5
        }]
    );
}
