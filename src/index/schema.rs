//! The numbered migrations of the index schema. Migration N brings the
//! database from `user_version` N-1 to N; never edit one that has shipped,
//! add the next.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: processed messages, their parts, objects, the journal, skips.
    "CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        old_uid INTEGER NOT NULL,
        new_uid INTEGER,
        message_id TEXT,
        date INTEGER,
        from_addr TEXT,
        to_addr TEXT,
        subject TEXT,
        internal_date TEXT NOT NULL,
        flags TEXT NOT NULL,
        size_before INTEGER NOT NULL,
        size_after INTEGER NOT NULL,
        processed_at INTEGER NOT NULL
    );
    CREATE INDEX messages_message_id ON messages (message_id);
    CREATE INDEX messages_date ON messages (date);
    CREATE INDEX messages_from ON messages (from_addr);
    CREATE INDEX messages_account_folder ON messages (account, folder);
    CREATE TABLE parts (
        id INTEGER PRIMARY KEY,
        message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        part_path TEXT NOT NULL,
        raw_sha256 TEXT
    );
    CREATE INDEX parts_sha256 ON parts (sha256);
    CREATE INDEX parts_filename ON parts (filename);
    CREATE INDEX parts_message ON parts (message);
    CREATE TABLE objects (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        refs INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        old_uid INTEGER NOT NULL,
        new_uid INTEGER,
        state TEXT NOT NULL,
        rewritten BLOB NOT NULL,
        record TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX journal_message ON journal (account, folder, uidvalidity, old_uid);
    CREATE TABLE skipped (
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (account, folder, uidvalidity, uid)
    ) WITHOUT ROWID;",
    // 2: reattach: when a message was put back whole, and what kind of
    // replacement a journal entry is (detach or reattach).
    "ALTER TABLE messages ADD COLUMN reattached_at INTEGER;
    ALTER TABLE journal ADD COLUMN kind TEXT NOT NULL DEFAULT 'detach';
    ALTER TABLE journal ADD COLUMN message INTEGER;
    CREATE INDEX parts_size ON parts (size);",
    // 3: running totals per folder, kept by triggers, so `stats` reads a
    // few rows instead of joining every part (seconds on a million parts).
    // `folder_objects` counts the distinct objects each folder uses.
    "CREATE TABLE folder_totals (
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        messages INTEGER NOT NULL DEFAULT 0,
        parts INTEGER NOT NULL DEFAULT 0,
        bytes_removed INTEGER NOT NULL DEFAULT 0,
        part_bytes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account, folder)
    ) WITHOUT ROWID;
    CREATE TABLE folder_objects (
        account TEXT NOT NULL,
        folder TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        refs INTEGER NOT NULL,
        PRIMARY KEY (account, folder, sha256)
    ) WITHOUT ROWID;
    INSERT INTO folder_totals (account, folder, messages, bytes_removed)
        SELECT account, folder, COUNT(*), SUM(size_before - size_after)
          FROM messages WHERE reattached_at IS NULL GROUP BY account, folder;
    INSERT INTO folder_objects (account, folder, sha256, size, refs)
        SELECT m.account, m.folder, p.sha256, MAX(p.size), COUNT(*)
          FROM parts p JOIN messages m ON m.id = p.message
         WHERE m.reattached_at IS NULL GROUP BY m.account, m.folder, p.sha256;
    UPDATE folder_totals SET
        parts = (SELECT COALESCE(SUM(refs), 0) FROM folder_objects o
                  WHERE o.account = folder_totals.account AND o.folder = folder_totals.folder),
        part_bytes = (SELECT COALESCE(SUM(size * refs), 0) FROM folder_objects o
                  WHERE o.account = folder_totals.account AND o.folder = folder_totals.folder);
    CREATE TRIGGER messages_totals AFTER INSERT ON messages WHEN NEW.reattached_at IS NULL BEGIN
        INSERT INTO folder_totals (account, folder, messages, bytes_removed)
        VALUES (NEW.account, NEW.folder, 1, NEW.size_before - NEW.size_after)
        ON CONFLICT (account, folder) DO UPDATE SET
            messages = messages + 1, bytes_removed = bytes_removed + excluded.bytes_removed;
    END;
    CREATE TRIGGER parts_totals AFTER INSERT ON parts BEGIN
        INSERT INTO folder_totals (account, folder, parts, part_bytes)
        SELECT account, folder, 1, NEW.size FROM messages
         WHERE id = NEW.message AND reattached_at IS NULL
        ON CONFLICT (account, folder) DO UPDATE SET
            parts = parts + 1, part_bytes = part_bytes + excluded.part_bytes;
        INSERT INTO folder_objects (account, folder, sha256, size, refs)
        SELECT account, folder, NEW.sha256, NEW.size, 1 FROM messages
         WHERE id = NEW.message AND reattached_at IS NULL
        ON CONFLICT (account, folder, sha256) DO UPDATE SET refs = refs + 1;
    END;
    CREATE TRIGGER messages_reattached_totals AFTER UPDATE OF reattached_at ON messages
    WHEN OLD.reattached_at IS NULL AND NEW.reattached_at IS NOT NULL BEGIN
        UPDATE folder_totals SET
            messages = messages - 1,
            bytes_removed = bytes_removed - (OLD.size_before - OLD.size_after),
            parts = parts - (SELECT COUNT(*) FROM parts WHERE message = OLD.id),
            part_bytes = part_bytes - (SELECT COALESCE(SUM(size), 0) FROM parts WHERE message = OLD.id)
         WHERE account = OLD.account AND folder = OLD.folder;
        UPDATE folder_objects SET refs = refs -
            (SELECT COUNT(*) FROM parts WHERE message = OLD.id AND parts.sha256 = folder_objects.sha256)
         WHERE account = OLD.account AND folder = OLD.folder
           AND sha256 IN (SELECT sha256 FROM parts WHERE message = OLD.id);
        DELETE FROM folder_objects
         WHERE account = OLD.account AND folder = OLD.folder AND refs <= 0;
    END;",
    // 4: objects the store holds zstd-compressed (`[store] compress`), with
    // the bytes each takes there; an object not listed is stored as it is.
    "CREATE TABLE IF NOT EXISTS compressed_objects (
        sha256 TEXT PRIMARY KEY,
        stored_size INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 5: when each account's last run went through without trouble (unix
    // seconds), for `run --metrics-file`: it must survive runs that fail.
    "CREATE TABLE IF NOT EXISTS last_success (
        account TEXT PRIMARY KEY,
        at INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 6: the removal batch a journal entry's original was in when slimbox
    // set out to remove it (issue 25), so recovery tells slimbox's removal
    // from the owner's. No row: no removal started. 0: an entry an older
    // slimbox left at `appended`, which cannot say (treated as slimbox's,
    // as that slimbox did).
    // A table of its own, kept by a trigger, so the migration can run
    // again over itself.
    "CREATE TABLE IF NOT EXISTS journal_removal (
        entry INTEGER PRIMARY KEY,
        batch INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO journal_removal (entry, batch)
        SELECT id, 0 FROM journal WHERE state = 'appended';
    CREATE TRIGGER IF NOT EXISTS journal_removal_closed AFTER DELETE ON journal BEGIN
        DELETE FROM journal_removal WHERE entry = OLD.id;
    END;",
    // 7: the store this index belongs to (`Store::identity`, issue 21), so
    // that a config naming another store with the same index is refused.
    // One row at most; none: not yet bound (the next open with a store
    // binds it). Can run again over itself.
    "CREATE TABLE IF NOT EXISTS store_binding (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        store TEXT NOT NULL,
        bound_at INTEGER NOT NULL
    );",
    // 8: reclaiming the store (issue 23). `holds`: mailboxes under legal
    // hold, `hold_events` who held and released them when. `gc_candidates`:
    // objects a `store gc` found unreferenced, since when (deleted once
    // they stay so for `[retention] grace`). `gc_deleting`: deletions
    // decided and not yet finished (the intent, written before the object
    // goes, so that the next gc or erase finishes them). `gc_last`: what
    // the last gc found, for `stats --store`. `erasures`: who erased which
    // account when, and what went. Plain SQL that PostgreSQL runs too
    // (BIGINT, no WITHOUT ROWID); can run again over itself.
    "CREATE TABLE IF NOT EXISTS holds (
        account TEXT PRIMARY KEY,
        held_by TEXT NOT NULL,
        held_at BIGINT NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE IF NOT EXISTS hold_events (
        account TEXT NOT NULL,
        action TEXT NOT NULL,
        by_user TEXT NOT NULL,
        at BIGINT NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE IF NOT EXISTS gc_candidates (
        sha256 TEXT PRIMARY KEY,
        first_unreferenced_at BIGINT NOT NULL,
        stored_size BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS gc_deleting (
        sha256 TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        stored_size BIGINT NOT NULL,
        reason TEXT NOT NULL,
        at BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS gc_last (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at BIGINT NOT NULL,
        objects BIGINT NOT NULL,
        stored_bytes BIGINT NOT NULL,
        referenced_objects BIGINT NOT NULL,
        referenced_bytes BIGINT NOT NULL,
        unreferenced_objects BIGINT NOT NULL,
        unreferenced_bytes BIGINT NOT NULL,
        deleted_objects BIGINT NOT NULL,
        deleted_bytes BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS erasures (
        account TEXT NOT NULL,
        by_user TEXT NOT NULL,
        at BIGINT NOT NULL,
        messages BIGINT NOT NULL,
        objects BIGINT NOT NULL,
        bytes BIGINT NOT NULL
    );",
];
