//! `--chown=user[:group]` and `USER` for WORKDIR, looked up in the image's own
//! `/etc/passwd` and `/etc/group`, read inside the snapshot root (a symlinked
//! `/etc` resolves inside the image, never to the host's files).

use pathrs::flags::OpenFlags;
use pathrs::Root;
use std::io::Read;

/// The largest passwd/group file read.
const MAX_FILE: u64 = 4 << 20;

/// A user that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in the image's /etc/passwd (use a numeric uid, or create the user in an earlier RUN)")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in the image's /etc/group (use a numeric gid, or create the group in an earlier RUN)")]
    NoGroup(String),
}

/// Numeric owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// `--chown` of numbers only (`10`, `10:20`): no lookup needed.
pub fn numeric_chown(spec: &str) -> Option<Owner> {
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    Some(Owner {
        uid: u.parse().ok()?,
        gid: g.parse().ok()?,
    })
}

/// Resolves `--chown` as docker does: a name or number, optionally
/// `:group`; without a group the gid is the same number as the uid.
pub fn resolve_chown(root: &Root, spec: &str) -> Result<Owner, UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(root, "etc/passwd", user)
            .map(|f| f.0)
            .ok_or_else(|| UserError::NoUser(user.to_string()))?,
    };
    let gid = match group {
        None => uid,
        Some(g) => group_id(root, g)?,
    };
    Ok(Owner { uid, gid })
}

/// Resolves `USER` the way a container start does: a name takes its primary
/// group from passwd; a number without a group gets gid 0 unless passwd has it.
pub fn resolve_user(root: &Root, spec: &str) -> Result<Owner, UserError> {
    if spec.is_empty() {
        return Ok(Owner { uid: 0, gid: 0 });
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = match user.parse::<u32>() {
        Ok(n) => lookup_id(root, n).or(Some((n, 0))),
        Err(_) => lookup(root, "etc/passwd", user).map(|(uid, rest)| (uid, primary_gid(&rest))),
    };
    let (uid, primary) = entry.ok_or_else(|| UserError::NoUser(user.to_string()))?;
    let gid = match group {
        None => primary,
        Some(g) => group_id(root, g)?,
    };
    Ok(Owner { uid, gid })
}

/// A group given by number or by a name in the image's /etc/group.
fn group_id(root: &Root, group: &str) -> Result<u32, UserError> {
    match group.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => lookup(root, "etc/group", group)
            .map(|f| f.0)
            .ok_or_else(|| UserError::NoGroup(group.to_string())),
    }
}

fn primary_gid(rest: &[String]) -> u32 {
    rest.first().and_then(|g| g.parse().ok()).unwrap_or(0)
}

/// `name:x:ID:...` → (ID, the fields after it).
fn lookup(root: &Root, file: &str, name: &str) -> Option<(u32, Vec<String>)> {
    let text = read_small(root, file)?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [n, _, id, rest @ ..] if *n == name => Some((
                id.parse().ok()?,
                rest.iter().map(|s| s.to_string()).collect(),
            )),
            _ => None,
        }
    })
}

fn lookup_id(root: &Root, uid: u32) -> Option<(u32, u32)> {
    let text = read_small(root, "etc/passwd")?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [_, _, id, gid, ..] if id.parse::<u32>().ok()? == uid => Some((uid, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// A regular file of the root, when it is one and small enough.
fn read_small(root: &Root, file: &str) -> Option<String> {
    let f = root
        .open_subpath(file, OpenFlags::O_RDONLY | OpenFlags::O_NONBLOCK)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    let mut text = String::new();
    f.take(MAX_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbin:x:2:2::/:/bin/false\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let root = Root::open(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn chown_uses_the_uid_as_gid_without_a_group() {
        let (_d, r) = root();
        assert_eq!(
            resolve_chown(&r, "app").unwrap(),
            Owner {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(resolve_chown(&r, "10").unwrap(), Owner { uid: 10, gid: 10 });
        assert_eq!(
            resolve_chown(&r, "app:staff").unwrap(),
            Owner { uid: 1000, gid: 50 }
        );
        assert_eq!(resolve_chown(&r, "1:2").unwrap(), Owner { uid: 1, gid: 2 });
        assert_eq!(numeric_chown("1:2"), Some(Owner { uid: 1, gid: 2 }));
        assert_eq!(numeric_chown("7"), Some(Owner { uid: 7, gid: 7 }));
        assert_eq!(numeric_chown("app:2"), None);
        assert!(matches!(
            resolve_chown(&r, "nobody"),
            Err(UserError::NoUser(_))
        ));
        assert!(matches!(
            resolve_chown(&r, "app:nogroup"),
            Err(UserError::NoGroup(_))
        ));
    }

    #[test]
    fn user_takes_the_primary_group() {
        let (_d, r) = root();
        assert_eq!(
            resolve_user(&r, "app").unwrap(),
            Owner {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(
            resolve_user(&r, "1000").unwrap(),
            Owner {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(
            resolve_user(&r, "4242").unwrap(),
            Owner { uid: 4242, gid: 0 }
        );
        assert_eq!(resolve_user(&r, "").unwrap(), Owner { uid: 0, gid: 0 });
    }

    #[test]
    fn a_symlinked_etc_resolves_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        let r = Root::open(dir.path()).unwrap();
        // The host's /etc/passwd has root; inside this root there is no passwd.
        assert!(matches!(
            resolve_chown(&r, "root"),
            Err(UserError::NoUser(_))
        ));
    }
}
