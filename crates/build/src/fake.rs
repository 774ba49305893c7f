//! A [`BuildHost`] for unit tests, without root: layers are directories of
//! whole files, a snapshot is a plain directory with the layers copied in,
//! and a RUN step is a Rust closure working on that directory.

use crate::host::*;
use crate::image::Image;
use crate::progress::{Progress, StepId};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a fake RUN does: gets the spec and the root, writes output, returns
/// the exit code.
pub type Script = Box<dyn FnMut(&RunSpec, &Path, &mut dyn Write) -> i32>;

#[derive(Debug, thiserror::Error)]
#[error("fake host: {0}")]
pub struct FakeError(String);

pub struct FakeHost {
    pub dir: tempfile::TempDir,
    pub images: HashMap<String, BaseImage>,
    pub runs: Vec<RunSpec>,
    pub registered: Vec<(Image, Vec<Layer>, Vec<String>)>,
    pub urls: HashMap<String, Vec<u8>>,
    pub script: Script,
}

/// The default RUN: records the command in `/ran-<n>` (so every RUN makes a
/// layer); `exit N` in the command exits N.
fn default_script() -> Script {
    let mut n = 0;
    Box::new(move |spec, root, out| {
        let line = spec.args.last().cloned().unwrap_or_default();
        if let Some(code) = line.strip_prefix("exit ") {
            return code.trim().parse().unwrap_or(1);
        }
        n += 1;
        std::fs::write(root.join(format!("ran-{n}")), &line).unwrap();
        writeln!(out, "ran {line}").unwrap();
        0
    })
}

impl FakeHost {
    pub fn new() -> FakeHost {
        FakeHost {
            dir: tempfile::tempdir().unwrap(),
            images: HashMap::new(),
            runs: Vec::new(),
            registered: Vec::new(),
            urls: HashMap::new(),
            script: default_script(),
        }
    }

    /// Adds an image made of one layer holding the files of `tree`.
    pub fn add_image(&mut self, name: &str, tree: &Path, config: Image) {
        let layer = store_layer(&self.layer_dir(), tree).expect("a base layer is not empty");
        let image = Image {
            rootfs: crate::image::RootFs {
                diff_ids: vec![layer.diff_id.clone()],
                ..Default::default()
            },
            ..config
        };
        let id = format!("sha256:{}", hex::encode(Sha256::digest(image.to_json())));
        self.images.insert(
            name.to_string(),
            BaseImage {
                id,
                config: image,
                layers: vec![layer],
            },
        );
    }

    fn layer_dir(&self) -> PathBuf {
        self.dir.path().join("layers")
    }

    /// The merged files of layers.
    pub fn files_of(&self, layers: &[Layer]) -> tempfile::TempDir {
        self.materialize(layers).0
    }

    fn materialize(&self, layers: &[Layer]) -> (tempfile::TempDir, BTreeMap<String, String>) {
        let t = tempfile::tempdir().unwrap();
        for l in layers {
            copy_tree(&self.layer_dir().join(&l.diff_id[7..]), t.path());
        }
        let before = listing(t.path());
        (t, before)
    }
}

/// Stores the files of `tree` as a layer (none when it is empty).
fn store_layer(layers: &Path, tree: &Path) -> Option<Layer> {
    let listing = listing(tree);
    if listing.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    for (k, v) in &listing {
        h.update(format!("{k}\0{v}\n"));
    }
    let diff_id = format!("sha256:{}", hex::encode(h.finalize()));
    let dir = layers.join(&diff_id[7..]);
    if !dir.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        copy_tree(tree, &dir);
    }
    Some(Layer {
        digest: diff_id.clone(),
        diff_id,
        size: listing.len() as u64,
        media_type: "fake".into(),
    })
}

