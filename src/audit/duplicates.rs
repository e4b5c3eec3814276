//! The check for mail held twice in a folder, and for converted mail the
//! index lost. Reads are bounded: headers for the converted messages and
//! for the unconverted ones large enough to be their originals; whole
//! messages only for the few that share a Message-ID (or INTERNALDATE)
//! and size with a converted one, to prove they are one message by
//! rebuilding the converted copy from the store.

use std::collections::HashMap;

use super::copies::{groups, Known, Seen, FIELDS};
use super::twice_text::{self as text, Place};
use super::Audit;
use crate::imap::{ImapError, Session};
use crate::store::{sha256, Sha256};

/// The folder being checked.
pub(super) struct FolderCtx<'a> {
    pub place: Place<'a>,
    pub uidvalidity: u32,
    pub known: &'a Known,
}

/// What a converted copy rebuilds to.
enum Rebuilt {
    /// The SHA-256 of the original rebuilt from the store.
    Original(Sha256),
    /// It cannot be rebuilt (objects missing or damaged, stubs unreadable).
    Unreadable(String),
    /// Expunged meanwhile.
    Gone,
}

/// Byte-identical converted copies, and what they rebuild to.
struct Class {
    copies: Vec<Seen>,
    rebuilt: Option<Rebuilt>,
}

impl Audit<'_> {
    /// The check for one folder. `converted` are the UIDs carrying the
    /// marker; `digests` the SHA-256 of those downloaded by the object
    /// check.
    pub(super) async fn held_twice(
        &mut self,
        session: &mut Session,
        ctx: &FolderCtx<'_>,
        converted: &[u32],
        digests: &HashMap<u32, Sha256>,
    ) -> Result<(), ImapError> {
        if converted.is_empty() {
            return Ok(());
        }
        let mut all: Vec<Seen> = session
            .fetch_headers(converted, FIELDS)
            .await?
            .into_iter()
            .map(Seen::from_header)
            .filter(Seen::is_converted)
            .collect();
        let (folder, v) = (ctx.place.folder, ctx.uidvalidity);
        for c in &all {
            if !c.is_deleted() && !ctx.known.has_row(folder, v, c) {
                self.other.push(text::not_indexed(&ctx.place, c));
            }
        }
        // An original is as large as the original size its converted copy
        // names: only messages near the smallest such size are looked at.
        // NOTE: mailutils imap4d answers SEARCH LARGER from the size of its
        // LF-only Maildir file, smaller than the RFC822.SIZE it reports
        // (CRLF counted): half the size is a bound no line ending breaks.
        let smallest = all
            .iter()
            .filter_map(|c| c.original_size)
            .filter(|s| *s > 0)
            .min();
        if let Some(min) = smallest {
            let uids = session.search_candidates(min / 2, None).await?;
            if !uids.is_empty() {
                let originals = session.fetch_headers(&uids, FIELDS).await?;
                all.extend(
                    originals
                        .into_iter()
                        .map(Seen::from_header)
                        .filter(|m| !m.is_converted()),
                );
            }
        }
        let busy = |uid: u32| ctx.known.is_in_flight(folder, v, uid);
        for group in groups(all, &busy) {
            self.group(session, ctx, group, digests).await?;
        }
        Ok(())
    }

    /// One set of messages sharing a key: which are one message, proven.
    async fn group(
        &mut self,
        session: &mut Session,
        ctx: &FolderCtx<'_>,
        group: Vec<Seen>,
        digests: &HashMap<u32, Sha256>,
    ) -> Result<(), ImapError> {
        let (copies, originals): (Vec<Seen>, Vec<Seen>) =
            group.into_iter().partition(Seen::is_converted);
        let mut classes = classes(copies, digests);
        // Byte-identical copies need no store; anything else is compared
        // by what the copies rebuild to.
        if classes.len() > 1 || !originals.is_empty() {
            for class in &mut classes {
                class.rebuilt = Some(self.rebuild(session, class.copies[0].uid).await?);
            }
        }
        let mut unreadable: Option<String> = None;
        let mut sets: Vec<(Vec<Seen>, Option<Sha256>, bool)> = Vec::new();
        for class in classes {
            let original = match class.rebuilt {
                Some(Rebuilt::Gone) => continue,
                Some(Rebuilt::Unreadable(why)) => {
                    unreadable.get_or_insert(why);
                    None
                }
                Some(Rebuilt::Original(h)) => Some(h),
                None => None,
            };
            match sets
                .iter_mut()
                .find(|s| original.is_some() && s.1 == original)
            {
                Some(set) => {
                    set.0.extend(class.copies);
                    set.2 = false;
                }
                None => sets.push((class.copies, original, true)),
            }
        }
        for (copies, _, identical) in &mut sets {
            copies.sort_by_key(|c| c.uid);
            self.other
                .extend(text::copies_twice(&ctx.place, copies, *identical));
        }
        let mut unmatched: Vec<Seen> = Vec::new();
        for original in originals {
            let Some(raw) = session.fetch_message(original.uid).await? else {
                continue; // expunged meanwhile
            };
            let h = sha256(&raw);
            match sets.iter().find(|s| s.1 == Some(h)) {
                Some(set) => self
                    .other
                    .push(text::original_beside_copy(&ctx.place, &original, &set.0[0])),
                None => unmatched.push(original),
            }
        }
        // What could not be compared stays a question, never a repair.
        if let Some(why) = unreadable {
            if sets.len() > 1 || !unmatched.is_empty() {
                let mut all: Vec<Seen> = sets.into_iter().flat_map(|s| s.0).collect();
                all.extend(unmatched);
                all.sort_by_key(|m| m.uid);
                self.other
                    .push(text::cannot_compare(&ctx.place, &all, &why));
            }
        }
        Ok(())
    }

    /// What converted message `uid` rebuilds to from the store.
    async fn rebuild(&self, session: &mut Session, uid: u32) -> Result<Rebuilt, ImapError> {
        let Some(raw) = session.fetch_message(uid).await? else {
            return Ok(Rebuilt::Gone);
        };
        Ok(match crate::eml::rebuild(&raw, self.store).await {
            Ok(original) => Rebuilt::Original(sha256(&original)),
            Err(e) => Rebuilt::Unreadable(format!("UID {uid}: {e}")),
        })
    }
}

/// Converted copies split into byte-identical classes (by the SHA-256 of
/// what the object check downloaded; one not downloaded is a class of its
/// own), in UID order.
fn classes(copies: Vec<Seen>, digests: &HashMap<u32, Sha256>) -> Vec<Class> {
    let mut out: Vec<(Option<Sha256>, Class)> = Vec::new();
    for c in copies {
        let d = digests.get(&c.uid).copied();
        match out.iter_mut().find(|(k, _)| d.is_some() && *k == d) {
            Some((_, class)) => class.copies.push(c),
            None => out.push((
                d,
                Class {
                    copies: vec![c],
                    rebuilt: None,
                },
            )),
        }
    }
    out.into_iter().map(|(_, c)| c).collect()
}
