//! Images built by an attacker, delivered through a registry and an OCI archive:
//! every field that becomes a path on the host must be refused before it is used.
//! The registry is the testkit's real docker-registry on loopback; the hostile
//! blobs are uploaded with curl (no tool here makes them).

use berth_testkit::registry::Registry;
use berth_testkit::{require_root_and, stderr, Berth};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn sha256(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

/// An uncompressed layer holding one small file.
fn layer_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
    b.into_inner().unwrap()
}

/// A config whose only diff id is `diff_id` (whatever the layer really hashes to).
fn config_with_diff_id(diff_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap()
}

fn manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer), "size": layer.len()}],
    }))
    .unwrap()
}

fn curl(args: &[&str], body: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("curl")
        .args(["-fsS"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run curl");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A monolithic blob upload (POST for a location, PUT with the digest).
fn upload_blob(host: &str, repo: &str, data: &[u8]) {
    let headers = curl(
        &[
            "-X",
            "POST",
            "-D",
            "-",
            "-o",
            "/dev/null",
            &format!("http://{host}/v2/{repo}/blobs/uploads/"),
        ],
        b"",
    );
    let location = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .expect("upload location");
    let sep = if location.contains('?') { '&' } else { '?' };
    let base = if location.starts_with("http") {
        location
    } else {
        format!("http://{host}{location}")
    };
    let url = format!("{base}{sep}digest={}", sha256(data));
    curl(
        &[
            "-X",
            "PUT",
            "--data-binary",
            "@-",
            "-H",
            "Content-Type: application/octet-stream",
            &url,
        ],
        data,
    );
}

fn push_raw(reg: &Registry, repo: &str, tag: &str, config: &[u8], layer: &[u8]) -> String {
    upload_blob(&reg.host, repo, layer);
    upload_blob(&reg.host, repo, config);
    curl(
        &[
            "-X",
            "PUT",
            "--data-binary",
            "@-",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            &format!("http://{}/v2/{repo}/manifests/{tag}", reg.host),
        ],
        &manifest(config, layer),
    );
    format!("{}/{repo}:{tag}", reg.host)
}

/// A host directory with one file that must survive whatever the test does.
struct Victim(PathBuf);

impl Victim {
    fn new(b: &Berth) -> Self {
        let dir = b.root.parent().unwrap().join("victim");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("canary"), "still here").unwrap();
        Victim(dir)
    }
    fn intact(&self) -> bool {
        std::fs::read_to_string(self.0.join("canary")).is_ok_and(|s| s == "still here")
    }
    fn as_diff_id(&self) -> String {
        // "sha256:" + an absolute path: joined onto the layers directory it
        // would replace it.
        format!("sha256:{}", self.0.display())
    }
}

fn assert_refused_diff_id(out: &Output, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(125), "{what} must fail: {err}");
    assert!(
        err.contains("diff id") && err.contains("64 lowercase hex"),
        "{what}: the error names the bad diff id and the expected form: {err}"
    );
}

#[test]
fn pull_refuses_a_diff_id_that_names_a_host_directory() {
    if !require_root_and(&["tar", "docker-registry", "curl", "sha256sum"]) {
        return;
    }
    let reg = Registry::start();
    let b = Berth::new(BIN);
    let victim = Victim::new(&b);
    let image = push_raw(
        &reg,
        "evil/diffid",
        "1",
        &config_with_diff_id(&victim.as_diff_id()),
        &layer_tar(),
    );
    let pulled = b.run(&["pull", &image]);
    // Had the pull been accepted, the image's only layer directory would be the
    // victim: removing the image deletes it.
    let _ = b.run(&["rmi", &image]);
    assert!(
        victim.intact(),
        "pulling and removing an image deleted a host directory its config named"
    );
    assert_refused_diff_id(&pulled, "pull");
    assert!(b.ok(&["images", "-q"]).is_empty(), "nothing recorded");
    b.assert_no_leftovers();
}

/// An OCI layout (oci-layout, index.json, blobs/sha256/...) as a tar.
fn oci_archive(out: &Path, config: &[u8], layer: &[u8]) {
    let manifest = manifest(config, layer);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha256(&manifest), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "evil/oci:1"}}],
    }))
    .unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    for blob in [config, layer, &manifest[..]] {
        let hex = sha256(blob)["sha256:".len()..].to_string();
        add(&format!("blobs/sha256/{hex}"), blob);
    }
    b.finish().unwrap();
}

