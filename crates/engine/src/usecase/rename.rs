//! `rename OLD NEW`: docker's name rules, the database's unique constraint as the
//! arbiter between racing renames, and the files that carry the name (the
//! container's own /etc/hosts, its peers' on user networks) written again.

use super::exclusive;
use crate::model::Container;
use crate::{events, networking, store, Engine, EngineError};

#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("container {0} is already named {0}; give another name")]
    SameName(String),
}

pub fn rename(engine: &Engine, c: &Container, new_name: &str) -> Result<(), EngineError> {
    let new_name = crate::create::validate_name(new_name)?;
    exclusive(engine, c, |c, _| {
        if c.name == new_name {
            return Err(super::UseCaseError::from(RenameError::SameName(new_name.clone())).into());
        }
        store::rename(engine.conn(), &c.id, &new_name)?;
        let renamed = engine.container(&c.id)?;
        // Names live in /etc/hosts: the container's own, and its peers' on
        // user networks (see `networking::hosts_text`).
        if renamed.is_running() {
            networking::refresh_hosts(engine, &renamed.id);
            for a in renamed.state.attachments() {
                if a.network != berth_net::DEFAULT_NETWORK {
                    networking::refresh_peer_hosts(engine, &a.network);
                }
            }
        }
        let old = format!("/{}", c.name);
        events::container(&engine.paths.root, &renamed, "rename", &[("oldName", &old)]);
        Ok(())
    })
}
