//! Resolves `-u user[:group]` (and the builder's `USER` and `--chown`) against the
//! root filesystem's own /etc/passwd and /etc/group, as docker does: names must
//! exist there, numbers need not, and no id is above [`MAX_ID`]. The engine (a
//! container's user) and the builder both call it. Both files are read inside
//! the root filesystem ([`crate::inroot`]): a link that
//! points out of it lands inside it, and a FIFO, a device or a file over
//! [`MAX_ID_FILE`] bytes is refused, never read, so a hostile image or container
//! can neither show berth a host file nor make it hang.

use crate::inroot::{Follow, InRoot, InRootError};
use std::path::Path;

/// The largest uid or gid berth runs as. setresuid/setresgid read 4294967295 (-1)
/// as "leave unchanged", which would keep root; docker's runtimes refuse the same
/// range (runc: "uids and gids must be in range 0-2147483647").
pub const MAX_ID: u64 = 2_147_483_647;

/// passwd and group files above this size are refused: real ones hold a few KiB,
/// and a file of any size would otherwise be read into memory.
pub const MAX_ID_FILE: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file (use a numeric uid, or create the user in the image, e.g. in an earlier RUN)")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file (use a numeric gid, or create the group in the image, e.g. in an earlier RUN)")]
    NoGroup(String),
    #[error("looking up the user: {0}")]
    Read(InRootError),
    #[error("{what} {value} ({origin}) is out of range: ids run from 0 to 2147483647 (setresuid would read 4294967295 as \"unchanged\" and keep root); use a smaller id")]
    IdOutOfRange {
        what: &'static str,
        value: u64,
        origin: String,
    },
}

struct PasswdEntry {
    name: String,
    uid: u64,
    gid: u64,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u64,
    members: Vec<String>,
}

/// The text of `rel` in the root. A missing file reads as empty; so does one that
/// cannot be read when `needed` is false, as runc treats it: a name can then not
/// be found, and only a name lookup has to fail.
fn read_id_file(root: &InRoot, rel: &str, needed: bool) -> Result<String, UserError> {
    match root.read(rel, Follow::Yes, MAX_ID_FILE) {
        Ok(data) => Ok(String::from_utf8_lossy(&data.unwrap_or_default()).into_owned()),
        Err(e) if needed => Err(UserError::Read(e)),
        Err(_) => Ok(String::new()),
    }
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
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

fn parse_groups(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3).map(|m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            });
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: members.unwrap_or_default(),
            })
        })
        .collect()
}

/// A number given as a uid or gid; `None` when the text is a name.
fn numeric(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

fn in_range(what: &'static str, value: u64, origin: &str) -> Result<u32, UserError> {
    if value > MAX_ID {
        return Err(UserError::IdOutOfRange {
            what,
            value,
            origin: origin.to_string(),
        });
    }
    Ok(value as u32)
}

/// Checks the numbers in a `-u` value without a root filesystem (at create).
pub fn validate_spec(spec: &str) -> Result<(), UserError> {
    let origin = format!("from -u {spec}");
    let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
    if let Some(n) = numeric(user) {
        in_range("uid", n, &origin)?;
    }
    if let Some(n) = numeric(group) {
        in_range("gid", n, &origin)?;
    }
    Ok(())
}

pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<ResolvedUser, UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    validate_spec(spec)?;
    let root = InRoot::open(rootfs).map_err(UserError::Read)?;
    let user_number = numeric(user);
    let by_name = !user.is_empty() && user_number.is_none();
    let passwd = parse_passwd(&read_id_file(&root, "etc/passwd", by_name)?);
    let entry = match (user, user_number) {
        ("", _) => passwd.iter().find(|e| e.uid == 0),
        (_, Some(uid)) => passwd.iter().find(|e| e.uid == uid),
        _ => Some(
            passwd
                .iter()
                .find(|e| e.name == user)
                .ok_or_else(|| UserError::NoUser(user.into()))?,
        ),
    };
    let from_passwd = |e: &PasswdEntry| format!("of user {} in the image's /etc/passwd", e.name);
    let uid = match (user_number, entry) {
        (Some(n), _) => n,
        (None, Some(e)) => in_range("uid", e.uid, &from_passwd(e))?.into(),
        (None, None) => 0,
    };
    let group_by_name = group.is_some_and(|g| numeric(g).is_none());
    let groups = parse_groups(&read_id_file(&root, "etc/group", group_by_name)?);
    let gid = match group {
        Some(g) => match numeric(g) {
            Some(n) => n,
            None => {
                let found = groups.iter().find(|e| e.name == g);
                let found = found.ok_or_else(|| UserError::NoGroup(g.into()))?;
                let origin = format!("of group {g} in the image's /etc/group");
                in_range("gid", found.gid, &origin)?.into()
            }
        },
        None => match entry {
            Some(e) => in_range("gid", e.gid, &from_passwd(e))?.into(),
            None => 0,
        },
    };
    let additional_gids = match (group, entry) {
        (None, Some(e)) => groups
            .iter()
            .filter(|g| g.gid != gid && g.members.contains(&e.name))
            .map(|g| {
                let origin = format!("of group {} in the image's /etc/group", g.name);
                in_range("gid", g.gid, &origin)
            })
            .collect::<Result<_, _>>()?,
        _ => vec![],
    };
    Ok(ResolvedUser {
        uid: uid as u32,
        gid: gid as u32,
        additional_gids,
        home: entry.map(|e| e.home.clone()),
    })
}