/// The changes of a snapshot, stored as a layer.
fn diff(layers: &Path, root: &Path, before: &BTreeMap<String, String>) -> Option<Layer> {
    let after = listing(root);
    let changed = tempfile::tempdir().unwrap();
    for (path, sig) in &after {
        if before.get(path) != Some(sig) {
            let (src, dst) = (root.join(path), changed.path().join(path));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            let m = std::fs::symlink_metadata(&src).unwrap();
            if m.is_dir() {
                std::fs::create_dir_all(&dst).unwrap();
            } else if m.file_type().is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    store_layer(layers, changed.path())
}

struct FakeSnapshot {
    dir: tempfile::TempDir,
    before: BTreeMap<String, String>,
    layers: PathBuf,
}

impl Snapshot for FakeSnapshot {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn commit(self: Box<Self>) -> Result<Option<Layer>, HostError> {
        Ok(diff(&self.layers, self.dir.path(), &self.before))
    }
}

struct FakeView(tempfile::TempDir);

impl View for FakeView {
    fn root(&self) -> &Path {
        self.0.path()
    }
}

impl BuildHost for FakeHost {
    fn image(&mut self, name: &str, _pull: PullPolicy) -> Result<BaseImage, HostError> {
        self.images
            .get(name)
            .cloned()
            .ok_or_else(|| HostError::new(FakeError(format!("No such image: {name}"))))
    }

    fn has_layers(&self, layers: &[Layer]) -> bool {
        layers
            .iter()
            .all(|l| self.layer_dir().join(&l.diff_id[7..]).is_dir())
    }

    fn snapshot(&mut self, layers: &[Layer]) -> Result<Box<dyn Snapshot>, HostError> {
        let (dir, before) = self.materialize(layers);
        Ok(Box::new(FakeSnapshot {
            dir,
            before,
            layers: self.layer_dir(),
        }))
    }

    fn view(&mut self, layers: &[Layer]) -> Result<Box<dyn View>, HostError> {
        Ok(Box::new(FakeView(self.materialize(layers).0)))
    }

    fn run(
        &mut self,
        layers: &[Layer],
        spec: &RunSpec,
        output: &mut dyn Write,
    ) -> Result<RunResult, HostError> {
        self.runs.push(spec.clone());
        let (dir, before) = self.materialize(layers);
        let code = (self.script)(spec, dir.path(), output);
        let layer = match code {
            0 => diff(&self.layer_dir(), dir.path(), &before),
            _ => None,
        };
        Ok(RunResult {
            exit_code: code,
            layer,
        })
    }

    fn fetch(&mut self, url: &str, out: &mut dyn Write) -> Result<Fetched, HostError> {
        let data = self
            .urls
            .get(url)
            .ok_or_else(|| HostError::new(FakeError(format!("404 {url}"))))?;
        out.write_all(data).map_err(HostError::new)?;
        Ok(Fetched {
            modified: Some(1_600_000_000),
        })
    }

    fn register(
        &mut self,
        config: &[u8],
        layers: &[Layer],
        tags: &[String],
    ) -> Result<String, HostError> {
        let image = Image::from_json(config).map_err(HostError::new)?;
        self.registered
            .push((image, layers.to_vec(), tags.to_vec()));
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(config))))
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

/// path → "kind mode content" for every entry below `root`.
pub fn listing(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let rel = rel.join(e.file_name());
            let m = std::fs::symlink_metadata(root.join(&rel)).unwrap();
            let sig = if m.file_type().is_symlink() {
                format!("l {:?}", std::fs::read_link(root.join(&rel)).unwrap())
            } else if m.is_dir() {
                stack.push(rel.clone());
                format!("d {:o}", m.mode() & 0o7777)
            } else {
                let data = std::fs::read(root.join(&rel)).unwrap();
                format!(
                    "f {:o} {}",
                    m.mode() & 0o7777,
                    hex::encode(Sha256::digest(data))
                )
            };
            out.insert(rel.to_string_lossy().into_owned(), sig);
        }
    }
    out
}

/// Copies `src` over `dst` (symlinks as symlinks, modes kept).
pub fn copy_tree(src: &Path, dst: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (rel, sig) in listing(src) {
        let (s, d) = (src.join(&rel), dst.join(&rel));
        let _ = std::fs::remove_file(&d);
        if sig.starts_with('d') {
            std::fs::create_dir_all(&d).unwrap();
        } else if sig.starts_with('l') {
            std::fs::create_dir_all(d.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(std::fs::read_link(&s).unwrap(), &d).unwrap();
        } else {
            std::fs::create_dir_all(d.parent().unwrap()).unwrap();
            std::fs::copy(&s, &d).unwrap();
        }
        if !sig.starts_with('l') {
            let mode = std::fs::metadata(&s).unwrap().permissions().mode();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// Records progress events.
#[derive(Default)]
pub struct Recorder {
    pub events: Vec<String>,
    pub output: Vec<u8>,
    pub warnings: Vec<String>,
}

impl Recorder {
    /// The step names that came from the cache.
    pub fn cached(&self) -> Vec<String> {
        let names: HashMap<&str, &str> = self
            .events
            .iter()
            .filter_map(|e| e.strip_prefix("start ").and_then(|r| r.split_once(' ')))
            .collect();
        self.events
            .iter()
            .filter_map(|e| e.strip_prefix("cached "))
            .map(|id| names[id].to_string())
            .collect()
    }

    /// The step names that ran (not from the cache), FROM and export excluded.
    pub fn ran(&self) -> Vec<String> {
        let cached = self.cached();
        self.events
            .iter()
            .filter_map(|e| e.strip_prefix("start "))
            .map(|r| r.split_once(' ').unwrap().1.to_string())
            .filter(|n| !cached.contains(n) && !n.contains("] FROM ") && n != "exporting to image")
            .collect()
    }
}

impl Progress for Recorder {
    fn start(&mut self, id: StepId, name: &str) {
        self.events.push(format!("start {id} {name}"));
    }
    fn cached(&mut self, id: StepId) {
        self.events.push(format!("cached {id}"));
    }
    fn output(&mut self, _: StepId, data: &[u8]) {
        self.output.extend_from_slice(data);
    }
    fn note(&mut self, id: StepId, text: &str) {
        self.events.push(format!("note {id} {text}"));
    }
    fn done(&mut self, id: StepId, _: Duration) {
        self.events.push(format!("done {id}"));
    }
    fn failed(&mut self, id: StepId, error: &str) {
        self.events.push(format!("failed {id} {error}"));
    }
    fn warning(&mut self, text: &str) {
        self.warnings.push(text.to_string());
    }
}
