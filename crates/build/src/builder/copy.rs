//! COPY and ADD: sources resolved and hashed (the cache key), then written
//! into a snapshot of the stage with docker's destination rules: a directory
//! source copies its contents; a file goes into a destination that ends with
//! `/` (or already is a directory, or takes several sources) under its own
//! name, else becomes the destination; missing parents are made.

use super::archive;
use super::dispatch::display;
use super::sources::SourceRoot;
use super::{Builder, StageState};
use crate::error::StepError;
use crate::ignore::Ignore;
use crate::paths;
use crate::tree::read::{open_file, scan, Entry, Filter, Kind};
use crate::tree::write::{Dir, Meta, Tree};
use berth_dockerfile::instructions::{Add, Command, Copy, SourceContent};
use nix::sys::stat::SFlag;
use pathrs::Root;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// COPY and ADD in one shape.
#[derive(Debug, Clone)]
pub(super) struct CopySpec {
    pub add: bool,
    pub sources: Vec<String>,
    pub contents: Vec<SourceContent>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub unpack: Option<bool>,
}

impl From<Copy> for CopySpec {
    fn from(c: Copy) -> Self {
        CopySpec {
            add: false,
            sources: c.sources,
            contents: c.contents,
            dest: c.dest,
            from: c.from,
            chown: c.chown,
            chmod: c.chmod,
            link: c.link,
            exclude: c.exclude,
            checksum: None,
            unpack: None,
        }
    }
}

impl From<Add> for CopySpec {
    fn from(a: Add) -> Self {
        CopySpec {
            add: true,
            sources: a.sources,
            contents: a.contents,
            dest: a.dest,
            from: None,
            chown: a.chown,
            chmod: a.chmod,
            link: a.link,
            exclude: a.exclude,
            checksum: a.checksum,
            unpack: a.unpack,
        }
    }
}

/// One thing to copy.
enum Item {
    /// A path of the source root, scanned.
    Tree { path: String, entries: Vec<Entry> },
    /// A downloaded file (ADD <url>).
    Url {
        name: String,
        file: PathBuf,
        modified: Option<i64>,
    },
    /// A heredoc.
    Inline { name: String, data: String },
}

/// Everything a copy step needs once its key is known.
struct Plan {
    src: SourceRoot,
    items: Vec<Item>,
    dest: String,
    dest_is_dir: bool,
    chmod: Option<u32>,
    /// Keeps downloads until the step is done.
    _scratch: super::run::Scratch,
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// `--chmod`: octal up to 07777 (buildkit also takes symbolic modes; berth
/// refuses them clearly).
fn parse_chmod(s: &str) -> Result<u32, StepError> {
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(StepError::Chmod(s.to_string())),
    }
}

