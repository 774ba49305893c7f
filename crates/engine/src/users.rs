//! Resolves `-u user[:group]` against the container's own /etc/passwd and /etc/group,
//! as docker does: names must exist there, numbers need not.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn read_passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    let text = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"/").to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn read_groups(rootfs: &Path) -> Vec<(String, u32, Vec<String>)> {
    let text = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3).map(|m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            });
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                members.unwrap_or_default(),
            ))
        })
        .collect()
}

pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<ResolvedUser, UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_passwd(rootfs);
    let entry = if user.is_empty() {
        passwd.iter().find(|e| e.uid == 0)
    } else if let Ok(uid) = user.parse::<u32>() {
        passwd.iter().find(|e| e.uid == uid)
    } else {
        Some(
            passwd
                .iter()
                .find(|e| e.name == user)
                .ok_or_else(|| UserError::NoUser(user.into()))?,
        )
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => entry.map(|e| e.uid).unwrap_or(0),
    };
    let groups = read_groups(rootfs);
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|(n, _, _)| n == g)
                .map(|(_, id, _)| *id)
                .ok_or_else(|| UserError::NoGroup(g.into()))?,
        },
        None => entry.map(|e| e.gid).unwrap_or(0),
    };
    let additional_gids = match (group, entry) {
        (None, Some(e)) => groups
            .iter()
            .filter(|(_, id, members)| *id != gid && members.contains(&e.name))
            .map(|(_, id, _)| *id)
            .collect(),
        _ => vec![],
    };
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: entry.map(|e| e.home.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nalice:x:1000:\nwheel:x:10:alice\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn resolves_names_numbers_and_groups() {
        let r = rootfs();
        assert_eq!(resolve_user(r.path(), "").unwrap().uid, 0);
        let a = resolve_user(r.path(), "alice").unwrap();
        assert_eq!(
            (a.uid, a.gid, a.additional_gids.clone()),
            (1000, 1000, vec![10])
        );
        assert_eq!(a.home.as_deref(), Some("/home/alice"));
        let n = resolve_user(r.path(), "4242:wheel").unwrap();
        assert_eq!((n.uid, n.gid), (4242, 10));
        assert_eq!(
            resolve_user(r.path(), "bob"),
            Err(UserError::NoUser("bob".into()))
        );
        assert_eq!(
            resolve_user(r.path(), "alice:nogroup"),
            Err(UserError::NoGroup("nogroup".into()))
        );
    }
}
