//! When each account's last run went through without trouble: the
//! `slimbox_last_success_timestamp_seconds` of `run --metrics-file`, kept
//! here so that a run that fails still reports the last one that did not.

use super::{Index, IndexError};

impl Index {
    /// Notes that `account`'s run ended well at `at` (unix seconds).
    pub fn record_success(&self, account: &str, at: i64) -> Result<(), IndexError> {
        self.db.conn().execute(
            "INSERT INTO last_success (account, at) VALUES ($1, $2)
             ON CONFLICT (account) DO UPDATE SET at = excluded.at",
            params![account, at],
        )?;
        Ok(())
    }

    /// When `account`'s run last ended well; `None`: never (or not since
    /// this index was made).
    pub fn last_success(&self, account: &str) -> Result<Option<i64>, IndexError> {
        self.db
            .conn()
            .query_opt(
                "SELECT at FROM last_success WHERE account = $1",
                params![account],
            )?
            .map(|mut r| r.int(0))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_last_success_is_kept_per_account() {
        let index = Index::open_in_memory().expect("index");
        assert_eq!(index.last_success("a").expect("read"), None);
        index.record_success("a", 100).expect("write");
        index.record_success("b", 50).expect("write");
        index.record_success("a", 200).expect("write");
        assert_eq!(index.last_success("a").expect("read"), Some(200));
        assert_eq!(index.last_success("b").expect("read"), Some(50));
    }
}
