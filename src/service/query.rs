//! What the index knows, read without touching a mailbox: the detached
//! parts (`list`, the page), the totals (`stats`), and fresh signed links
//! to a file or to a mailbox's page (`link`, `page`).

use super::{policy, Service, ServiceError};
use crate::index::{FolderStats, PartFilter, PartRow};

/// A signed link to one detached file.
#[derive(Debug, Clone)]
pub struct FileLink {
    pub sha256: String,
    /// The file name as the link carries it (cut where the link would be
    /// too long).
    pub name: String,
    pub link: String,
}

impl Service {
    /// The detached parts `filter` matches, newest first.
    pub fn find_parts(&self, filter: &PartFilter) -> Result<Vec<PartRow>, ServiceError> {
        Ok(self.index()?.find_parts(filter)?)
    }

    /// [`Service::find_parts`] on a blocking thread (SQLite), for async
    /// callers such as `serve`'s handlers; [`ServiceError::Thread`] when
    /// the read stopped abnormally.
    pub async fn find_parts_blocking(
        &self,
        filter: PartFilter,
    ) -> Result<Vec<PartRow>, ServiceError> {
        let service = self.clone();
        tokio::task::spawn_blocking(move || service.find_parts(&filter))
            .await
            .unwrap_or_else(|e| {
                Err(ServiceError::Thread(format!(
                    "reading the index stopped: {e}"
                )))
            })
    }

    /// Per account and folder: what was moved, stored and saved.
    pub fn stats(&self) -> Result<Vec<FolderStats>, ServiceError> {
        Ok(self.index()?.stats()?)
    }

    /// A fresh signed link under `base` to the file whose SHA-256 is
    /// `given` (any case, spaces around), named `name` or as the index
    /// knows it.
    pub fn file_link(
        &self,
        base: &str,
        given: &str,
        name: Option<&str>,
        expires: Option<u64>,
    ) -> Result<FileLink, ServiceError> {
        let sha = given.trim().to_ascii_lowercase();
        if crate::store::parse_hex(&sha).is_none() {
            return Err(ServiceError::NotSha256 {
                given: given.to_string(),
            });
        }
        let known = self.find_parts(&PartFilter {
            sha256_prefix: Some(sha.clone()),
            include_reattached: true,
            limit: Some(1),
            ..PartFilter::default()
        })?;
        let Some(row) = known.into_iter().find(|r| r.sha256 == sha) else {
            return Err(ServiceError::UnknownFile {
                sha256: sha,
                index: self.index_name(),
            });
        };
        let name = crate::mime::safe_name(name.unwrap_or(&row.filename));
        let secret = crate::links::Secret::load_or_create(&self.config().links.secret_file)
            .map_err(|error| ServiceError::Sign {
                what: "link",
                error,
            })?;
        // A name too long for a 100-character link is cut in it (issue 19).
        let (link, name) = secret.file_link_named(base, &sha, &name, expires);
        Ok(FileLink {
            sha256: sha,
            name,
            link,
        })
    }

    /// A fresh signed link under `base` to account `account`'s page.
    pub fn page_link(
        &self,
        base: &str,
        account: &str,
        expires: Option<u64>,
    ) -> Result<String, ServiceError> {
        policy::page_link(self.config(), base, account, expires)
    }
}