impl Builder<'_> {
    pub(super) fn copy(
        &mut self,
        st: &mut StageState,
        cmd: &Command,
        spec: &CopySpec,
    ) -> Result<(), StepError> {
        let step = self.start_step(st, &display(cmd));
        let result = self.copy_step(st, step, spec);
        if let Err(e) = &result {
            self.progress.failed(step.0, &e.to_string());
        }
        result
    }

    fn copy_step(
        &mut self,
        st: &mut StageState,
        step: (usize, std::time::Instant),
        spec: &CopySpec,
    ) -> Result<(), StepError> {
        let (plan, keys) = self.plan_copy(st, spec)?;
        let kind = if spec.add { "ADD" } else { "COPY" };
        let mut created_by = String::from(kind);
        for (flag, v) in [("chown", &spec.chown), ("chmod", &spec.chmod)] {
            if let Some(v) = v {
                created_by.push_str(&format!(" --{flag}={v}"));
            }
        }
        for s in &spec.sources {
            created_by.push_str(&format!(" {s}"));
        }
        for c in &spec.contents {
            created_by.push_str(&format!(" <<{}", c.path));
        }
        created_by.push_str(&format!(" {} # buildkit", spec.dest));
        let inputs = json!({
            "op": kind,
            "dest": plan.dest,
            "dir": plan.dest_is_dir,
            "chown": spec.chown,
            "chmod": plan.chmod,
            "unpack": spec.unpack,
            "sources": keys,
        });
        let chown = spec.chown.clone();
        let unpack = spec.unpack.unwrap_or(spec.add);
        let link = spec.link;
        // --link: the files become a layer of their own, made on an empty
        // tree, so the cache entry holds whatever the layers below are.
        let parent = if link { String::new() } else { st.chain() };
        let key = crate::cache::key(&parent, &inputs);
        self.keyed_step(st, step, key, created_by, &mut |b, st, _| {
            let below: &[crate::host::Layer] = if link { &[] } else { &st.layers };
            let owner = match &chown {
                Some(c) => Some(b.chown_owner(c, st)?),
                None => None,
            };
            let snap = b.host.snapshot(below)?;
            let tree = Tree::open(snap.root())?;
            b.apply_copy(&tree, &plan, owner, unpack)?;
            drop(tree);
            Ok(snap.commit()?)
        })
    }

    /// `--chown` as numbers, names looked up in the stage's own passwd/group
    /// (read from a view of its layers).
    fn chown_owner(&mut self, spec: &str, st: &StageState) -> Result<(u32, u32), StepError> {
        if let Some(o) = crate::users::numeric_chown(spec) {
            return Ok((o.uid, o.gid));
        }
        let view = self.host.view(&st.layers)?;
        let owner = crate::users::resolve_chown(view.root(), spec)?;
        Ok((owner.uid, owner.gid))
    }

    /// Resolves and scans the sources; returns the plan and the sources' part
    /// of the cache key.
    fn plan_copy(
        &mut self,
        st: &StageState,
        spec: &CopySpec,
    ) -> Result<(Plan, Vec<Value>), StepError> {
        let chmod = spec.chmod.as_deref().map(parse_chmod).transpose()?;
        if spec.checksum.is_some() && !(spec.sources.len() == 1 && is_url(&spec.sources[0])) {
            return Err(StepError::ChecksumNeedsUrl);
        }
        let count = spec.sources.len() + spec.contents.len();
        let dest_slash = spec.dest.ends_with('/') || spec.dest == "." || spec.dest.ends_with("/.");
        if count > 1 && !dest_slash {
            return Err(StepError::NeedsDirectory);
        }
        let scratch = super::run::Scratch::new(&self.host.state_dir())?;
        let local: Vec<&String> = spec.sources.iter().filter(|s| !is_url(s)).collect();
        let src = match local.is_empty() {
            true => SourceRoot::Context, // not used
            false => self.source_root(spec.from.as_deref())?,
        };
        let exclude = match spec.exclude.is_empty() {
            true => None,
            false => Some(Ignore::new(&spec.exclude, &[])?),
        };
        let mut items = Vec::new();
        let mut keys = Vec::new();
        let mut matched = 0;
        for s in &spec.sources {
            if is_url(s) {
                if !spec.add {
                    return Err(StepError::UrlInCopy);
                }
                let (item, key) = self.download(s, spec.checksum.as_deref(), &scratch)?;
                items.push(item);
                keys.push(key);
                matched += 1;
                continue;
            }
            let paths = self.expand(&src, s)?;
            matched += paths.len();
            for path in paths {
                let (item, key) = self.scan_path(&src, path, exclude.as_ref())?;
                items.push(item);
                keys.push(key);
            }
        }
        for c in &spec.contents {
            keys.push(
                json!({"inline": c.path, "hash": hex::encode(Sha256::digest(c.data.as_bytes()))}),
            );
            items.push(Item::Inline {
                name: c.path.clone(),
                data: c.data.clone(),
            });
            matched += 1;
        }
        let dest = paths::absolute(&st.workdir(), &spec.dest);
        let plan = Plan {
            src,
            items,
            dest_is_dir: dest_slash || matched > 1,
            dest,
            chmod,
            _scratch: scratch,
        };
        Ok((plan, keys))
    }

    /// Scans one source path; its key holds the content's hash (context) or
    /// the layer chain it comes from (a stage or image).
    fn scan_path(
        &mut self,
        src: &SourceRoot,
        path: String,
        exclude: Option<&Ignore>,
    ) -> Result<(Item, Value), StepError> {
        let filter = Filter {
            ignore: self.ignore_of(src),
            exclude,
        };
        let root = self.root_of(src);
        let entries = scan_source(root, &path, &filter)?;
        let key = match src {
            SourceRoot::Context => {
                let h = crate::statcache::hash_entries(
                    root,
                    &path,
                    &entries,
                    &mut self.stat.borrow_mut(),
                )?;
                json!({"path": path, "hash": h})
            }
            SourceRoot::View { chain, .. } => json!({"from": chain, "path": path}),
        };
        Ok((Item::Tree { path, entries }, key))
    }

    /// ADD <url>: downloaded now (its content is part of the key), checked
    /// against `--checksum`.
    fn download(
        &mut self,
        url: &str,
        checksum: Option<&str>,
        scratch: &super::run::Scratch,
    ) -> Result<(Item, Value), StepError> {
        let file = scratch.dir.join(format!("download-{}", crate::unique()));
        let io = |source| StepError::Io {
            path: url.to_string(),
            source,
        };
        let mut out = std::fs::File::create(&file).map_err(io)?;
        let fetched = self.host.fetch(url, &mut out)?;
        drop(out);
        let mut h = Sha256::new();
        std::io::copy(&mut std::fs::File::open(&file).map_err(io)?, &mut h).map_err(io)?;
        let got = format!("sha256:{}", hex::encode(h.finalize()));
        if let Some(want) = checksum {
            let valid = want
                .strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if !valid {
                return Err(StepError::ChecksumFormat(want.to_string()));
            }
            if want != got {
                return Err(StepError::Checksum {
                    url: url.to_string(),
                    want: want.to_string(),
                    got,
                });
            }
        }
        let name = url_file_name(url);
        let key = json!({"url": url, "hash": got, "modified": fetched.modified});
        Ok((
            Item::Url {
                name,
                file,
                modified: fetched.modified,
            },
            key,
        ))
    }

    fn apply_copy(
        &self,
        tree: &Tree,
        plan: &Plan,
        owner: Option<(u32, u32)>,
        unpack: bool,
    ) -> Result<(), StepError> {
        let dest_rel = paths::in_root(&plan.dest);
        let parent_owner = owner.unwrap_or((0, 0));
        let into_dir = plan.dest_is_dir || tree.kind(&dest_rel) == Some(SFlag::S_IFDIR);
        for item in &plan.items {
            match item {
                Item::Inline { name, data } => {
                    let (dir, file) = self.target(tree, &dest_rel, name, into_dir, parent_owner)?;
                    let meta = Meta {
                        mode: plan.chmod.unwrap_or(0o644),
                        uid: parent_owner.0,
                        gid: parent_owner.1,
                        mtime: None,
                    };
                    tree.file(&dir, OsStr::new(&file), &mut data.as_bytes(), &meta)?;
                }
                Item::Url {
                    name,
                    file,
                    modified,
                } => {
                    let (dir, fname) =
                        self.target(tree, &dest_rel, name, into_dir, parent_owner)?;
                    let meta = Meta {
                        mode: plan.chmod.unwrap_or(0o600),
                        uid: parent_owner.0,
                        gid: parent_owner.1,
                        mtime: modified.map(|m| (m, 0)),
                    };
                    let mut f = std::fs::File::open(file).map_err(|source| StepError::Io {
                        path: name.clone(),
                        source,
                    })?;
                    tree.file(&dir, OsStr::new(&fname), &mut f, &meta)?;
                }
                Item::Tree { path, entries } => {
                    self.apply_tree(tree, plan, path, entries, owner, into_dir, unpack)?
                }
            }
        }
        Ok(())
    }

    /// Writes one scanned source: a directory's contents into the
    /// destination, a local archive unpacked (ADD), anything else as itself.
    #[allow(clippy::too_many_arguments)]
    fn apply_tree(
        &self,
        tree: &Tree,
        plan: &Plan,
        path: &str,
        entries: &[Entry],
        owner: Option<(u32, u32)>,
        into_dir: bool,
        unpack: bool,
    ) -> Result<(), StepError> {
        let dest_rel = paths::in_root(&plan.dest);
        let root = self.root_of(&plan.src);
        let context = matches!(plan.src, SourceRoot::Context);
        // From the context files belong to root (buildkit resets them); from
        // a stage or image they keep their owners; --chown beats both.
        let meta_of = |e: &Entry| Meta {
            mode: match e.kind {
                Kind::Symlink => e.mode,
                _ => plan.chmod.unwrap_or(e.mode),
            },
            uid: owner.map_or(if context { 0 } else { e.uid }, |o| o.0),
            gid: owner.map_or(if context { 0 } else { e.gid }, |o| o.1),
            mtime: Some(e.mtime),
        };
        let top = &entries[0];
        if top.kind == Kind::File && unpack && context {
            let file = open_file(root, path)?;
            if archive::unpack_if_archive(file, path, tree, &dest_rel, owner)? {
                return Ok(());
            }
        }
        let parent_owner = owner.unwrap_or((0, 0));
        if top.kind == Kind::Dir {
            let dir = tree.mkdir_all(&dest_rel, parent_owner)?;
            return write_entries(tree, root, path, entries, dir, &meta_of);
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        let (dir, name) = self.target(tree, &dest_rel, base, into_dir, parent_owner)?;
        write_one(
            tree,
            root,
            path,
            top,
            &dir,
            OsStr::new(&name),
            &meta_of(top),
        )
    }

    /// The directory and name a single file goes to.
    fn target(
        &self,
        tree: &Tree,
        dest: &str,
        name: &str,
        into_dir: bool,
        owner: (u32, u32),
    ) -> Result<(Dir, String), StepError> {
        if into_dir {
            return Ok((tree.mkdir_all(dest, owner)?, name.to_string()));
        }
        let (parent, file) = match dest.rsplit_once('/') {
            Some((p, f)) => (p, f),
            None => ("", dest),
        };
        Ok((tree.mkdir_all(parent, owner)?, file.to_string()))
    }
}

