//! The next-step decision for a message the journal shows in flight: a pure
//! function of the journal state and what is on the server now, tested
//! without a server. Whatever it decides keeps the promise: every message
//! ends either untouched or converted, never lost.

use crate::index::JournalState;

/// What the server shows for a journaled message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The original is still in the folder (same UIDVALIDITY, same UID).
    pub original: bool,
    /// A copy byte-identical to the journal's rewritten message is there.
    pub copy: bool,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changed on the server: forget the entry; the message is
    /// untouched and a later run may convert it again.
    Abandon,
    /// The verified copy is there and so is the original: remove the
    /// original, then record the message as done.
    RemoveOriginalAndFinish,
    /// The copy is there, the original gone: record it as done.
    Finish,
    /// Neither is there but the journal holds the rewritten message and the
    /// store holds the rest: APPEND it, verify, then finish.
    AppendAndFinish,
    /// Over quota, the original not yet removed, no copy: remove the
    /// original (proven reconstructible), then APPEND.
    RemoveOriginalThenAppend,
}

/// Decides the next step for a journaled message.
pub fn next_step(state: JournalState, seen: Observed) -> Step {
    use JournalState::*;
    match (state, seen.original, seen.copy) {
        (_, true, true) => Step::RemoveOriginalAndFinish,
        (_, false, true) => Step::Finish,
        // Prepared: the server was not changed (or the APPEND never landed).
        (Prepared, true, false) => Step::Abandon,
        // Prepared and the original gone without a copy: the user removed it
        // in between. Respect that; the objects stay in the store.
        (Prepared, false, false) => Step::Abandon,
        // The copy was made but is gone again while the original is still
        // there: nothing to finish; the original is intact.
        (Appended, true, false) => Step::Abandon,
        // The copy was made, the original removed, and now the copy is gone
        // too: put the rewritten message back rather than lose it.
        (Appended, false, false) => Step::AppendAndFinish,
        (OriginalRemoved, true, false) => Step::RemoveOriginalThenAppend,
        (OriginalRemoved, false, false) => Step::AppendAndFinish,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JournalState::*;

    fn seen(original: bool, copy: bool) -> Observed {
        Observed { original, copy }
    }

    #[test]
    fn every_state_and_observation_has_a_safe_step() {
        // A copy on the server always wins: the original goes, never the copy.
        for s in [Prepared, Appended, OriginalRemoved] {
            assert_eq!(
                next_step(s, seen(true, true)),
                Step::RemoveOriginalAndFinish
            );
            assert_eq!(next_step(s, seen(false, true)), Step::Finish);
        }
        assert_eq!(next_step(Prepared, seen(true, false)), Step::Abandon);
        assert_eq!(next_step(Appended, seen(true, false)), Step::Abandon);
        assert_eq!(
            next_step(Appended, seen(false, false)),
            Step::AppendAndFinish
        );
        assert_eq!(
            next_step(OriginalRemoved, seen(false, false)),
            Step::AppendAndFinish
        );
        assert_eq!(
            next_step(OriginalRemoved, seen(true, false)),
            Step::RemoveOriginalThenAppend
        );
    }

    #[test]
    fn no_step_ever_leaves_neither_copy_when_slimbox_removed_the_original() {
        // When slimbox itself removed the original (Appended after the
        // removal, OriginalRemoved), "neither" must lead to an APPEND.
        for s in [Appended, OriginalRemoved] {
            assert_eq!(next_step(s, seen(false, false)), Step::AppendAndFinish);
        }
    }
}
