//! Where a build's files come from: the context (a directory, a tar on
//! standard input or at an http(s) URL, or none when standard input holds
//! the Dockerfile), the Dockerfile, and the `.dockerignore` rules, all read
//! the way the docker CLI reads them.

use anyhow::{bail, Context as _, Result};
use berth_build::ignore::{read_patterns, Ignore};
use berth_build::Context;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The context and Dockerfile of a build, ready for the builder.
pub struct Inputs {
    pub context: Option<Context>,
    pub dockerfile: Vec<u8>,
    pub dockerfile_name: String,
    /// A context unpacked for this build (removed when dropped).
    _temp: Option<TempDir>,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads the inputs. `fetch` downloads an http(s) context.
pub fn inputs(
    context: &str,
    file: Option<&str>,
    temp_root: &Path,
    fetch: &mut dyn FnMut(&str, &mut dyn std::io::Write) -> Result<()>,
) -> Result<Inputs> {
    if file == Some("-") && context == "-" {
        bail!("the Dockerfile and the context cannot both come from standard input (-f - with context -)");
    }
    if is_git(context) {
        bail!("git contexts are not supported: clone {context} and build from the directory");
    }
    let (dir, temp, stdin_dockerfile) = source(context, temp_root, fetch)?;
    let (dockerfile, name, rel) = match (file, &stdin_dockerfile, &dir) {
        (_, Some(data), _) => (data.clone(), "Dockerfile".to_string(), None),
        (Some("-"), _, _) => {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .context("reading the Dockerfile from standard input")?;
            (data, "Dockerfile".to_string(), None)
        }
        (f, _, Some(dir)) if temp.is_some() => read_archived_dockerfile(dir, f)?,
        // Relative to the current directory (buildx), else to the context
        // (the classic docker CLI).
        (Some(f), _, Some(dir)) if Path::new(f).is_file() || Path::new(f).is_absolute() => {
            read_dockerfile(Path::new(f), dir)?
        }
        (Some(f), _, Some(dir)) => read_dockerfile(&dir.join(f), dir)?,
        (None, _, Some(dir)) => {
            let default = ["Dockerfile", "dockerfile"]
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.is_file());
            let path = default.unwrap_or_else(|| dir.join("Dockerfile"));
            read_dockerfile(&path, dir)?
        }
        (_, None, None) => unreachable!("a context or a Dockerfile on stdin"),
    };
    let context = match dir {
        None => None,
        Some(dir) => Some(Context {
            ignore: ignore_rules(&dir, rel.as_deref(), temp.is_some())?,
            temporary: temp.is_some(),
            dir,
        }),
    };
    Ok(Inputs {
        context,
        dockerfile,
        dockerfile_name: name,
        _temp: temp,
    })
}

/// Where the context is: a directory (made for this build when it came as a
/// tar), or none with the Dockerfile read from standard input instead.
type Source = (Option<PathBuf>, Option<TempDir>, Option<Vec<u8>>);

fn source(
    context: &str,
    temp_root: &Path,
    fetch: &mut dyn FnMut(&str, &mut dyn std::io::Write) -> Result<()>,
) -> Result<Source> {
    let unpacked = |data: &[u8]| -> Result<Source> {
        let t = unpack_context(data, temp_root)?;
        Ok((Some(t.0.clone()), Some(t), None))
    };
    if context == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading the build context from standard input")?;
        return match looks_like_tar(&data) {
            true => unpacked(&data),
            false => Ok((None, None, Some(data))),
        };
    }
    if context.starts_with("http://") || context.starts_with("https://") {
        let mut data = Vec::new();
        fetch(context, &mut data)
            .with_context(|| format!("downloading the build context {context}"))?;
        if !looks_like_tar(&data) {
            bail!("the build context at {context} is not a tar archive (plain or gzip); give a URL of a .tar or .tar.gz");
        }
        return unpacked(&data);
    }
    let dir = std::fs::canonicalize(context)
        .with_context(|| format!("unable to prepare context: path {context:?} not found"))?;
    if !dir.is_dir() {
        bail!("unable to prepare context: {context} is not a directory");
    }
    Ok((Some(dir), None, None))
}

fn is_git(context: &str) -> bool {
    context.starts_with("git@")
        || context.starts_with("git://")
        || context.ends_with(".git")
        || context.contains(".git#")
}

/// Reads a Dockerfile; returns it, its name for messages, and its path inside
/// the context (if it is inside).
fn read_dockerfile(path: &Path, context: &Path) -> Result<(Vec<u8>, String, Option<String>)> {
    let data = std::fs::read(path).with_context(|| {
        format!("failed to read the Dockerfile {}: give its path with -f, or put a Dockerfile in the context", path.display())
    })?;
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let rel = abs
        .strip_prefix(context)
        .ok()
        .map(|r| r.to_string_lossy().into_owned());
    let name = path
        .file_name()
        .map_or("Dockerfile".into(), |n| n.to_string_lossy().into_owned());
    Ok((data, name, rel))
}

/// The most berth reads of a Dockerfile or `.dockerignore` in an archived context.
const MAX_ARCHIVED_FILE: u64 = 16 << 20;

/// The Dockerfile of a context that came as an archive (from a URL or a pipe:
/// someone else's files), found and read inside the context (see
/// [`read_in_context`]): `-f` names a path in the archive.
fn read_archived_dockerfile(
    dir: &Path,
    file: Option<&str>,
) -> Result<(Vec<u8>, String, Option<String>)> {
    let names = match file {
        Some(f) => vec![f.trim_start_matches('/')],
        None => vec!["Dockerfile", "dockerfile"],
    };
    for rel in &names {
        if let Some(data) = read_in_context(dir, rel, true)? {
            let name = Path::new(rel)
                .file_name()
                .map_or("Dockerfile".into(), |n| n.to_string_lossy().into_owned());
            return Ok((data, name, Some(rel.to_string())));
        }
    }
    bail!(
        "failed to read the Dockerfile: the context archive has no {}; give its path inside the archive with -f",
        names[0]
    )
}

