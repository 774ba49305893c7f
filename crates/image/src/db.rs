//! The shared metadata database (SQLite, WAL). Many short berth processes open it at
//! once; a busy timeout turns lock contention into waiting, and every multi-row change
//! runs in a transaction so `kill -9` at any point leaves it consistent.

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
}

pub fn open(root: &Path) -> Result<Connection, DbError> {
    let path = root.join("berth.db");
    let conn = Connection::open(&path).map_err(|source| DbError::Open {
        path: path.display().to_string(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

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
