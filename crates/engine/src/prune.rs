//! `container prune`, `network prune`, `image prune` and `system prune`: removing
//! what nothing uses, and reclaiming what a crash left on the host.

use crate::model::NetworkMode;
use crate::{store, Engine, EngineError};
use berth_net::network;

/// What one prune removed: lines to print, and the bytes it gave back.
#[derive(Debug, Default)]
pub struct Pruned {
    pub removed: Vec<String>,
    pub bytes: u64,
    /// What could not be removed, and why (it started meanwhile, say).
    pub failed: Vec<String>,
}

/// Removes every container that is not running (created or exited), with its
/// anonymous volumes (docker leaves those to `volume prune`; berth took them before
/// it had one, and still does).
/// Containers whose monitor died are reconciled (and so stopped) first.
pub fn containers(engine: &Engine) -> Result<Pruned, EngineError> {
    let mut out = Pruned::default();
    for c in engine.list()? {
        if c.is_running() {
            continue;
        }
        let bytes = berth_image::disk_usage(&engine.paths.container_dir(&c.id));
        let opts = crate::usecase::RemoveOptions {
            force: false,
            volumes: true,
        };
        match crate::usecase::remove(engine, &c, opts) {
            Ok(()) => {
                out.removed.push(c.id);
                out.bytes += bytes;
            }
            Err(e) => out.failed.push(format!("container {}: {e}", c.name)),
        }
    }
    Ok(out)
}

/// Removes user networks no container is on (the default `bridge` stays), and the
/// bridge and nft table of any network that is idle, e.g. one whose last monitor
/// was killed while it lingered.
pub fn networks(engine: &Engine) -> Result<Pruned, EngineError> {
    let conn = engine.conn();
    let cfg = engine.net_config();
    // Reconciling first frees the addresses of containers whose monitor died.
    let containers = engine.list()?;
    let mut out = Pruned::default();
    for n in berth_net::store::list(conn).map_err(berth_net::NetError::from)? {
        let used = containers.iter().any(|c| {
            c.spec.network == NetworkMode::Network(n.name.clone())
                || c.spec.connected.iter().any(|j| j.name == n.name)
        });
        if n.name == berth_net::DEFAULT_NETWORK || used {
            if network::is_idle(conn, &n.name) {
                network::remove_if_idle(conn, &cfg, &n.name);
            }
            continue;
        }
        match network::remove(conn, &cfg, &n.name) {
            Ok(()) => out.removed.push(n.name),
            Err(e) => out.failed.push(format!("network {}: {e}", n.name)),
        }
    }
    Ok(out)
}

/// Removes images no container uses: untagged ("dangling") ones, or with `all`
/// every one. Their blobs and layers are freed by the caller's collection
/// (`berth_image::gc::collect`), which also knows the build cache's roots.
pub fn images(engine: &mut Engine, all: bool) -> Result<Pruned, EngineError> {
    let mut out = Pruned::default();
    for image in engine.images.list()? {
        if !(all || image.tags.is_empty())
            || !store::image_in_use(engine.conn(), &image.id)?.is_empty()
        {
            continue;
        }
        engine.images.remove(&image.id)?;
        out.removed.extend(
            image
                .tags
                .iter()
                .map(|t| format!("untagged: {}", berth_image::reference::familiar(t))),
        );
        out.removed.push(format!("deleted: {}", image.id));
    }
    Ok(out)
}