/// Reads `rel` in the context; `None` when nothing is there. An archived
/// context is read inside itself (`inroot`): its symlinks resolve in the
/// context, never to a file of the host, and a FIFO, a device or an oversized
/// file is refused rather than read. The user's own directory is read as the
/// docker CLI reads it, symlinks followed.
fn read_in_context(dir: &Path, rel: &str, archived: bool) -> Result<Option<Vec<u8>>> {
    if archived {
        let root = berth_image::inroot::InRoot::open(dir)?;
        return Ok(root.read(rel, berth_image::inroot::Follow::Yes, MAX_ARCHIVED_FILE)?);
    }
    let path = dir.join(rel);
    match std::fs::read(&path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The ignore rules: `<Dockerfile>.dockerignore` next to the Dockerfile when
/// there is one (buildkit), else the context's `.dockerignore`; the
/// Dockerfile and `.dockerignore` themselves are always kept (docker CLI).
fn ignore_rules(context: &Path, dockerfile_rel: Option<&str>, archived: bool) -> Result<Ignore> {
    let specific = dockerfile_rel.map(|r| format!("{r}.dockerignore"));
    // A specific file that cannot be read as one is not there (as before: only
    // a regular file counts).
    let found = specific.and_then(|rel| {
        let data = read_in_context(context, &rel, archived).ok().flatten()?;
        Some((rel, data))
    });
    let (rel, data) = match found {
        Some(f) => f,
        None => {
            let data = read_in_context(context, ".dockerignore", archived)?;
            (".dockerignore".to_string(), data.unwrap_or_default())
        }
    };
    let text = String::from_utf8_lossy(&data);
    let mut keep = vec![".dockerignore"];
    if let Some(r) = dockerfile_rel {
        keep.push(r);
    }
    Ignore::new(&read_patterns(&text), &keep)
        .with_context(|| format!("in {}", context.join(rel).display()))
}

/// A tar (plain or gzip), by its first bytes.
fn looks_like_tar(data: &[u8]) -> bool {
    if data.starts_with(&[0x1f, 0x8b]) {
        return true;
    }
    data.len() >= 262 && &data[257..262] == b"ustar"
}

/// Unpacks a context archive into a new private directory.
fn unpack_context(data: &[u8], temp_root: &Path) -> Result<TempDir> {
    let dir = temp_root.join(format!("context-{}-{}", std::process::id(), nanos()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let t = TempDir(dir);
    let reader: Box<dyn Read + '_> = match data.starts_with(&[0x1f, 0x8b]) {
        true => Box::new(flate2::read::MultiGzDecoder::new(data)),
        false => Box::new(data),
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    // tar's unpack refuses `..` and absolute entries and never writes through
    // a symlink the archive made.
    archive
        .unpack(&t.0)
        .context("unpacking the build context archive")?;
    Ok(t)
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_rules_keep_the_dockerfile() {
        let d = std::env::temp_dir().join(format!("berth-ctx-test-{}", nanos()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join(".dockerignore"), "*\n").unwrap();
        let ig = ignore_rules(&d, Some("sub/Build.df"), false).unwrap();
        assert!(!ig.matches_or_parent("sub/Build.df"));
        assert!(!ig.matches_or_parent(".dockerignore"));
        assert!(ig.matches_or_parent("other"));
        std::fs::write(d.join("sub/Build.df.dockerignore"), "other\n").unwrap();
        let ig = ignore_rules(&d, Some("sub/Build.df"), false).unwrap();
        assert!(!ig.matches_or_parent("x"));
        assert!(ig.matches_or_parent("other"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A context archive (from a URL: someone else's) whose Dockerfile and
    /// .dockerignore are symlinks to a file of the host.
    #[test]
    fn an_archived_context_cannot_read_host_files() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("host-secret");
        std::fs::write(&secret, "FROM host-secret\n").unwrap();
        let archive = |name: &str, extra: Option<&str>| {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, &secret).unwrap();
            if let Some(df) = extra {
                let mut h = tar::Header::new_ustar();
                h.set_size(df.len() as u64);
                h.set_mode(0o644);
                b.append_data(&mut h, "Dockerfile", df.as_bytes()).unwrap();
            }
            b.into_inner().unwrap()
        };
        let temp = d.path().join("tmp");
        let read = |data: Vec<u8>| {
            let mut fetch = |_: &str, out: &mut dyn std::io::Write| {
                out.write_all(&data).map_err(anyhow::Error::from)
            };
            inputs("https://example.invalid/ctx.tar", None, &temp, &mut fetch)
        };
        match read(archive("Dockerfile", None)) {
            Ok(i) => assert_ne!(i.dockerfile, b"FROM host-secret\n", "read the host's file"),
            Err(e) => assert!(format!("{e:#}").contains("Dockerfile"), "{e:#}"),
        }
        // The .dockerignore read as rules: "FROM host-secret" would ignore a file
        // named that way; it must not be read at all.
        if let Ok(i) = read(archive(".dockerignore", Some("FROM scratch\n"))) {
            let ignore = i.context.unwrap().ignore;
            assert!(
                !ignore.matches_or_parent("FROM host-secret"),
                "read the host's file"
            );
        }
    }

    #[test]
    fn tar_detection() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, "x", &b""[..]).unwrap();
        assert!(looks_like_tar(&b.into_inner().unwrap()));
        assert!(!looks_like_tar(b"FROM scratch\n"));
        assert!(is_git("https://github.com/x/y.git"));
    }
}
