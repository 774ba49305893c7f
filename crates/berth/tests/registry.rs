//! Registries: push and pull through a real docker-registry on loopback, auth and
//! docker's credentials, platform choice from a manifest list, corrupt blobs,
//! mirrors, resumed pulls, and images that skopeo wrote in other formats.

use berth_testkit::registry::{free_port, skopeo_copy, write_file, CountingProxy, Registry};
use berth_testkit::{output_with_input, require_root_and, stderr, stdout, Berth, KillOnDrop};
use std::process::Output;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// berth with extra environment (DOCKER_CONFIG, BERTH_CONFIG).
fn run_env(b: &Berth, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = b.command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run berth")
}

fn ok_env(b: &Berth, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = run_env(b, env, args);
    assert!(
        out.status.success(),
        "berth {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out).trim().to_string()
}

/// Files under a directory, recursively (to check that nothing was committed).
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// (name, inode) of every blob: equal sets mean nothing was written.
fn blob_inodes(b: &Berth) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut v: Vec<(String, u64)> = std::fs::read_dir(b.root.join("blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().ino(),
            )
        })
        .collect();
    v.sort();
    v
}

fn image_layers(b: &Berth, image: &str) -> Vec<String> {
    let manifest_digest = b.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Metadata.ManifestDigest}}",
        image,
    ]);
    let hex = manifest_digest.trim_start_matches("sha256:");
    let raw = std::fs::read(b.root.join("blobs/sha256").join(hex)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn push_then_pull_into_empty_store_runs() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    let id = src.import_busybox("localbb:1", &["CMD echo pulled-and-ran"]);
    let dest = format!("{}/tools/bb:v1", reg.host);
    let pushed = src.ok(&["push", "localbb:1", &dest]);
    assert!(pushed.contains("Pushed"), "{pushed}");
    let digest = pushed
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();

    let dst = Berth::new(BIN);
    assert!(!dst.root.join("blobs").exists(), "the store starts empty");
    let pulled = dst.ok(&["pull", &dest]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert!(pulled.ends_with(&dest), "{pulled}");
    assert_eq!(
        dst.ok(&["image", "inspect", "-f", "{{.Id}}", &dest]),
        id,
        "same image id"
    );
    assert_eq!(dst.ok(&["run", "--rm", &dest]), "pulled-and-ran");

    // A pulled image goes out with its blobs unchanged: same manifest digest, and
    // the layer is mounted or found, never uploaded again.
    let again = dst.ok(&["push", &dest, &format!("{}/other/bb:v1", reg.host)]);
    assert!(
        again.contains("Mounted from tools/bb") || again.contains("Already exists"),
        "{again}"
    );
    assert!(again.contains(&digest), "same manifest digest: {again}");
    assert_eq!(dst.ok(&["pull", "-q", &dest]), dest);
    // -a: every tag of the repository. Pushing the local image again reuses the
    // gzip form made the first time: no blob in its store is rewritten or added.
    let before = blob_inodes(&src);
    let v2 = format!("{}/tools/bb:v2", reg.host);
    src.ok(&["push", "-q", "localbb:1", &v2]);
    assert_eq!(blob_inodes(&src), before, "the layer was compressed again");
    let all = dst.ok(&["pull", "-a", &format!("{}/tools/bb", reg.host)]);
    assert!(all.contains(&format!("{}/tools/bb:v2", reg.host)), "{all}");
    let tags = dst.ok(&[
        "images",
        "--format",
        "{{.Tag}}",
        &format!("{}/tools/bb", reg.host),
    ]);
    assert_eq!(tags.lines().count(), 2, "{tags}");
    let with_tag = dst.run(&["pull", "-a", &dest]);
    assert_eq!(with_tag.status.code(), Some(125));
    dst.assert_no_leftovers();
}

#[test]
fn run_pulls_a_missing_image_and_explains_what_it_tried() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    src.import_busybox("bb:run", &[]);
    let dest = format!("{}/bb:run", reg.host);
    src.ok(&["push", "-q", "bb:run", &dest]);

    let b = Berth::new(BIN);
    let never = b.run(&["run", "--rm", "--pull=never", &dest, "true"]);
    assert_eq!(never.status.code(), Some(125));
    assert!(
        stderr(&never).contains("Unable to find image"),
        "{}",
        stderr(&never)
    );
    let out = b.run(&["run", "--rm", &dest, "echo", "auto"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "auto");
    assert!(
        stderr(&out).contains("Unable to find image"),
        "{}",
        stderr(&out)
    );

    let missing = format!("{}/no/such:thing", reg.host);
    let out = b.run(&["run", "--rm", &missing, "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("Unable to find image"), "{err}");
    assert!(
        err.contains(&format!("registry {}", reg.host)),
        "names the registry: {err}"
    );
    assert!(err.contains("not found"), "gives the answer: {err}");
    let down = format!("127.0.0.1:{}/x:y", free_port());
    let err = stderr(&b.run(&["pull", &down]));
    assert!(err.contains("cannot reach"), "{err}");
    b.assert_no_leftovers();
}

#[test]
fn login_push_and_wrong_password() {
    if !require_root_and(&["tar", "docker-registry", "htpasswd"]) {
        return;
    }
    let reg = Registry::start_with_auth("berth", "s3cret");
    let b = Berth::new(BIN);
    b.import_busybox("authbb:1", &[]);
    let docker_config = b.root.parent().unwrap().join("docker-config");
    let dc = docker_config.to_str().unwrap();
    let env = [("DOCKER_CONFIG", dc)];
    let dest = format!("{}/auth/bb:1", reg.host);

    let anon = run_env(&b, &env, &["push", "authbb:1", &dest]);
    assert_ne!(anon.status.code(), Some(0));
    assert!(stderr(&anon).contains("berth login"), "{}", stderr(&anon));

    let mut wrong = b.command(&["login", "-u", "berth", "--password-stdin", &reg.host]);
    wrong
        .env("DOCKER_CONFIG", dc)
        .stderr(std::process::Stdio::piped());
    let out = output_with_input(wrong, "nope\n");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("rejected the username or password"),
        "{}",
        stderr(&out)
    );
    assert!(!docker_config.join("config.json").exists(), "nothing saved");

    let mut right = b.command(&["login", "-u", "berth", "--password-stdin", &reg.host]);
    right
        .env("DOCKER_CONFIG", dc)
        .stderr(std::process::Stdio::piped());
    let out = output_with_input(right, "s3cret\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker_config.join("config.json")).unwrap()).unwrap();
    // base64("berth:s3cret"), where docker reads it.
    assert_eq!(config["auths"][&reg.host]["auth"], "YmVydGg6czNjcmV0");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(docker_config.join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    ok_env(&b, &env, &["push", "authbb:1", &dest]);
    let fresh = Berth::new(BIN);
    ok_env(&fresh, &env, &["pull", "-q", &dest]);
    assert_eq!(
        fresh.ok(&["run", "--rm", &dest, "echo", "authed"]),
        "authed"
    );

    assert!(ok_env(&b, &env, &["logout", &reg.host]).contains("Removing login credentials"));
    let after = run_env(&fresh, &env, &["pull", &dest]);
    assert_ne!(
        after.status.code(),
        Some(0),
        "logged out: {}",
        stdout(&after)
    );
    fresh.assert_no_leftovers();
}

/// `login https://HOST/` saves the credential under HOST; `logout` spelled the same
/// way must find and remove it (it looked for the URL and said "Not logged in").
#[test]
fn logout_takes_the_server_spelled_as_login_does() {
    if !require_root_and(&[]) {
        return;
    }
    let b = Berth::new(BIN);
    let docker_config = b.root.parent().unwrap().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let config = docker_config.join("config.json");
    std::fs::write(&config, r#"{"auths":{"reg.example:5000":{"auth":"YTpi"}}}"#).unwrap();
    let env = [("DOCKER_CONFIG", docker_config.to_str().unwrap())];
    let out = ok_env(&b, &env, &["logout", "https://reg.example:5000/"]);
    assert!(
        out.contains("Removing login credentials for reg.example:5000"),
        "{out}"
    );
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(left["auths"].get("reg.example:5000").is_none(), "{left}");
    b.assert_no_leftovers();
}

/// PUTs a blob or manifest with curl (the test builds what no tool here makes).
fn curl_put(url: &str, content_type: &str, body: &[u8]) {
    let mut curl = std::process::Command::new("curl");
    curl.args(["-fsS", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {content_type}"))
        .args(["--data-binary", "@-", url])
        .stderr(std::process::Stdio::piped());
    let out = output_with_input(curl, body);
    assert!(
        out.status.success(),
        "PUT {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn curl_get(url: &str, accept: &str) -> Vec<u8> {
    let out = std::process::Command::new("curl")
        .args(["-fsS", "-H"])
        .arg(format!("Accept: {accept}"))
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {url}");
    out.stdout
}

/// Uploads a blob with a monolithic POST + PUT.
fn upload_blob(host: &str, repo: &str, data: &[u8]) -> String {
    let digest = sha256(data);
    let out = std::process::Command::new("curl")
        .args(["-fsS", "-X", "POST", "-D", "-", "-o", "/dev/null"])
        .arg(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&out.stdout).to_string();
    let location = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .unwrap()
        .trim()
        .to_string();
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = if location.starts_with("http") {
        format!("{location}{sep}digest={digest}")
    } else {
        format!("http://{host}{location}{sep}digest={digest}")
    };
    curl_put(&url, "application/octet-stream", data);
    digest
}

fn sha256(data: &[u8]) -> String {
    let out = output_with_input(std::process::Command::new("sha256sum"), data);
    assert!(out.status.success(), "sha256sum failed");
    format!(
        "sha256:{}",
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    )
}

#[test]
fn manifest_list_picks_host_platform_or_the_requested_one() {
    if !require_root_and(&["tar", "docker-registry", "curl", "sha256sum"]) {
        return;
    }
    let reg = Registry::start();
    let b = Berth::new(BIN);
    b.import_busybox("plat:amd", &["LABEL which=host"]);
    b.ok(&["push", "-q", "plat:amd", &format!("{}/multi:amd", reg.host)]);
    let docker_manifest = "application/vnd.oci.image.manifest.v1+json";
    let m_amd = curl_get(
        &format!("http://{}/v2/multi/manifests/amd", reg.host),
        docker_manifest,
    );
    let mut manifest: serde_json::Value = serde_json::from_slice(&m_amd).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let config = curl_get(
        &format!("http://{}/v2/multi/blobs/{config_digest}", reg.host),
        "*/*",
    );
    let mut cfg: serde_json::Value = serde_json::from_slice(&config).unwrap();
    cfg["architecture"] = "arm64".into();
    cfg["variant"] = "v8".into();
    cfg["config"]["Labels"] = serde_json::json!({"which": "arm64"});
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let arm_cfg = upload_blob(&reg.host, "multi", &cfg_bytes);
    manifest["config"]["digest"] = arm_cfg.clone().into();
    manifest["config"]["size"] = cfg_bytes.len().into();
    let m_arm = serde_json::to_vec(&manifest).unwrap();
    curl_put(
        &format!("http://{}/v2/multi/manifests/arm", reg.host),
        docker_manifest,
        &m_arm,
    );
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": docker_manifest, "digest": sha256(&m_arm), "size": m_arm.len(),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": docker_manifest, "digest": sha256(&m_amd), "size": m_amd.len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    });
    curl_put(
        &format!("http://{}/v2/multi/manifests/latest", reg.host),
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).unwrap(),
    );

    let host = Berth::new(BIN);
    let r = format!("{}/multi", reg.host);
    host.ok(&["pull", "-q", &r]);
    let fmt = "{{.Architecture}} {{.Config.Labels.which}}";
    assert_eq!(host.ok(&["image", "inspect", "-f", fmt, &r]), "amd64 host");
    assert_eq!(host.ok(&["run", "--rm", &r, "echo", "runs"]), "runs");

    let other = Berth::new(BIN);
    other.ok(&["pull", "-q", "--platform", "linux/arm64", &r]);
    assert_eq!(
        other.ok(&["image", "inspect", "-f", fmt, &r]),
        "arm64 arm64"
    );
    let none = other.run(&["pull", "--platform", "linux/s390x", &r]);
    assert!(
        stderr(&none).contains("has no image for linux/s390x"),
        "{}",
        stderr(&none)
    );
    assert!(
        stderr(&none).contains("linux/arm64/v8, linux/amd64"),
        "{}",
        stderr(&none)
    );
    let bad = other.run(&["pull", "--platform", "linux", &r]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(
        stderr(&bad).contains("os/arch[/variant]"),
        "{}",
        stderr(&bad)
    );
    host.assert_no_leftovers();
}

#[test]
fn corrupt_blob_is_refused_and_nothing_is_committed() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    src.import_busybox("corrupt:1", &[]);
    let dest = format!("{}/corrupt:1", reg.host);
    src.ok(&["push", "-q", "corrupt:1", &dest]);
    let layer = image_layers(&src, "corrupt:1");
    // The pushed layer is the gzip form berth made; corrupt the registry's copy
    // (same length, a few bytes flipped in the middle).
    let pushed_layer = {
        let raw = curl_or_read_manifest(&reg, "corrupt", "1");
        raw["layers"][0]["digest"].as_str().unwrap().to_string()
    };
    assert_eq!(layer.len(), 1);
    let file = reg.blob_file(&pushed_layer);
    let original = std::fs::read(&file).unwrap();
    let mut data = original.clone();
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&file, &data).unwrap();

    let b = Berth::new(BIN);
    let out = b.run(&["pull", &dest]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("blob {pushed_layer}")) && err.contains("is corrupt"),
        "{err}"
    );
    assert!(err.contains("nothing was stored"), "{err}");
    assert_eq!(b.ok(&["images", "-q"]), "", "no image recorded");
    let committed: Vec<String> = files_under(&b.root.join("blobs"));
    assert!(committed.is_empty(), "no blob committed: {committed:?}");
    assert!(
        files_under(&b.root.join("layers")).is_empty(),
        "no layer committed"
    );
    // Truncated: the registry serves half the blob.
    std::fs::write(&file, &original[..mid]).unwrap();
    let out = b.run(&["pull", &dest]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "has {mid} bytes where the manifest says {}",
            original.len()
        )),
        "{err}"
    );
    assert!(
        files_under(&b.root.join("blobs")).is_empty(),
        "no blob committed"
    );
    assert!(
        files_under(&b.root.join("tmp")).is_empty(),
        "no partial left: {:?}",
        files_under(&b.root.join("tmp"))
    );
    b.assert_no_leftovers();
}

fn curl_or_read_manifest(reg: &Registry, repo: &str, tag: &str) -> serde_json::Value {
    let raw = curl_get(
        &format!("http://{}/v2/{repo}/manifests/{tag}", reg.host),
        "application/vnd.oci.image.manifest.v1+json",
    );
    serde_json::from_slice(&raw).unwrap()
}

#[test]
fn mirrors_are_tried_in_order_then_upstream() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let upstream = Registry::start();
    let mirror = Registry::start();
    let src = Berth::new(BIN);
    src.import_busybox("mirrored:1", &["CMD echo from-mirror"]);
    // Only the mirror has it, under the upstream's repository path.
    src.ok(&[
        "push",
        "-q",
        "mirrored:1",
        &format!("{}/team/app:1", mirror.host),
    ]);
    let dead = format!("127.0.0.1:{}", free_port());
    let conf_dir = src.root.parent().unwrap().join("etc");
    let conf = write_file(
        &conf_dir,
        "registries.toml",
        &format!(
            "[[registry]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"{dead}\"\n[[registry.mirror]]\nlocation = \"{}\"\n",
            upstream.host, mirror.host
        ),
    );
    let env = [("BERTH_CONFIG", conf.to_str().unwrap())];
    let b = Berth::new(BIN);
    let info = ok_env(&b, &env, &["info"]);
    assert!(
        info.contains(&format!(
            "Registry {}: insecure=false blocked=false mirrors=[{dead}, {}]",
            upstream.host, mirror.host
        )),
        "{info}"
    );
    let image = format!("{}/team/app:1", upstream.host);
    ok_env(&b, &env, &["pull", "-q", &image]);
    assert_eq!(b.ok(&["run", "--rm", &image]), "from-mirror");
    assert!(
        !upstream.log().contains("/v2/team/app/manifests"),
        "upstream not asked"
    );

    // Down mirror, mirror without the image → upstream.
    src.ok(&[
        "push",
        "-q",
        "mirrored:1",
        &format!("{}/team/other:1", upstream.host),
    ]);
    let other = format!("{}/team/other:1", upstream.host);
    let out = run_env(&b, &env, &["pull", &other]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(upstream.log().contains("GET /v2/team/other/manifests/1"));
    assert!(
        mirror.log().contains("/v2/team/other/manifests/1"),
        "mirror asked first"
    );

    // Nowhere: the message lists every place.
    let err = stderr(&run_env(
        &b,
        &env,
        &["pull", &format!("{}/team/none:1", upstream.host)],
    ));
    for place in [
        format!("mirror {dead}"),
        format!("mirror {}", mirror.host),
        format!("registry {}", upstream.host),
    ] {
        assert!(err.contains(&place), "{place} in {err}");
    }
    let bad = write_file(&conf_dir, "bad.toml", "short-name-mode = \"enforcing\"\n");
    let out = run_env(
        &b,
        &[("BERTH_CONFIG", bad.to_str().unwrap())],
        &["pull", &image],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("short-name-mode"), "{}", stderr(&out));
    b.assert_no_leftovers();
}

#[test]
fn killed_pull_resumes_with_fewer_bytes() {
    if !require_root_and(&["tar", "docker-registry", "head"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    // A layer that does not compress: 24 MiB of random bytes.
    let rootfs = src.root.parent().unwrap().join("big-rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C {0} -xf {1} && head -c 25165824 /dev/urandom > {0}/blob && tar -C {0} -cf {0}.tar .",
            rootfs.display(),
            berth_testkit::busybox_tar().display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let tar = format!("{}.tar", rootfs.display());
    src.ok(&["import", &tar, "big:1"]);
    let proxy = CountingProxy::start(&reg.host, Duration::from_millis(4));
    src.ok(&["push", "-q", "big:1", &format!("{}/big:1", reg.host)]);
    let image = format!("{}/big:1", proxy.host);

    let b = Berth::new(BIN);
    proxy.reset();
    // Killed on drop too: a failed check below must not leave the pull running.
    let mut child = KillOnDrop(b.command(&["pull", "-q", &image]).spawn().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while proxy.count() < 8 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull never got going"
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the pull finished before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let first = proxy.count();
    let partial = files_under(&b.root.join("tmp/partial"));
    assert_eq!(partial.len(), 1, "{partial:?}");
    let kept = std::fs::metadata(&partial[0]).unwrap().len();
    assert!(kept > 4 << 20, "kept {kept} bytes");
    assert!(b.ok(&["images", "-q"]).is_empty(), "no image yet");
    assert!(
        files_under(&b.root.join("layers")).is_empty(),
        "no layer yet"
    );

    proxy.reset();
    let out = b.run(&["pull", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = proxy.count();
    assert!(stdout(&out).contains("Resuming"), "{}", stdout(&out));
    let whole = 25 << 20;
    assert!(
        second + kept / 2 < whole,
        "resumed pull fetched {second} bytes (first {first}, kept {kept})"
    );
    // Neither the partial blob nor the killed pull's unpack directory is left.
    assert!(
        files_under(&b.root.join("tmp")).is_empty(),
        "{:?}",
        files_under(&b.root.join("tmp"))
    );
    assert_eq!(
        b.ok(&["run", "--rm", &image, "sh", "-c", "wc -c < /blob"]),
        "25165824"
    );
    b.assert_no_leftovers();
}

#[test]
fn skopeo_written_formats_pull_and_run() {
    if !require_root_and(&["tar", "docker-registry", "skopeo"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    src.import_busybox("sk:1", &["CMD echo skopeo-ok"]);
    let base = format!("{}/sk/base:1", reg.host);
    src.ok(&["push", "-q", "sk:1", &base]);
    for (name, flags) in [
        ("v2s2-gzip", vec!["--format", "v2s2"]),
        ("oci-gzip", vec!["--format", "oci"]),
        (
            "oci-zstd",
            vec!["--format", "oci", "--dest-compress-format", "zstd"],
        ),
        ("oci-plain", vec!["--format", "oci", "--dest-decompress"]),
    ] {
        let dest = format!("{}/sk/{name}:1", reg.host);
        let mut args = flags.clone();
        let (s, d) = (format!("docker://{base}"), format!("docker://{dest}"));
        args.push(&s);
        args.push(&d);
        let out = skopeo_copy(&args);
        assert!(
            out.status.success(),
            "skopeo {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // An empty store each time: every format's layer is really fetched.
        let b = Berth::new(BIN);
        let pulled = b.ok(&["pull", &dest]);
        assert!(pulled.contains("Pull complete"), "{name}: {pulled}");
        assert_eq!(b.ok(&["run", "--rm", &dest]), "skopeo-ok", "{name}");
        b.assert_no_leftovers();
    }
}

#[test]
fn concurrent_pulls_of_one_image_both_succeed() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    src.import_busybox("twice:1", &[]);
    let name = format!("{}/twice:1", reg.host);
    src.ok(&["push", "-q", "twice:1", &name]);
    let b = Berth::new(BIN);
    let spawned: Vec<_> = (0..3)
        .map(|_| {
            b.command(&["pull", "-q", &name])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in spawned {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(b.ok(&["run", "--rm", &name, "echo", "one"]), "one");
    assert!(files_under(&b.root.join("tmp")).is_empty());
    b.assert_no_leftovers();
}

/// `build` pulls a FROM image that is only in a registry, as `run` does, and
/// `build --pull` asks the registry again even when the image is local.
#[test]
fn build_pulls_its_base_image() {
    if !require_root_and(&["tar", "docker-registry"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    src.import_busybox("localbb:1", &[r#"CMD ["/bin/sh"]"#]);
    let base = format!("{}/tools/base:v1", reg.host);
    src.ok(&["push", "-q", "localbb:1", &base]);

    let b = Berth::new(BIN);
    let ctx = tempfile::tempdir().unwrap();
    write_file(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {base}\nRUN echo built > /built\n"),
    );
    let ctx_path = ctx.path().to_str().unwrap();
    let id = b.ok(&["build", "-q", "-t", "fromreg", ctx_path]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(b.ok(&["run", "--rm", "fromreg", "cat", "/built"]), "built");
    assert!(
        b.ok(&["images", "--format", "{{.Repository}}"])
            .contains("tools/base"),
        "the base image was pulled into the store"
    );
    // --pull goes to the registry although the base is local now.
    let out = b.run(&["build", "--pull", "-t", "fromreg", ctx_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    // With the registry gone, --pull fails and says why; without it the local base serves.
    drop(reg);
    let out = b.run(&["build", "--pull", "-t", "fromreg", ctx_path]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pulled every time because of --pull"),
        "{}",
        stderr(&out)
    );
    b.ok(&["build", "-q", "-t", "fromreg", ctx_path]);
}

/// The Debian systemd image goes through a registry and boots on the other side:
/// pushed from one store, pulled into an empty one (same image id), run as a
/// system container that reaches `running` and halts cleanly.
#[test]
fn systemd_image_pushed_and_pulled_into_an_empty_store_boots() {
    if !require_root_and(&["tar", "docker-registry", "debootstrap"]) {
        return;
    }
    let reg = Registry::start();
    let src = Berth::new(BIN);
    let id = src.import_systemd("debian-systemd");
    let dest = format!("{}/system/debian:bookworm", reg.host);
    src.ok(&["push", "-q", "debian-systemd", &dest]);
    drop(src);

    let dst = Berth::new(BIN);
    assert!(!dst.root.join("blobs").exists(), "the store starts empty");
    assert_eq!(dst.ok(&["pull", "-q", &dest]), dest);
    assert_eq!(dst.ok(&["image", "inspect", "-f", "{{.Id}}", &dest]), id);
    dst.ok(&["run", "-d", "--wait=ready", "--name", "s", &dest]);
    let state = dst.run(&["exec", "s", "systemctl", "is-system-running", "--wait"]);
    assert_eq!(stdout(&state).trim(), "running", "{}", stderr(&state));
    dst.ok(&["stop", "s"]);
    assert_eq!(
        dst.ok(&["inspect", "-f", "{{.State.ExitCode}}", "s"]),
        "0",
        "a clean halt"
    );
    dst.ok(&["rm", "s"]);
    dst.assert_no_leftovers();
}
