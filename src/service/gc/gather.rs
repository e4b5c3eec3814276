//! What a gc decides on: the store's listing, the holds, the converted
//! messages on each mailbox's server (read-only), every index row (one at
//! a time) and the journal, gathered into [`plan::Seen`] and the rows'
//! fate ([`plan::Rows`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::plan::{self, Copy, Rows, Seen, Stored};
use super::GcReport;
use crate::config::AccountConfig;
use crate::index::{Index, IndexedPart};
use crate::service::{account, ServiceError};
use crate::store::{parse_hex, Sha256, Store};

/// Everything the decisions need.
pub(super) struct Gathered {
    pub stored: Vec<Stored>,
    pub seen: Seen,
    pub rows: Rows,
    /// Original sizes of the objects the index knows (readable copies have
    /// this size).
    pub sizes: HashMap<String, u64>,
}

pub(super) async fn gather(
    store: &Store,
    index: &Index,
    accounts: &[AccountConfig],
    scope: Option<&str>,
    report: &mut GcReport,
) -> Result<Gathered, ServiceError> {
    let stored = plan::merge_forms(store.list_objects().await?);
    let held: HashSet<String> = index.holds()?.into_iter().map(|h| h.account).collect();
    report.held = held.iter().cloned().collect();
    report.held.sort();
    let mut seen = Seen {
        scope: scope.map(|_| HashSet::new()),
        ..Seen::default()
    };
    let found = read_servers(accounts, &mut seen, report).await;
    seen.spare_unknown = !report.accounts_not_read.is_empty();
    let mut rows: HashMap<String, BTreeMap<i64, Copy>> = HashMap::new();
    let mut raw: HashMap<i64, Vec<Sha256>> = HashMap::new();
    index.for_each_part(&mut |p: IndexedPart| {
        let Some(h) = parse_hex(&p.sha256) else {
            return;
        };
        let r = p.raw_sha256.as_deref().and_then(parse_hex);
        seen.known.insert(h);
        seen.known.extend(r);
        if let Some(s) = seen
            .scope
            .as_mut()
            .filter(|_| scope == Some(p.account.as_str()))
        {
            s.insert(h);
            s.extend(r);
        }
        if held.contains(&p.account) {
            seen.referenced.insert(h);
            seen.referenced.extend(r);
        } else if p.reattached {
            // Put back whole: the message needs none of its objects.
        } else if found.contains_key(&p.account) {
            let row = rows.entry(p.account.clone()).or_default();
            let copy = row.entry(p.message).or_insert_with(|| Copy {
                folder: p.folder.clone(),
                uidvalidity: p.uidvalidity,
                uid: p.uid,
                message_id: p.message_id.clone(),
                objects: Vec::new(),
            });
            copy.objects.push(h);
            raw.entry(p.message).or_default().extend(r);
        } else {
            // A mailbox not read this time: its rows keep their objects.
            seen.referenced.insert(h);
            seen.referenced.extend(r);
        }
    })?;
    for (_, h) in index.journal_objects()? {
        seen.referenced.extend(parse_hex(&h));
    }
    let out = fate(rows, raw, &found);
    Ok(Gathered {
        stored,
        seen,
        rows: out,
        sizes: index.object_sizes()?,
    })
}

/// Reads each mailbox's server: its converted messages' objects are
/// referenced; a mailbox that cannot be read whole is said in `report`.
async fn read_servers(
    accounts: &[AccountConfig],
    seen: &mut Seen,
    report: &mut GcReport,
) -> HashMap<String, Vec<Copy>> {
    let mut found = HashMap::new();
    for a in accounts {
        match read_server(a).await {
            Ok((copies, raw)) => {
                for c in &copies {
                    seen.referenced.extend(c.objects.iter().copied());
                }
                seen.referenced.extend(raw);
                found.insert(a.name.clone(), copies);
                report.accounts_read.push(a.name.clone());
            }
            Err(why) => report.accounts_not_read.push((a.name.clone(), why)),
        }
    }
    found
}

/// The fate of the read mailboxes' rows; a gone row's objects include
/// the raw bodies it named.
fn fate(
    rows: HashMap<String, BTreeMap<i64, Copy>>,
    mut raw: HashMap<i64, Vec<Sha256>>,
    found: &HashMap<String, Vec<Copy>>,
) -> Rows {
    let mut out = Rows::default();
    for (account, mut mine) in rows {
        for c in mine.values_mut() {
            c.objects.sort_unstable();
            c.objects.dedup();
        }
        let on_server = found.get(&account).map_or(&[][..], Vec::as_slice);
        let fate = plan::match_rows(&mine, on_server);
        out.relocate.extend(fate.relocate);
        for (id, mut objects) in fate.gone {
            objects.extend(raw.remove(&id).unwrap_or_default());
            out.gone.insert(id, objects);
        }
    }
    out
}

/// The converted messages of one mailbox (with their objects) and the raw
/// bodies they name; `Err`: why the server could not be read whole.
async fn read_server(a: &AccountConfig) -> Result<(Vec<Copy>, Vec<Sha256>), String> {
    let mut session = account::connect(a)
        .await
        .map_err(|e| crate::service::chain(&e))?;
    let (found, findings) = crate::rebuild::converted_messages(&mut session, &a.name).await;
    // Nothing was changed on the server: a failed goodbye loses nothing.
    let _ = session.logout().await;
    if let Some(f) = findings.first() {
        return Err(f.to_string());
    }
    let mut raw = Vec::new();
    let copies = found
        .into_iter()
        .map(|r| {
            let rec = r.record;
            let mut objects: Vec<Sha256> = rec
                .parts
                .iter()
                .filter_map(|p| parse_hex(&p.sha256))
                .collect();
            raw.extend(
                rec.parts
                    .iter()
                    .filter_map(|p| p.raw_sha256.as_deref().and_then(parse_hex)),
            );
            objects.sort_unstable();
            objects.dedup();
            Copy {
                folder: rec.folder,
                uidvalidity: rec.uidvalidity,
                uid: rec.new_uid,
                message_id: rec.message_id,
                objects,
            }
        })
        .collect();
    Ok((copies, raw))
}
