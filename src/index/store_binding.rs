//! Which store an index belongs to (issue 21). An index records what was
//! moved into one store: used with another, it would send `restore`,
//! `verify` and links to objects that are not there, and two stores
//! sharing one index would mix their records. So the first store an index
//! is opened with binds it, and any other is refused, naming both; `store
//! copy`, which moves the objects, moves the binding with them.

use super::{Index, IndexError};
use crate::dates::now_unix;

impl Index {
    /// The identity of the store this index belongs to, if it is bound.
    pub fn bound_store(&self) -> Result<Option<String>, IndexError> {
        self.db
            .conn()
            .query_opt("SELECT store FROM store_binding WHERE id = 1", &[])?
            .map(|mut r| r.text(0))
            .transpose()
    }

    /// Checks that this index belongs to the store `store` (its
    /// `Store::identity`): an index bound to another store is refused with
    /// [`IndexError::OtherStore`]; one not bound yet (made before issue 21)
    /// is bound to `store` now.
    pub fn bind_store(&self, store: &str) -> Result<(), IndexError> {
        // Two processes binding a new index at once: the first insert wins,
        // and the other compares with it like any later open.
        self.db.conn().execute(
            "INSERT INTO store_binding (id, store, bound_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO NOTHING",
            params![store, now_unix()],
        )?;
        match self.bound_store()? {
            Some(bound) if bound != store => Err(IndexError::OtherStore {
                index: self.path.clone(),
                bound,
                store: store.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Binds this index to `store`, whatever it was bound to: for `store
    /// copy`, once the config names the store the objects were copied to.
    pub fn rebind_store(&self, store: &str) -> Result<(), IndexError> {
        self.db.conn().execute(
            "INSERT INTO store_binding (id, store, bound_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET store = excluded.store, bound_at = excluded.bound_at",
            params![store, now_unix()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue21_first_store_binds_and_another_is_refused() {
        let index = Index::open_in_memory().expect("index");
        assert_eq!(index.bound_store().expect("read"), None);
        index.bind_store("file:///srv/a").expect("adopt");
        index.bind_store("file:///srv/a").expect("same store");
        let err = index.bind_store("file:///srv/b").unwrap_err();
        assert!(
            matches!(&err, IndexError::OtherStore { bound, store, .. }
                if bound == "file:///srv/a" && store == "file:///srv/b"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("file:///srv/a")
                && text.contains("file:///srv/b")
                && text.contains("slimbox store copy")
                && text.contains("[index] path"),
            "{text}"
        );
        assert!(!err.is_transient());
        index.rebind_store("file:///srv/b").expect("rebind");
        index.bind_store("file:///srv/b").expect("moved");
        assert!(index.bind_store("file:///srv/a").is_err());
    }
}
