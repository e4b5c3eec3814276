//! `quota_target` (issue 25): the mailbox down to a share of its quota,
//! losing as few attachments as needed. Pure: from the usage now, the
//! limit, and each candidate's estimated saving and target, which
//! candidates move, in a stated order:
//!
//! 1. candidates without a target (a rule or account that sets none) all
//!    move, as without this key;
//! 2. then the others, largest saving first, oldest first among equals
//!    (then by folder and UID, so the choice is the same every time); each
//!    moves only while the projected usage is above its target.
//!
//! A saving is estimated low on purpose ([`saving`]): the mailbox then ends
//! at or under its target, never above it for want of a byte.

use serde::Serialize;

/// What one candidate brings to the choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Bytes the mailbox is estimated to shrink by when it moves.
    pub saving: u64,
    /// INTERNALDATE, Unix seconds: the older moves first among equals.
    pub date: i64,
    /// The target that applies to it, in percent of the limit; `None`:
    /// none (it always moves).
    pub target: Option<u8>,
}

/// The choice: which items move, and the usage it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// One per item, in the items' order.
    pub moves: Vec<bool>,
    /// The projected usage once every chosen item moved.
    pub after: u64,
}

/// The bytes `percent` of `limit` come to.
pub fn target_bytes(limit: u64, percent: u8) -> u64 {
    (limit as u128 * u128::from(percent) / 100) as u64
}

/// The least a message is expected to shrink by: the bytes its detached
/// parts take in the message (encoded, from BODYSTRUCTURE), less a
/// generous allowance for the stub and the note each part leaves.
pub fn saving(attachment_bytes: u64, parts: usize) -> u64 {
    const STUB_PER_PART: u64 = 4096;
    attachment_bytes.saturating_sub(STUB_PER_PART * parts as u64)
}

/// Chooses the items that move (see the module doc), from `usage` bytes
/// now and a quota of `limit` bytes.
pub fn choose(usage: u64, limit: u64, items: &[Item]) -> Choice {
    let mut moves: Vec<bool> = items.iter().map(|i| i.target.is_none()).collect();
    let mut after = items
        .iter()
        .filter(|i| i.target.is_none())
        .fold(usage, |u, i| u.saturating_sub(i.saving));
    for k in order(items) {
        let Some(percent) = items[k].target else {
            continue;
        };
        if after > target_bytes(limit, percent) {
            moves[k] = true;
            after = after.saturating_sub(items[k].saving);
        }
    }
    Choice { moves, after }
}

/// The items' indices in the order they are considered: largest saving
/// first, oldest first among equals, then as given.
fn order(items: &[Item]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (&items[a], &items[b]);
        y.saving
            .cmp(&x.saving)
            .then(x.date.cmp(&y.date))
            .then(a.cmp(&b))
    });
    idx
}

/// Where the mailbox stands against its target, for `scan`, the run's
/// report and the metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    /// The quota's limit in bytes (the server's, or the account's `quota`).
    pub limit_bytes: u64,
    /// Whence the limit: `"server"` (QUOTA) or `"config"` (`quota = ...`).
    pub limit_from: String,
    /// The target, in percent of the limit, and in bytes.
    pub target_percent: u8,
    pub target_bytes: u64,
    /// Usage when the plan was made.
    pub usage_bytes: u64,
    /// Projected usage once what is planned has moved.
    pub usage_after_bytes: u64,
    /// Candidates planned to move, and their estimated saving.
    pub moving: usize,
    pub moving_saving: u64,
    /// Candidates left alone because the target is reached without them.
    pub left: usize,
}

impl TargetReport {
    /// For people: "usage 3.6 MiB of 3.0 MiB (120%), target 80% (2.4 MiB):
    /// 5 message(s) move, about 1.4 MiB, to 2.2 MiB (73%); 3 left alone".
    pub fn text(&self) -> String {
        use crate::units::human_size;
        let pct = |b: u64| b.saturating_mul(100) / self.limit_bytes.max(1);
        format!(
            "usage {} of {} ({}%), target {}% ({}): {} message(s) move, about {}, to {} ({}%); \
             {} left alone",
            human_size(self.usage_bytes),
            human_size(self.limit_bytes),
            pct(self.usage_bytes),
            self.target_percent,
            human_size(self.target_bytes),
            self.moving,
            human_size(self.moving_saving),
            human_size(self.usage_after_bytes),
            pct(self.usage_after_bytes),
            self.left,
        )
    }
}

