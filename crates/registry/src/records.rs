//! What berth remembers about blobs for later pushes, in the shared metadata
//! database: where each blob is known to live (so a push can mount it from another
//! repository on the same registry), and the compressed form made once for a
//! locally built (uncompressed) layer.

use rusqlite::{params, Connection, OptionalExtension};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS blob_sources (
    digest TEXT NOT NULL,
    registry TEXT NOT NULL,
    repository TEXT NOT NULL,
    PRIMARY KEY (digest, registry, repository)
);
CREATE TABLE IF NOT EXISTS compressed_layers (
    diff_id TEXT PRIMARY KEY,     -- the uncompressed layer
    digest TEXT NOT NULL,         -- its gzip blob in the blob store
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL
);
";

pub fn ensure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

pub fn add_source(
    conn: &Connection,
    digest: &str,
    registry: &str,
    repository: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO blob_sources (digest, registry, repository) VALUES (?1, ?2, ?3)",
        params![digest, registry, repository],
    )?;
    Ok(())
}

/// Repositories on `registry` known to hold `digest`.
pub fn sources(conn: &Connection, digest: &str, registry: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT repository FROM blob_sources WHERE digest = ?1 AND registry = ?2 ORDER BY repository",
    )?;
    let rows = stmt
        .query_map(params![digest, registry], |r| r.get(0))?
        .collect();
    rows
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

pub fn compressed(conn: &Connection, diff_id: &str) -> rusqlite::Result<Option<Compressed>> {
    conn.query_row(
        "SELECT digest, media_type, size FROM compressed_layers WHERE diff_id = ?1",
        params![diff_id],
        |r| {
            Ok(Compressed {
                digest: r.get(0)?,
                media_type: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        },
    )
    .optional()
}

pub fn remember_compressed(
    conn: &Connection,
    diff_id: &str,
    c: &Compressed,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO compressed_layers (diff_id, digest, media_type, size) VALUES (?1, ?2, ?3, ?4)",
        params![diff_id, c.digest, c.media_type, c.size as i64],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_sources_and_compressed_forms() {
        let conn = Connection::open_in_memory().unwrap();
        ensure(&conn).unwrap();
        add_source(&conn, "sha256:a", "r:5000", "x/y").unwrap();
        add_source(&conn, "sha256:a", "r:5000", "x/y").unwrap();
        add_source(&conn, "sha256:a", "other", "z").unwrap();
        assert_eq!(sources(&conn, "sha256:a", "r:5000").unwrap(), ["x/y"]);
        let c = Compressed {
            digest: "sha256:g".into(),
            media_type: "gz".into(),
            size: 3,
        };
        assert_eq!(compressed(&conn, "sha256:d").unwrap(), None);
        remember_compressed(&conn, "sha256:d", &c).unwrap();
        assert_eq!(compressed(&conn, "sha256:d").unwrap(), Some(c));
    }
}