#[test]
fn load_refuses_a_diff_id_that_names_a_host_directory() {
    if !require_root_and(&["tar", "sha256sum"]) {
        return;
    }
    let b = Berth::new(BIN);
    let victim = Victim::new(&b);
    let tar = b.root.parent().unwrap().join("evil-oci.tar");
    oci_archive(
        &tar,
        &config_with_diff_id(&victim.as_diff_id()),
        &layer_tar(),
    );
    let loaded = b.run(&["load", "-i", tar.to_str().unwrap()]);
    let _ = b.run(&["rmi", "evil/oci:1"]);
    assert!(
        victim.intact(),
        "loading and removing an image deleted a host directory its config named"
    );
    assert_refused_diff_id(&loaded, "load");
    assert!(b.ok(&["images", "-q"]).is_empty(), "nothing recorded");
    b.assert_no_leftovers();
}

/// A registry that serves whatever files a directory holds (`/v2/REPO/manifests/TAG`,
/// `/v2/REPO/blobs/DIGEST`): python's http.server, stopped by its pid on drop.
struct StaticRegistry {
    host: String,
    dir: PathBuf,
    child: std::process::Child,
}

impl StaticRegistry {
    /// Serves `dir` on a free loopback port; a server that lost its port to
    /// another test meanwhile (it exits) is started again on another one.
    fn start(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        // Answered by this server, not by another test's that took the port.
        let token = format!("{}-{:?}", std::process::id(), std::time::Instant::now());
        std::fs::write(dir.join("server-token"), &token).unwrap();
        for _ in 0..3 {
            let port = berth_testkit::registry::free_port();
            let mut child = Command::new("python3")
                .args([
                    "-m",
                    "http.server",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                ])
                .arg("--directory")
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start python3 -m http.server");
            let host = format!("127.0.0.1:{port}");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                if serves_token(&host, &token) {
                    return StaticRegistry { host, dir, child };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("python3 -m http.server never answered on loopback");
    }

    fn serve(&self, url_path: &str, data: &[u8]) {
        let f = self.dir.join(url_path.trim_start_matches('/'));
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    }
}

/// Whether `host` answers GET /server-token with `token`.
fn serves_token(host: &str, token: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut answer = String::new();
    conn.write_all(b"GET /server-token HTTP/1.0\r\n\r\n")
        .is_ok()
        && conn.read_to_string(&mut answer).is_ok()
        && answer.ends_with(token)
}

impl Drop for StaticRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pull_refuses_a_layer_digest_that_names_a_host_file() {
    if !require_root_and(&["tar", "python3", "sha256sum"]) {
        return;
    }
    let b = Berth::new(BIN);
    b.import_busybox("base:1", &[]);
    // The layer directory exists already: a pull that trusts the descriptor's
    // digest asks the blob store whether "it" is there, and the host file is.
    let layers: Vec<String> = std::fs::read_dir(b.root.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(layers.len(), 1, "{layers:?}");
    let victim = Victim::new(&b);
    let config = config_with_diff_id(&format!("sha256:{}", layers[0]));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{}", victim.0.join("canary").display()),
                    "size": 10}],
    }))
    .unwrap();
    let srv_dir = b.root.parent().unwrap().join("static-registry");
    let reg = StaticRegistry::start(srv_dir);
    reg.serve("/v2/index.html", b"{}");
    reg.serve("/v2/evil/layer/manifests/1", &manifest);
    reg.serve(
        &format!("/v2/evil/layer/blobs/{}", sha256(&config)),
        &config,
    );
    let image = format!("{}/evil/layer:1", reg.host);
    let pulled = b.run(&["pull", &image]);
    let err = stderr(&pulled);
    assert_eq!(pulled.status.code(), Some(125), "pull must fail: {err}");
    assert!(
        err.contains("canary") && err.contains("64 lowercase hex"),
        "the error names the bad layer digest and the expected form: {err}"
    );
    assert!(victim.intact());
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 1, "only base:1");
    b.assert_no_leftovers();
}