/// Where a run left the mailbox against its target, for the run's
/// report, the owner report and the metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetEnd {
    pub target_percent: u8,
    pub target_bytes: u64,
    pub limit_bytes: u64,
    /// Whence the limit, as [`TargetReport::limit_from`].
    pub limit_from: String,
    /// Usage when the run planned.
    pub usage_before_bytes: u64,
    /// Usage when the run ended; `None` when it could not be read.
    pub usage_after_bytes: Option<u64>,
    /// At or under the target when the run ended.
    pub reached: Option<bool>,
}

impl TargetEnd {
    /// From the run's plan; the end is filled in when the run ends.
    pub fn planned(t: &TargetReport) -> TargetEnd {
        TargetEnd {
            target_percent: t.target_percent,
            target_bytes: t.target_bytes,
            limit_bytes: t.limit_bytes,
            limit_from: t.limit_from.clone(),
            usage_before_bytes: t.usage_bytes,
            usage_after_bytes: None,
            reached: None,
        }
    }

    /// The usage at the end of the run.
    pub fn ended_at(&mut self, usage: u64) {
        self.usage_after_bytes = Some(usage);
        self.reached = Some(usage <= self.target_bytes);
    }

    /// For people: "3.2 MiB of 4.0 MiB (80%), target 80%: reached".
    pub fn text(&self) -> String {
        use crate::units::human_size;
        let Some(after) = self.usage_after_bytes else {
            return format!("target {}%: usage at the end unknown", self.target_percent);
        };
        let word = if self.reached == Some(true) {
            "reached"
        } else {
            "not reached"
        };
        format!(
            "{} of {} ({}%), target {}%: {word}",
            human_size(after),
            human_size(self.limit_bytes),
            after.saturating_mul(100) / self.limit_bytes.max(1),
            self.target_percent
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(saving: u64, date: i64, target: Option<u8>) -> Item {
        Item {
            saving,
            date,
            target,
        }
    }

    #[test]
    fn issue25_largest_first_and_stop_at_the_target() {
        // 120 of 100, target 80: 40 to free.
        let items = [
            item(10, 1, Some(80)),
            item(30, 5, Some(80)),
            item(20, 2, Some(80)),
            item(5, 0, Some(80)),
        ];
        let c = choose(120, 100, &items);
        // 30 (120 -> 90), then 20 (90 -> 70): at or under 80, stop.
        assert_eq!(c.moves, [false, true, true, false]);
        assert_eq!(c.after, 70);
        // Converting everything would give 55: only what was needed moved.
        assert!(c.after > 120 - 65);
    }

    #[test]
    fn issue25_oldest_first_among_equal_savings() {
        let items = [
            item(30, 9, Some(80)),
            item(30, 3, Some(80)),
            item(30, 5, Some(80)),
        ];
        let c = choose(110, 100, &items);
        assert_eq!(c.moves, [false, true, false]);
        assert_eq!(c.after, 80, "at the target is enough");
    }

    #[test]
    fn issue25_under_the_target_nothing_moves() {
        let items = [item(30, 1, Some(80)), item(10, 2, Some(80))];
        let c = choose(70, 100, &items);
        assert_eq!(c.moves, [false, false]);
        assert_eq!(c.after, 70);
    }

    #[test]
    fn issue25_without_a_target_a_candidate_always_moves_and_counts() {
        // An Archive rule without a target takes 25 first; INBOX's targeted
        // candidates then need only 15 more.
        let items = [
            item(25, 1, None),
            item(20, 2, Some(80)),
            item(15, 3, Some(80)),
        ];
        let c = choose(120, 100, &items);
        assert_eq!(c.moves, [true, true, false]);
        assert_eq!(c.after, 75);
        // Each candidate by its own target: a stricter one goes further.
        let items = [item(20, 2, Some(80)), item(15, 3, Some(60))];
        let c = choose(100, 100, &items);
        assert_eq!(c.moves, [true, true]);
        assert_eq!(c.after, 65);
    }

    #[test]
    fn issue25_savings_are_estimated_low_and_targets_in_bytes() {
        assert_eq!(saving(300_000, 1), 300_000 - 4096);
        assert_eq!(saving(1000, 1), 0);
        assert_eq!(target_bytes(3_000_000, 80), 2_400_000);
        assert_eq!(target_bytes(u64::MAX, 100), u64::MAX);
        let r = TargetReport {
            limit_bytes: 1000,
            limit_from: "server".into(),
            target_percent: 80,
            target_bytes: 800,
            usage_bytes: 1200,
            usage_after_bytes: 700,
            moving: 2,
            moving_saving: 500,
            left: 1,
        };
        let t = r.text();
        assert!(t.contains("(120%)") && t.contains("target 80%"), "{t}");
        assert!(
            t.contains("2 message(s) move") && t.contains("(70%)"),
            "{t}"
        );
    }
}
