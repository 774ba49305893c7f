//! Image metadata: which images exist, their tags, lookups by reference or id prefix.

use crate::blobs::{BlobError, BlobStore};
use crate::db::{self, DbError};
use crate::reference::{Reference, ReferenceError};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("image id prefix {0:?} is ambiguous: it matches {1} images; give more digits")]
    Ambiguous(String, usize),
    #[error("image {what} is damaged: {why}")]
    Corrupt { what: String, why: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(DbError::Sql(e))
    }
}

#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: String,
    pub manifest: String,
    pub created: String,
    pub size: u64,
    pub tags: Vec<String>,
}

pub struct ImageStore {
    pub root: PathBuf,
    pub blobs: BlobStore,
    pub conn: Connection,
}

impl ImageStore {
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Self::open_with(root, &[])
    }

    /// Opens the store with other crates' tables in its database too (see
    /// [`db::open_with`]).
    pub fn open_with(root: &Path, schemas: &[&str]) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(|source| BlobError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(ImageStore {
            root: root.to_path_buf(),
            blobs: BlobStore::open(root)?,
            conn: db::open_with(root, schemas)?,
        })
    }

    /// A writer's lease: no collection deletes anything while it is held (see
    /// [`crate::gc`]).
    pub fn lease(&self) -> Result<crate::gc::Lease, crate::gc::GcError> {
        crate::gc::lease(&self.root)
    }

    /// Directory holding the unpacked layer with this chain id (a malformed id
    /// names no real layer: see [`crate::blobs::store_name`]).
    pub fn layer_dir(&self, chain_id: &str) -> PathBuf {
        self.root
            .join("layers")
            .join(crate::blobs::store_name(chain_id))
    }

    pub fn record(
        &self,
        id: &str,
        manifest: &str,
        created: &str,
        size: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO images (id, manifest, created, size) VALUES (?1, ?2, ?3, ?4)",
            params![id, manifest, created, size as i64],
        )?;
        Ok(())
    }

    /// Points a tag at an image (moving it if it pointed elsewhere).
    pub fn tag(&self, reference: &Reference, id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO tags (name, image_id) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![reference.to_string(), id],
        )?;
        Ok(())
    }

    /// Drops an image's record and tags, keeping its blobs and layers: the
    /// builder's transient images (a RUN step's layers, for `create`).
    /// `delete` starts with it.
    pub fn forget(&self, id: &str) -> Result<(), StoreError> {
        // One transaction: never a row whose tags are gone, nor tags without a row.
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM tags WHERE image_id = ?1", params![id])?;
        tx.execute("DELETE FROM images WHERE id = ?1", params![id])?;
        tx.commit()?;
        Ok(())
    }

    pub fn untag(&self, reference: &Reference) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM tags WHERE name = ?1",
            params![reference.to_string()],
        )? > 0)
    }

    /// Resolves what a user typed: a reference with a tag we hold, a full id,
    /// `sha256:<id>`, or a unique id prefix.
    pub fn resolve(&self, input: &str) -> Result<String, StoreError> {
        if let Ok(r) = Reference::parse(input) {
            let hit: Option<String> = self
                .conn
                .query_row(
                    "SELECT image_id FROM tags WHERE name = ?1",
                    params![r.to_string()],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(id) = hit {
                return Ok(id);
            }
        }
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let pattern = format!("sha256:{}%", hex.to_ascii_lowercase());
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM images WHERE id LIKE ?1")?;
            let ids: Vec<String> = stmt
                .query_map(params![pattern], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            match ids.len() {
                1 => return Ok(ids.into_iter().next().unwrap_or_default()),
                0 => {}
                n => return Err(StoreError::Ambiguous(input.into(), n)),
            }
        }
        Err(StoreError::NotFound(input.into()))
    }

    /// The stored tag `input` (which resolved to nothing) most likely meant, in
    /// docker's short form, for a "did you mean …?".
    pub fn suggest(&self, input: &str) -> Option<String> {
        let mut stmt = self.conn.prepare("SELECT name FROM tags").ok()?;
        let tags: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .ok()?
            .collect::<Result<_, _>>()
            .ok()?;
        crate::suggest::closest_tag(input, &tags)
    }

    pub fn tags_of(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
        let tags = stmt
            .query_map(params![id], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(tags)
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, manifest, created, size FROM images ORDER BY created DESC")?;
        let rows: Vec<(String, String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, manifest, created, size)| {
                Ok(ImageRecord {
                    tags: self.tags_of(&id)?,
                    id,
                    manifest,
                    created,
                    size: size as u64,
                })
            })
            .collect()
    }

    pub fn get(&self, id: &str) -> Result<ImageRecord, StoreError> {
        self.list()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| StoreError::NotFound(id.into()))
    }

    pub fn config(&self, id: &str) -> Result<ImageConfiguration, StoreError> {
        let data = self.blobs.read(id)?;
        serde_json::from_slice(&data).map_err(|e| StoreError::Corrupt {
            what: id.into(),
            why: format!("config is not valid JSON: {e}"),
        })
    }

    pub fn manifest(&self, record: &ImageRecord) -> Result<ImageManifest, StoreError> {
        let data = self.blobs.read(&record.manifest)?;
        serde_json::from_slice(&data).map_err(|e| StoreError::Corrupt {
            what: record.id.clone(),
            why: format!("manifest is not valid JSON: {e}"),
        })
    }

    /// Unpacked layer directories, top-most first (overlayfs lowerdir order).
    pub fn lower_dirs(&self, id: &str) -> Result<Vec<PathBuf>, StoreError> {
        let config = self.config(id)?;
        let chain = crate::chain_ids(config.rootfs().diff_ids());
        let mut dirs: Vec<PathBuf> = chain.iter().map(|c| self.layer_dir(c)).collect();
        if let Some(missing) = dirs.iter().find(|d| !d.is_dir()) {
            return Err(StoreError::Corrupt {
                what: id.into(),
                why: format!(
                    "unpacked layer {} is missing; remove and re-import the image",
                    missing.display()
                ),
            });
        }
        dirs.reverse();
        Ok(dirs)
    }

    /// Removes an image row and its tags; the next collection
    /// ([`crate::gc::collect`]) frees its blobs and layers if nothing else uses
    /// them. The caller has already checked that no container uses it (the
    /// database refuses anyway).
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.forget(id)
    }
}