/// A docker archive (manifest.json, config.json, layer.tar) of one layer.
fn docker_archive(out: &Path, tags: &[&str], layer: &[u8]) {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "config.json", "RepoTags": tags, "Layers": ["layer.tar"]}
    ]))
    .unwrap();
    let mut t = tar::Builder::new(std::fs::File::create(out).unwrap());
    for (name, data) in [
        ("manifest.json", &manifest[..]),
        ("config.json", &config[..]),
        ("layer.tar", layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        t.append_data(&mut h, name, data).unwrap();
    }
    t.finish().unwrap();
}

#[test]
fn load_with_a_malformed_repo_tag_records_nothing() {
    if !require_root_and(&["tar", "sha256sum"]) {
        return;
    }
    let b = Berth::new(BIN);
    let layer = layer_tar();
    let tar = b.root.parent().unwrap().join("bad-tag.tar");
    docker_archive(&tar, &["ok:1", "../../etc:x"], &layer);
    let out = b.run(&["load", "-i", tar.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("../../etc:x"),
        "the error names the tag: {err}"
    );
    assert_eq!(
        b.ok(&["images", "-a", "-q"]),
        "",
        "a refused load leaves no image behind (not even untagged)"
    );
    b.assert_no_leftovers();
}

#[test]
fn a_layer_with_blank_uid_gid_and_mtime_loads_as_docker_reads_it() {
    if !require_root_and(&["tar", "sha256sum"]) {
        return;
    }
    let b = Berth::new(BIN);
    // Some tar writers leave numeric fields empty (all NULs); Go's archive/tar,
    // and so docker, reads them as 0.
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    t.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
    let layer = t.into_inner().unwrap();
    let tar = b.root.parent().unwrap().join("blank-fields.tar");
    docker_archive(&tar, &["blank:1"], &layer);
    let out = b.run(&["load", "-i", tar.to_str().unwrap()]);
    assert!(out.status.success(), "load failed: {}", stderr(&out));
    let file = b
        .root
        .join("layers")
        .join(&sha256(&layer)["sha256:".len()..])
        .join("hello.txt");
    let meta = std::fs::metadata(&file).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid(), meta.mtime()), (0, 0, 0));
    b.assert_no_leftovers();
}

#[test]
fn pull_reads_no_more_config_than_the_manifest_declares() {
    if !require_root_and(&["python3", "sha256sum"]) {
        return;
    }
    let b = Berth::new(BIN);
    let layer = layer_tar();
    // A valid config padded to 64 MiB; its digest is right, its declared size a lie.
    let mut config = config_with_diff_id(&sha256(&layer));
    let declared = config.len();
    config.resize(64 << 20, b' ');
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(&config), "size": declared},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let reg = StaticRegistry::start(b.root.parent().unwrap().join("static-registry"));
    reg.serve("/v2/index.html", b"{}");
    reg.serve("/v2/evil/big/manifests/1", &manifest);
    reg.serve(&format!("/v2/evil/big/blobs/{}", sha256(&config)), &config);
    reg.serve(&format!("/v2/evil/big/blobs/{}", sha256(&layer)), &layer);
    let pulled = b.run(&["pull", &format!("{}/evil/big:1", reg.host)]);
    let err = stderr(&pulled);
    assert_eq!(pulled.status.code(), Some(125), "pull must fail: {err}");
    assert!(
        err.contains(&format!("{declared} bytes")),
        "the error says the config is larger than declared: {err}"
    );
    assert!(b.ok(&["images", "-q"]).is_empty());
    b.assert_no_leftovers();
}