/// Resolves `--group-add` groups, names in the image's /etc/group (read once for
/// all of them) or gids, as `-u`'s group part resolves.
pub fn resolve_groups(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>, UserError> {
    if groups.is_empty() {
        return Ok(vec![]);
    }
    let by_name = groups.iter().any(|g| numeric(g).is_none());
    let root = InRoot::open(rootfs).map_err(UserError::Read)?;
    let entries = parse_groups(&read_id_file(&root, "etc/group", by_name)?);
    groups
        .iter()
        .map(|g| match numeric(g) {
            Some(n) => in_range("gid", n, &format!("from --group-add {g}")),
            None => {
                let found = entries.iter().find(|e| e.name == *g);
                let found = found.ok_or_else(|| UserError::NoGroup(g.clone()))?;
                in_range(
                    "gid",
                    found.gid,
                    &format!("of group {g} in the image's /etc/group"),
                )
            }
        })
        .collect()
}

/// Resolves `--chown=user[:group]` as docker's builder does: like `-u`, except
/// that without a group the gid is the same number as the uid. Returns (uid, gid).
pub fn resolve_chown(rootfs: &Path, spec: &str) -> Result<(u32, u32), UserError> {
    let resolved = resolve_user(rootfs, spec)?;
    match spec.contains(':') {
        true => Ok((resolved.uid, resolved.gid)),
        false => Ok((resolved.uid, resolved.uid)),
    }
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
    fn group_add_resolves_names_and_numbers_in_one_read() {
        let r = rootfs();
        let g = |v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            resolve_groups(r.path(), &v)
        };
        assert_eq!(g(&["wheel", "4242", "root"]).unwrap(), vec![10, 4242, 0]);
        assert!(matches!(g(&["nobody"]), Err(UserError::NoGroup(n)) if n == "nobody"));
        assert!(matches!(
            g(&["4294967295"]),
            Err(UserError::IdOutOfRange { .. })
        ));
        assert_eq!(g(&[]).unwrap(), Vec::<u32>::new());
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
        assert!(matches!(
            resolve_user(r.path(), "bob"),
            Err(UserError::NoUser(u)) if u == "bob"
        ));
        assert!(matches!(
            resolve_user(r.path(), "alice:nogroup"),
            Err(UserError::NoGroup(g)) if g == "nogroup"
        ));
    }

    #[test]
    fn ids_setresuid_reads_as_unchanged_are_refused() {
        let r = rootfs();
        std::fs::write(
            r.path().join("etc/passwd"),
            "big:x:4294967295:0::/:/bin/sh\nbiggid:x:1:2147483648::/:/bin/sh\nok:x:2147483647:5::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(r.path().join("etc/group"), "huge:x:4294967295:ok\n").unwrap();
        for spec in [
            "4294967295",
            "2147483648",
            "0:4294967295",
            "99999999999999999999",
            "big",
            "biggid",
            "0:huge",
            "ok",
        ] {
            let got = resolve_user(r.path(), spec);
            assert!(
                matches!(got, Err(UserError::IdOutOfRange { .. })),
                "{spec}: {got:?}"
            );
        }
        assert!(validate_spec("4294967295").is_err() && validate_spec("1:2147483648").is_err());
        assert!(validate_spec("2147483647:0").is_ok() && validate_spec("name:group").is_ok());
        let max = resolve_user(r.path(), "2147483647:2147483647").unwrap();
        assert_eq!((max.uid, max.gid), (2147483647, 2147483647));
    }

    #[test]
    fn hostile_passwd_files_are_not_read_from_the_host_nor_block() {
        let r = rootfs();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(
            host.path().join("passwd"),
            "hostonly:x:777:777::/:/bin/sh\n",
        )
        .unwrap();
        let passwd = r.path().join("etc/passwd");
        std::fs::remove_file(&passwd).unwrap();
        std::os::unix::fs::symlink(host.path().join("passwd"), &passwd).unwrap();
        assert!(matches!(
            resolve_user(r.path(), "hostonly"),
            Err(UserError::NoUser(_))
        ));
        std::fs::remove_file(&passwd).unwrap();
        nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let err = resolve_user(r.path(), "alice").unwrap_err().to_string();
        assert!(err.contains("/etc/passwd") && err.contains("FIFO"), "{err}");
        // A number needs no passwd file: an unreadable one is as good as none.
        assert_eq!(resolve_user(r.path(), "1000").unwrap().uid, 1000);
        std::fs::remove_file(&passwd).unwrap();
        std::fs::write(&passwd, vec![b'#'; MAX_ID_FILE as usize + 1]).unwrap();
        let err = resolve_user(r.path(), "alice").unwrap_err();
        assert!(err.to_string().contains("more than 4194304 bytes"), "{err}");
    }
}
