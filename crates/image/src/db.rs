//! The shared metadata database (SQLite, WAL). Many short berth processes open it at
//! once; a busy timeout turns lock contention into waiting, and every multi-row change
//! runs in a transaction so `kill -9` at any point leaves it consistent.

use rusqlite::config::DbConfig;
use rusqlite::Connection;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("metadata database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("metadata database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("metadata database {path}: making it readable by root only (mode 0600): {source}")]
    Private {
        path: String,
        source: std::io::Error,
    },
}

/// The database holds every container's environment: it is created 0600 before
/// SQLite opens it, and SQLite gives its -wal and -shm files the database's mode.
/// Files an older berth made readable to all are narrowed.
fn make_private(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(db)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let Ok(meta) = std::fs::metadata(&name) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&name, std::fs::Permissions::from_mode(mode & !0o077))?;
        }
    }
    Ok(())
}

pub fn open(root: &Path) -> Result<Connection, DbError> {
    open_with(root, &[])
}

/// Opens the database with this crate's tables and the callers' `schemas` (each a
/// batch of `CREATE … IF NOT EXISTS`).
pub fn open_with(root: &Path, schemas: &[&str]) -> Result<Connection, DbError> {
    let path = root.join("berth.db");
    make_private(&path).map_err(|source| DbError::Private {
        path: path.display().to_string(),
        source,
    })?;
    let conn = Connection::open(&path).map_err(|source| DbError::Open {
        path: path.display().to_string(),
        source,
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, true)?;
    // Every berth command is a short-lived process and usually the database's only
    // connection, so SQLite's default checkpoint-and-delete of the WAL at the last
    // close ran on every command: three fsyncs, a truncate, and the WAL and shared
    // memory files unlinked and created again by the next command (about 2 ms of
    // `run --rm` here, on the critical path). The WAL stays instead and is
    // checkpointed by SQLite's automatic checkpoint when it reaches 1000 pages;
    // with synchronous=NORMAL a crash still leaves the database consistent.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    // But the first connection to open the database (every berth command: no
    // process keeps it open) rebuilds the WAL index by reading and checksumming
    // every frame written since the last checkpoint. At SQLite's default of 1000
    // pages that was up to 4 MB read on every command: `inspect` took 5.2 ms of CPU
    // just before a checkpoint and 1.9 ms just after (issue 11). A checkpoint every
    // 64 pages (about six `run --rm`) costs two fsyncs and keeps that read small.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
    ensure_schema(&conn, schemas)?;
    Ok(conn)
}

/// Creates the tables unless the database says it has them already. Every command
/// opens the database, and SQLite parses each `CREATE … IF NOT EXISTS` before it
/// finds the table there (about 0.2 ms a command on this VM, issue 11). The
/// database's `user_version` records a checksum of the schema text it was given:
/// any change to the text (a new table, another caller's tables) runs the
/// statements again, and they only ever add what is missing. WAL mode is a
/// property of the file, set with the tables.
fn ensure_schema(conn: &Connection, schemas: &[&str]) -> Result<(), DbError> {
    let want = schema_checksum(schemas);
    let have: i32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if have == want {
        return Ok(());
    }
    set_wal(conn)?;
    conn.execute_batch(SCHEMA)?;
    for schema in schemas {
        conn.execute_batch(schema)?;
    }
    conn.pragma_update(None, "user_version", want)?;
    Ok(())
}

/// How long a command waits for another's lock on the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Puts the database in WAL mode (a no-op once it is). Switching a new database
/// takes a write lock from inside the read that looked at its header, and SQLite
/// does not wait for a lock there, whatever the busy timeout: a second command
/// opening the same new database at that moment failed at once with "database is
/// locked" (one round in 40 of six `berth images` on a new root). Retried here
/// for as long as the busy timeout.
fn set_wal(conn: &Connection) -> Result<(), DbError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return Ok(other?),
        }
    }
}

/// FNV-1a of all the schema text, never 0 (a new database's `user_version`).
fn schema_checksum(schemas: &[&str]) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for text in std::iter::once(SCHEMA).chain(schemas.iter().copied()) {
        for byte in text.bytes().chain([0]) {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    match hash as i32 {
        0 => 1,
        sum => sum,
    }
}

/// WAL pages between automatic checkpoints (see [`open`]).
const WAL_CHECKPOINT_PAGES: u32 = 64;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,          -- config digest
    manifest TEXT NOT NULL,       -- manifest digest
    created TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,        -- normalised reference
    image_id TEXT NOT NULL REFERENCES images(id)
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL REFERENCES images(id),
    created TEXT NOT NULL,
    spec TEXT NOT NULL,           -- engine ContainerSpec as JSON
    state TEXT NOT NULL           -- engine ContainerState as JSON
);
";

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let names = st.query_map([], |r| r.get(0)).unwrap();
        names.map(Result::unwrap).collect()
    }

    #[test]
    fn a_new_database_gets_its_tables_and_wal_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path()).unwrap();
        assert_eq!(tables(&conn), ["containers", "images", "tags"]);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let version: i32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema_checksum(&[]));
        drop(conn);
        // Opened again: nothing to create, the tables and rows are as they were.
        let conn = open(dir.path()).unwrap();
        conn.execute("INSERT INTO images VALUES ('i', 'm', 'now', 1)", [])
            .unwrap();
        assert_eq!(tables(&conn), ["containers", "images", "tags"]);
    }

    #[test]
    fn other_schemas_are_added_to_an_existing_database() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()).unwrap());
        let extra = "CREATE TABLE IF NOT EXISTS extra (x TEXT);";
        let conn = open_with(dir.path(), &[extra]).unwrap();
        assert_eq!(tables(&conn), ["containers", "extra", "images", "tags"]);
        // And a database whose recorded schema is not this one's gets it again.
        conn.pragma_update(None, "user_version", 12345).unwrap();
        conn.execute_batch("DROP TABLE extra").unwrap();
        drop(conn);
        let conn = open_with(dir.path(), &[extra]).unwrap();
        assert_eq!(tables(&conn), ["containers", "extra", "images", "tags"]);
    }

    /// Commands that find a new database (or one from before the checksum) at the
    /// same moment all create the tables, and none fails for the others' doing it.
    #[test]
    fn racing_first_opens_all_succeed() {
        for old in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            if old {
                let conn = open(dir.path()).unwrap();
                conn.pragma_update(None, "user_version", 0).unwrap();
            }
            let extra = "CREATE TABLE IF NOT EXISTS extra (x TEXT);";
            let openers: Vec<_> = (0..8)
                .map(|i| {
                    let root = dir.path().to_path_buf();
                    std::thread::spawn(move || match i % 2 {
                        0 => open(&root).map(drop),
                        _ => open_with(&root, &[extra]).map(drop),
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap();
            }
            let conn = open_with(dir.path(), &[extra]).unwrap();
            assert_eq!(tables(&conn), ["containers", "extra", "images", "tags"]);
        }
    }

    #[test]
    fn foreign_keys_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path()).unwrap();
        let orphan = conn.execute("INSERT INTO tags VALUES ('t', 'no-such-image')", []);
        assert!(orphan.is_err(), "a tag of a missing image was stored");
    }
}
