//! `--chown=user[:group]` and `USER` for WORKDIR, looked up in the image's own
//! `/etc/passwd` and `/etc/group` by [`berth_image::users`], the lookup a
//! container start uses: read inside the snapshot root (a symlinked `/etc`
//! resolves inside the image, never to the host's files), ids above
//! [`berth_image::users::MAX_ID`] refused (chown(2) reads 4294967295 as
//! "unchanged").

use berth_image::users::{self as lookup, MAX_ID};
use std::path::Path;

pub use berth_image::users::UserError;

/// Numeric owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// `--chown` of numbers only (`10`, `10:20`) within range: no lookup needed.
pub fn numeric_chown(spec: &str) -> Option<Owner> {
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    let id = |s: &str| s.parse::<u32>().ok().filter(|&n| u64::from(n) <= MAX_ID);
    Some(Owner {
        uid: id(u)?,
        gid: id(g)?,
    })
}

/// Resolves `--chown` as docker does: a name or number, optionally
/// `:group`; without a group the gid is the same number as the uid.
pub fn resolve_chown(rootfs: &Path, spec: &str) -> Result<Owner, UserError> {
    let (uid, gid) = lookup::resolve_chown(rootfs, spec)?;
    Ok(Owner { uid, gid })
}

/// Resolves `USER` the way a container start does: a name takes its primary
/// group from passwd; a number without a group gets gid 0 unless passwd has it.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<Owner, UserError> {
    let user = lookup::resolve_user(rootfs, spec)?;
    Ok(Owner {
        uid: user.uid,
        gid: user.gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbin:x:2:2::/:/bin/false\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let root = dir.path().to_path_buf();
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
    fn ids_chown_reads_as_unchanged_are_refused() {
        let (_d, r) = root();
        // chown(2) reads 4294967295 (-1) as "leave unchanged": the file would
        // stay root's while the Dockerfile asked for another owner.
        for spec in ["4294967295", "1:4294967295", "2147483648"] {
            assert_eq!(numeric_chown(spec), None, "{spec}");
            assert!(resolve_chown(&r, spec).is_err(), "{spec}");
        }
        assert!(resolve_user(&r, "4294967295").is_err());
    }

    #[test]
    fn a_symlinked_etc_resolves_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        let r = dir.path().to_path_buf();
        // The host's /etc/passwd has root; inside this root the link points at
        // itself (a loop), so there is no passwd to read and no root to find.
        let got = resolve_chown(&r, "root");
        assert!(
            matches!(got, Err(UserError::NoUser(_) | UserError::Read(_))),
            "{got:?}"
        );
        // A real lookup through the same kind of link finds the image's user.
        std::fs::remove_file(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/passwd"), "root:x:7:7::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/real", dir.path().join("etc")).unwrap();
        assert_eq!(resolve_chown(&r, "root").unwrap(), Owner { uid: 7, gid: 7 });
    }
}
