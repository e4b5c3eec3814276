//! The index the config names, SQLite or PostgreSQL, opened with its
//! password fetched once per service; and `index migrate`, which copies
//! this host's SQLite index into a shared PostgreSQL database.

use std::sync::OnceLock;

use serde::Serialize;

use super::{Service, ServiceError};
use crate::config::{DatabaseConfig, PasswordSource};
use crate::index::{Index, PgTarget};

/// What `index migrate` copied.
#[derive(Debug, Serialize)]
pub struct IndexMigration {
    /// The SQLite file.
    pub from: String,
    /// The database URL (no password).
    pub to: String,
    /// Rows per table, in copy order.
    pub tables: Vec<TableRows>,
    /// The config line naming the password, when one was given.
    pub password_key: Option<String>,
}

/// One table's rows copied.
#[derive(Debug, Serialize)]
pub struct TableRows {
    pub table: &'static str,
    pub rows: u64,
}

/// The database's connection settings, the password fetched.
pub(super) fn target(db: &DatabaseConfig) -> Result<PgTarget, ServiceError> {
    let password = match &db.password {
        Some(source) => Some(source.resolve()?),
        None => None,
    };
    Ok(PgTarget {
        url: db.url.clone(),
        password,
        ca_file: db.ca_file.clone(),
    })
}

impl Service {
    /// Opens the index the config names: its SQLite file, or its
    /// PostgreSQL database (the password fetched on first use only: a
    /// `password_command` runs once per process).
    pub(super) fn open_index(&self, target: &OnceLock<PgTarget>) -> Result<Index, ServiceError> {
        let config = &self.config().index;
        let Some(db) = &config.database else {
            return Ok(Index::open(&config.path)?);
        };
        let target = match target.get() {
            Some(t) => t,
            None => {
                let t = self::target(db)?;
                target.get_or_init(|| t)
            }
        };
        Ok(Index::open_postgres(target)?)
    }

    /// The index's name for messages: its file, or its database URL.
    pub fn index_name(&self) -> String {
        let config = &self.config().index;
        match &config.database {
            Some(db) => db.url.clone(),
            None => config.path.display().to_string(),
        }
    }

    /// Copies this host's SQLite index into the (empty) database `to`,
    /// every mailbox of the config claimed meanwhile so no run writes to
    /// the index while it is copied.
    pub async fn migrate_index(&self, to: &DatabaseConfig) -> Result<IndexMigration, ServiceError> {
        if let Some(db) = &self.config().index.database {
            return Err(ServiceError::AlreadyDatabase {
                url: db.url.clone(),
            });
        }
        let accounts: Vec<_> = self.accounts(None)?.into_iter().cloned().collect();
        let _claims = self.claim_each(&accounts, "slimbox index migrate", |a, e| {
            ServiceError::Account {
                account: a.name.clone(),
                error: Box::new(e.into()),
            }
        })?;
        let source = self.index()?;
        let mut dest = Index::open_postgres(&target(to)?)?;
        let copied = source.copy_into(&mut dest)?;
        Ok(IndexMigration {
            from: self.config().index.path.display().to_string(),
            to: to.url.clone(),
            tables: copied
                .into_iter()
                .map(|(table, rows)| TableRows { table, rows })
                .collect(),
            password_key: to.password.as_ref().map(|p| match p {
                PasswordSource::Env(var) => format!("password_env = {var:?}"),
                PasswordSource::Command(cmd) => format!("password_command = {cmd:?}"),
                PasswordSource::Inline(_) => "password_env = \"...\"".to_string(),
            }),
        })
    }
}
