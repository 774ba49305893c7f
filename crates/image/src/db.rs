//! The shared metadata database (SQLite, WAL). Many short berth processes open it at
//! once; a busy timeout turns lock contention into waiting, and every multi-row change
//! runs in a transaction so `kill -9` at any point leaves it consistent.

use rusqlite::config::DbConfig;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

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
    let path = root.join("berth.db");
    make_private(&path).map_err(|source| DbError::Private {
        path: path.display().to_string(),
        source,
    })?;
    let conn = Connection::open(&path).map_err(|source| DbError::Open {
        path: path.display().to_string(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
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
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
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
