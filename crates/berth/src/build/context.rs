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
        (Some(f), _, Some(dir)) if temp.is_some() => {
            read_dockerfile(&dir.join(f.trim_start_matches('/')), dir)?
        }
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
            ignore: ignore_rules(&dir, rel.as_deref())?,
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

/// The ignore rules: `<Dockerfile>.dockerignore` next to the Dockerfile when
/// there is one (buildkit), else the context's `.dockerignore`; the
/// Dockerfile and `.dockerignore` themselves are always kept (docker CLI).
fn ignore_rules(context: &Path, dockerfile_rel: Option<&str>) -> Result<Ignore> {
    let specific = dockerfile_rel.map(|r| context.join(format!("{r}.dockerignore")));
    let path = specific
        .filter(|p| p.is_file())
        .unwrap_or_else(|| context.join(".dockerignore"));
    let text = match std::fs::read(&path) {
        Ok(data) => String::from_utf8_lossy(&data).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut keep = vec![".dockerignore"];
    if let Some(r) = dockerfile_rel {
        keep.push(r);
    }
    Ignore::new(&read_patterns(&text), &keep).with_context(|| format!("in {}", path.display()))
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
        let ig = ignore_rules(&d, Some("sub/Build.df")).unwrap();
        assert!(!ig.matches_or_parent("sub/Build.df"));
        assert!(!ig.matches_or_parent(".dockerignore"));
        assert!(ig.matches_or_parent("other"));
        std::fs::write(d.join("sub/Build.df.dockerignore"), "other\n").unwrap();
        let ig = ignore_rules(&d, Some("sub/Build.df")).unwrap();
        assert!(!ig.matches_or_parent("x"));
        assert!(ig.matches_or_parent("other"));
        std::fs::remove_dir_all(&d).unwrap();
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
