//! Container rows in the shared SQLite database.

use crate::model::{Container, ContainerSpec, ContainerState};
use berth_image::db::DbError;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("container id prefix {0:?} is ambiguous; give more of the id or the name")]
    Ambiguous(String),
    #[error("the container name \"/{0}\" is already in use; remove that container (berth rm {0}) or choose another name")]
    NameInUse(String),
    #[error("container {id} has unreadable metadata: {why}")]
    Corrupt { id: String, why: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(DbError::Sql(e))
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn from_row(row: &Row) -> rusqlite::Result<(String, String, String, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode(raw: (String, String, String, String, String, String)) -> Result<Container, StoreError> {
    let (id, name, image_id, created, spec, state) = raw;
    let corrupt = |why: serde_json::Error| StoreError::Corrupt {
        id: id.clone(),
        why: why.to_string(),
    };
    Ok(Container {
        spec: serde_json::from_str(&spec).map_err(corrupt)?,
        state: serde_json::from_str(&state).map_err(corrupt)?,
        id,
        name,
        image_id,
        created,
    })
}

const COLUMNS: &str = "id, name, image_id, created, spec, state";

pub fn insert(conn: &Connection, c: &Container) -> Result<(), StoreError> {
    let r = conn.execute(
        &format!("INSERT INTO containers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            c.id,
            c.name,
            c.image_id,
            c.created,
            to_json(&c.spec),
            to_json(&c.state)
        ],
    );
    match r {
        Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("name") =>
        {
            Err(StoreError::NameInUse(c.name.clone()))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Changes a container's spec like [`update_state`]: only `network
/// connect`/`disconnect` change it after create.
pub fn update_spec<R>(
    conn: &Connection,
    id: &str,
    change: impl FnOnce(&mut ContainerSpec) -> R,
) -> Result<R, StoreError> {
    read_modify_write(conn, id, "spec", |c| &mut c.spec, change)
}

/// Changes a container's state with `change`, read and written back in one
/// transaction, so that concurrent changes by other berth processes (the monitor's
/// boot updates, `network connect`, `stop`…) are never lost. Returns what `change`
/// returned.
pub fn update_state<R>(
    conn: &Connection,
    id: &str,
    change: impl FnOnce(&mut ContainerState) -> R,
) -> Result<R, StoreError> {
    read_modify_write(conn, id, "state", |c| &mut c.state, change)
}

/// One JSON column of a container's row, read, changed and written back in an
/// IMMEDIATE transaction: the write lock is taken before the read, so two
/// read-modify-writes of one row run one after the other (the connection's busy
/// timeout turns the wait into waiting, not an error). Rolled back on failure.
fn read_modify_write<T: serde::Serialize, R>(
    conn: &Connection,
    id: &str,
    column: &'static str,
    field: impl FnOnce(&mut Container) -> &mut T,
    change: impl FnOnce(&mut T) -> R,
) -> Result<R, StoreError> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let mut c = get(conn, id)?;
    let value = field(&mut c);
    let r = change(value);
    let sql = format!("UPDATE containers SET {column} = ?2 WHERE id = ?1");
    update(conn, &sql, id, to_json(value))?;
    tx.commit()?;
    Ok(r)
}

fn update(conn: &Connection, sql: &str, id: &str, json: String) -> Result<(), StoreError> {
    if conn.execute(sql, params![id, json])? == 0 {
        return Err(StoreError::NotFound(id.into()));
    }
    Ok(())
}

pub fn delete(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM containers WHERE id = ?1", params![id])?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Container, StoreError> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
            params![id],
            from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(id.into()))?;
    decode(raw)
}

/// Finds a container by exact id, exact name (with or without a leading `/`), or
/// unique id prefix — docker's order.
pub fn find(conn: &Connection, needle: &str) -> Result<Container, StoreError> {
    let name = needle.strip_prefix('/').unwrap_or(needle);
    let q = format!("SELECT {COLUMNS} FROM containers WHERE id = ?1 OR name = ?2");
    if let Some(raw) = conn
        .query_row(&q, params![needle, name], from_row)
        .optional()?
    {
        return decode(raw);
    }
    if needle.is_empty() || !needle.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::NotFound(needle.into()));
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM containers WHERE id LIKE ?1 LIMIT 2"
    ))?;
    let rows: Vec<_> = stmt
        .query_map(
            params![format!("{}%", needle.to_ascii_lowercase())],
            from_row,
        )?
        .collect::<Result<_, _>>()?;
    match rows.len() {
        0 => Err(StoreError::NotFound(needle.into())),
        1 => decode(rows.into_iter().next().expect("one row")),
        _ => Err(StoreError::Ambiguous(needle.into())),
    }
}

pub fn list(conn: &Connection) -> Result<Vec<Container>, StoreError> {
    // Newest first, as `ps` lists them. Sorted here, not by SQLite: its sorter
    // copies every row (specs and states of a few kB each) and spilled 1,000
    // containers to a temporary file, a thousand writes and reads per `ps`
    // (issue 11). Read newest rowid first, a stable sort keeps that order among
    // equal creation times.
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM containers ORDER BY rowid DESC"
    ))?;
    let mut rows: Vec<_> = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    rows.sort_by(|a, b| b.3.cmp(&a.3));
    rows.into_iter().map(decode).collect()
}

pub fn image_in_use(conn: &Connection, image_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM containers WHERE image_id = ?1")?;
    let ids = stmt
        .query_map(params![image_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Gives container `id` the name `name`; the name column's unique constraint
/// makes the second of two renames to one name fail, whatever their timing.
pub fn rename(conn: &Connection, id: &str, name: &str) -> Result<(), StoreError> {
    let r = conn.execute(
        "UPDATE containers SET name = ?2 WHERE id = ?1",
        params![id, name],
    );
    match r {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::NameInUse(name.into()))
        }
        Ok(0) => Err(StoreError::NotFound(id.into())),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &std::path::Path) -> Connection {
        berth_image::db::open(dir).unwrap()
    }

    fn insert_one(conn: &Connection) {
        conn.execute(
            "INSERT INTO images (id, manifest, created, size) VALUES ('img', 'm', '0', 0)",
            [],
        )
        .unwrap();
        let c = Container {
            id: "c1".into(),
            name: "one".into(),
            image_id: "img".into(),
            created: "0".into(),
            spec: ContainerSpec::default(),
            state: ContainerState::default(),
        };
        insert(conn, &c).unwrap();
    }

    /// Two processes (here two connections on two threads) changing one
    /// container's state at once: every change must survive.
    #[test]
    fn concurrent_state_updates_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        insert_one(&db(dir.path()));
        const EACH: u32 = 200;
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let conn = db(&path);
                    for _ in 0..EACH {
                        update_state(&conn, "c1", |s| s.restart_count += 1).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let state = get(&db(dir.path()), "c1").unwrap().state;
        assert_eq!(state.restart_count, 2 * EACH);
    }

    #[test]
    fn updating_a_missing_container_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let conn = db(dir.path());
        let r = update_state(&conn, "nope", |s| s.restart_count += 1);
        assert!(matches!(r, Err(StoreError::NotFound(id)) if id == "nope"));
    }
}