/// Scans a source, following a symlink at the source path inside the source
/// root (buildkit); one whose target is not there (absolute, outside, or
/// missing) is copied as the symlink it is.
fn scan_source(
    root: &Root,
    path: &str,
    filter: &Filter,
) -> Result<Vec<Entry>, crate::tree::read::ReadError> {
    match scan(root, path, true, filter) {
        Err(crate::tree::read::ReadError::NotFound(shown)) => match scan(root, path, false, filter)
        {
            Ok(e) if e[0].kind == Kind::Symlink => Ok(e),
            _ => Err(crate::tree::read::ReadError::NotFound(shown)),
        },
        other => other,
    }
}

/// The file name ADD gives a download: the URL path's last name.
fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let path = path.splitn(4, '/').nth(3).unwrap_or("");
    match path.rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." => n.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// Writes a scanned directory's entries (not the directory itself) into
/// `top`, keeping hard links; directory metadata is applied after their
/// contents.
fn write_entries(
    tree: &Tree,
    root: &Root,
    base: &str,
    entries: &[Entry],
    top: Dir,
    meta_of: &dyn Fn(&Entry) -> Meta,
) -> Result<(), StepError> {
    let mut stack: Vec<(String, Dir, Option<Meta>)> = vec![(String::new(), top, None)];
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    for e in &entries[1..] {
        let parent = e.rel.rsplit_once('/').map_or("", |(p, _)| p);
        while stack.last().is_some_and(|(rel, _, _)| rel != parent) {
            close(tree, &mut stack)?;
        }
        let name = OsStr::new(e.rel.rsplit('/').next().unwrap_or(&e.rel));
        let dir = &stack.last().expect("the top stays").1;
        if e.kind == Kind::Dir {
            let meta = meta_of(e);
            let (child, made) = tree.child_dir(dir, name, &meta)?;
            stack.push((e.rel.clone(), child, made.then_some(meta)));
            continue;
        }
        let from_root = join(base, &e.rel);
        if e.kind == Kind::File && e.nlink > 1 {
            if let Some(first) = links.get(&(e.dev, e.ino)) {
                let (fdir, fname) = first.rsplit_once('/').unwrap_or(("", first));
                let from = tree.mkdir_all(fdir, (0, 0))?;
                tree.hardlink(dir, name, &from, OsStr::new(fname))?;
                continue;
            }
            links.insert((e.dev, e.ino), join(&dir.rel, &name.to_string_lossy()));
        }
        write_one(tree, root, &from_root, e, dir, name, &meta_of(e))?;
    }
    while !stack.is_empty() {
        close(tree, &mut stack)?;
    }
    Ok(())
}

