//! The store side of the audit: the objects the index references (a.) and
//! the objects nothing references, the orphans (c.).

use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use super::findings::{MessageRef, Orphan, Problem};
use super::{Audit, Batch};
use crate::index::ObjectRefs;
use crate::store::{object_key, parse_hex, to_hex, Sha256, Store, StoreError};

/// Objects looked up at once (metadata only).
const HEAD_CONCURRENCY: usize = 16;
/// Objects read at once with `read_data` (each streamed, a batch of it in
/// memory at a time).
const READ_CONCURRENCY: usize = crate::store::READS_IN_FLIGHT;

/// What the store holds under one hash.
#[derive(Debug, Clone)]
pub(super) enum ObjectState {
    Good,
    Missing,
    /// Stored size differs from the size the index knows.
    WrongSize {
        actual: u64,
        expected: u64,
    },
    /// Content hashes to something else (the hex of what it hashes to).
    Corrupt {
        actual: String,
    },
    /// The store could not be asked.
    Unreadable(String),
}

impl Audit<'_> {
    /// a. Every object the index references is in the store (and, with
    /// `read_data`, intact).
    pub(super) async fn indexed(&mut self, refs: Vec<ObjectRefs>) {
        let mut users: HashMap<Sha256, Vec<MessageRef>> = HashMap::new();
        let mut todo: Vec<(Sha256, u64)> = Vec::new();
        for r in refs {
            let who = r
                .users
                .into_iter()
                .map(|(a, f, w)| MessageRef::from_index(a, f, w));
            match parse_hex(&r.sha256) {
                Some(h) => {
                    let list = users.entry(h).or_insert_with(|| {
                        todo.push((h, r.size));
                        Vec::new()
                    });
                    who.for_each(|u| u.add_to(list));
                }
                None => self.other.push(Problem::bad_hash(&r.sha256, who.collect())),
            }
        }
        for (h, state) in self.check_all(Batch::Indexed, todo).await {
            let list = users.remove(&h).unwrap_or_default();
            self.note(&h, state, list);
        }
    }

    /// c. Objects in the store nothing knows of. With `read_data` each is
    /// read too: the next message carrying that attachment would rely on
    /// it, since the store never overwrites an object.
    pub(super) async fn orphans(&mut self) {
        let all = match self.store.list_hashes().await {
            Ok(all) => all,
            Err(e) => {
                self.other.push(Problem::unlisted(&e.to_string()));
                return;
            }
        };
        let unknown = all.into_iter().filter(|h| !self.known.contains_key(h));
        let store = self.store;
        let sized: Vec<(Sha256, Option<u64>)> = futures::stream::iter(
            unknown.map(|h| async move { (h, store.size(&h).await.ok().flatten()) }),
        )
        .buffered(HEAD_CONCURRENCY)
        .collect()
        .await;
        let mut not_orphans: HashSet<Sha256> = HashSet::new();
        if self.read_data {
            let todo = sized.iter().map(|(h, s)| (*h, s.unwrap_or(0))).collect();
            for (h, state) in self.check_all(Batch::Orphans, todo).await {
                if !matches!(state, ObjectState::Good) {
                    not_orphans.insert(h);
                }
                // Gone since the listing: nothing to report.
                if !matches!(state, ObjectState::Missing) {
                    self.note(&h, state, Vec::new());
                }
            }
        }
        self.findings.orphans = sized
            .into_iter()
            .filter(|(h, _)| !not_orphans.contains(h))
            .map(|(h, size)| Orphan {
                sha256: to_hex(&h),
                key: object_key(&h).to_string(),
                size,
            })
            .collect();
    }

    /// Checks the objects `todo` (hash, size known beforehand or 0), a
    /// few at a time, reporting progress as `batch`.
    async fn check_all(
        &mut self,
        batch: Batch,
        todo: Vec<(Sha256, u64)>,
    ) -> Vec<(Sha256, ObjectState)> {
        let bytes = todo.iter().map(|t| t.1).sum();
        self.progress.checking(batch, todo.len() as u64, bytes);
        let (store, read) = (self.store, self.read_data);
        let checks = futures::stream::iter(todo.into_iter().map(|(h, size)| async move {
            let (state, read_bytes) = check_object(store, &h, size, read).await;
            (h, size, state, read_bytes)
        }))
        .buffer_unordered(if read {
            READ_CONCURRENCY
        } else {
            HEAD_CONCURRENCY
        });
        futures::pin_mut!(checks);
        let mut out = Vec::new();
        while let Some((h, size, state, read_bytes)) = checks.next().await {
            self.findings.objects_checked += 1;
            self.findings.bytes_read += read_bytes;
            self.progress.checked(size.max(read_bytes));
            out.push((h, state));
        }
        self.progress.done(batch);
        out
    }

    /// An object a processed message on the server needs that the index
    /// does not know: asked of the store directly, once.
    pub(super) async fn check_unindexed(&mut self, h: &Sha256) -> ObjectState {
        if let Some(s) = self.known.get(h) {
            return s.clone();
        }
        let (state, read_bytes) = check_object(self.store, h, 0, self.read_data).await;
        self.findings.objects_checked += 1;
        self.findings.bytes_read += read_bytes;
        self.known.insert(*h, state.clone());
        state
    }
}

/// Looks at one object: present and of the known size (0: not known), or
/// (with `read`) read through and hashed. Returns the state and the bytes read.
async fn check_object(store: &Store, h: &Sha256, size: u64, read: bool) -> (ObjectState, u64) {
    if read {
        // Streamed and hashed as it comes: never held whole in memory.
        return match store.check(h).await {
            // The content hashes right: the object is good whatever size
            // the index noted.
            Ok(len) => (ObjectState::Good, len),
            Err(StoreError::NotFound { .. }) => (ObjectState::Missing, 0),
            Err(StoreError::Corrupt { actual, .. }) => (ObjectState::Corrupt { actual }, 0),
            Err(e) => (ObjectState::Unreadable(e.to_string()), 0),
        };
    }
    match store.size(h).await {
        Ok(None) => (ObjectState::Missing, 0),
        // Size 0 in the index means "not known" (objects holding a raw
        // encoded body are recorded without one).
        Ok(Some(actual)) if size > 0 && actual != size => (
            ObjectState::WrongSize {
                actual,
                expected: size,
            },
            0,
        ),
        Ok(Some(_)) => (ObjectState::Good, 0),
        Err(e) => (ObjectState::Unreadable(e.to_string()), 0),
    }
}
