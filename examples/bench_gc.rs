//! The filling side of `scripts/bench-gc`: a local store of OBJECTS small
//! objects and an index of PARTS parts (ten per message) naming them, as
//! `store gc` meets them after years of runs:
//! - 90 % of the objects are named by messages still converted (ten
//!   parts each, every object by ten parts);
//! - 5 % only by messages put back whole (`reattach`): unreferenced;
//! - 5 % by no row at all (a run that stopped before its journal), written
//!   60 days ago: unreferenced too.
//!
//! The messages belong to mailboxes that are not in the bench's config
//! (`user0001`…), so gc trusts their rows (it cannot read their servers);
//! the config's one mailbox is read from the bench's Dovecot.
//!
//! Usage: bench_gc DIR OBJECTS PARTS

use std::io::Write;
use std::path::Path;

use rusqlite::params;
use sha2::{Digest, Sha256};

const PARTS_PER_MESSAGE: u64 = 10;
const OBJECT_BYTES: usize = 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, objects, parts] = args.as_slice() else {
        return Err("usage: bench_gc DIR OBJECTS PARTS".into());
    };
    let dir = Path::new(dir);
    let objects: u64 = objects.parse()?;
    let parts: u64 = parts.parse()?;
    let t = std::time::Instant::now();
    let hashes = write_objects(&dir.join("store"), objects)?;
    println!(
        "objects_written={objects} seconds={:.1}",
        t.elapsed().as_secs_f64()
    );
    let t = std::time::Instant::now();
    let index = slimbox::index::Index::open(&dir.join("index.sqlite"))?;
    fill_index(&index, &hashes, parts)?;
    println!(
        "parts_written={parts} seconds={:.1}",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// OBJECTS distinct objects of 1 KiB; the last 5 % dated 60 days back.
fn write_objects(store: &Path, n: u64) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let orphans_from = n - n / 20;
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60 * 86_400);
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut data = format!("bench object {i}\n").into_bytes();
        data.resize(OBJECT_BYTES, b'.');
        let hex = hex::encode(Sha256::digest(&data));
        let folder = store.join("sha256").join(&hex[..2]);
        std::fs::create_dir_all(&folder)?;
        let path = folder.join(&hex);
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&data)?;
        if i >= orphans_from {
            f.set_modified(old)?;
        }
        out.push(hex);
    }
    Ok(out)
}

/// PARTS parts in messages of ten: live ones over the first 90 % of the
/// objects, reattached ones over the next 5 %.
fn fill_index(
    index: &slimbox::index::Index,
    hashes: &[String],
    parts: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = hashes.len() as u64;
    let live_objects = n - n / 10;
    let reattached_objects = n / 20;
    let messages = parts / PARTS_PER_MESSAGE;
    let reattached_from = messages - messages / 10;
    let conn = index.connection();
    conn.execute_batch("BEGIN")?;
    let mut msg = conn.prepare(
        "INSERT INTO messages (account, folder, uidvalidity, old_uid, new_uid, message_id, date,
           from_addr, to_addr, subject, internal_date, flags, size_before, size_after,
           processed_at, reattached_at)
         VALUES (?1, 'Archive', 1, ?2, ?3, ?4, 1700000000, 'a@example.com', 'b@example.com',
                 'bench', '01-Feb-2024 10:00:00 +0100', '', 20000, 2000, 1700000000, ?5)",
    )?;
    let mut part = conn.prepare(
        "INSERT INTO parts (message, sha256, size, filename, content_type, part_path)
         VALUES (?1, ?2, ?3, 'file.pdf', 'application/pdf', '2')",
    )?;
    let mut obj = conn.prepare(
        "INSERT INTO objects (sha256, size, first_seen, refs) VALUES (?1, ?2, 1700000000, 1)
         ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1",
    )?;
    for m in 0..messages {
        let reattached = m >= reattached_from;
        let account = format!("user{:04}", m % 100 + 1);
        let uid = (m / 100 + 1) as i64;
        let at: Option<i64> = reattached.then_some(1_700_000_100);
        msg.execute(params![account, uid, uid, format!("m{m}@bench"), at])?;
        let id = conn.last_insert_rowid();
        for j in 0..PARTS_PER_MESSAGE {
            let k = m * PARTS_PER_MESSAGE + j;
            let o = if reattached {
                live_objects + k % reattached_objects
            } else {
                k % live_objects
            };
            let h = &hashes[o as usize];
            part.execute(params![id, h, OBJECT_BYTES as i64])?;
            obj.execute(params![h, OBJECT_BYTES as i64])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}