fn close(tree: &Tree, stack: &mut Vec<(String, Dir, Option<Meta>)>) -> Result<(), StepError> {
    if let Some((_, dir, Some(meta))) = stack.pop() {
        tree.set_dir_meta(&dir, &meta)?;
    }
    Ok(())
}

/// Writes one non-directory entry.
fn write_one(
    tree: &Tree,
    root: &Root,
    from_root: &str,
    e: &Entry,
    dir: &Dir,
    name: &OsStr,
    meta: &Meta,
) -> Result<(), StepError> {
    match e.kind {
        Kind::File => {
            let mut f = open_file(root, from_root)?;
            tree.file(dir, name, &mut f, meta)?;
        }
        Kind::Symlink => {
            let target = e.link.clone().unwrap_or_default();
            tree.symlink(dir, name, &target, meta)?;
        }
        Kind::Fifo => tree.node(dir, name, SFlag::S_IFIFO, 0, meta)?,
        Kind::Char => tree.node(dir, name, SFlag::S_IFCHR, e.rdev, meta)?,
        Kind::Block => tree.node(dir, name, SFlag::S_IFBLK, e.rdev, meta)?,
        Kind::Socket | Kind::Dir => {}
    }
    Ok(())
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// Copies a source (a directory's contents, or one file) into a new host
/// directory `dest` with its metadata (read-write bind mounts get such a
/// copy); returns the path to bind.
pub(super) fn copy_out(
    root: &Root,
    path: &str,
    filter: &Filter,
    dest: &Path,
) -> Result<PathBuf, StepError> {
    std::fs::create_dir_all(dest).map_err(|source| StepError::Io {
        path: dest.display().to_string(),
        source,
    })?;
    let entries = scan(root, path, true, filter)?;
    let tree = Tree::open(dest)?;
    let top_dir = tree.mkdir_all("", (0, 0))?;
    let keep = |e: &Entry| Meta {
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: Some(e.mtime),
    };
    if entries[0].kind == Kind::Dir {
        write_entries(&tree, root, path, &entries, top_dir, &keep)?;
        return Ok(dest.to_path_buf());
    }
    let name = path.rsplit('/').next().unwrap_or("file").to_string();
    write_one(
        &tree,
        root,
        path,
        &entries[0],
        &top_dir,
        OsStr::new(&name),
        &keep(&entries[0]),
    )?;
    Ok(dest.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names() {
        assert_eq!(
            url_file_name("http://127.0.0.1:8000/dir/file.tar.gz?x=1"),
            "file.tar.gz"
        );
        assert_eq!(url_file_name("http://host/"), "__unnamed__");
        assert_eq!(url_file_name("http://host"), "__unnamed__");
    }

    #[test]
    fn chmod_is_octal() {
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert_eq!(parse_chmod("04755").unwrap(), 0o4755);
        assert!(parse_chmod("u+x").is_err());
        assert!(parse_chmod("17777").is_err());
    }
}
