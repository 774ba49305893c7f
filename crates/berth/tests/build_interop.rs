//! An image berth builds is an image podman runs, with the config buildah
//! writes: a Dockerfile using every config instruction is built by berth,
//! saved, loaded into a private podman (runc, cgroupfs, its own storage) and
//! run there; its config, as podman reads it and as the archive carries it,
//! is compared with berth's `inspect` and with what `podman build` makes of
//! the same Dockerfile on the same base. podman also builds an image FROM
//! berth's, which must run berth's ONBUILD trigger.

use berth_testkit::{busybox_berth, busybox_tar, require_root_and, stderr, stdout, Scratch};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// The image config fields compared (docker's names).
const FIELDS: &[&str] = &[
    "Env",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "WorkingDir",
    "User",
    "Entrypoint",
    "Cmd",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
];

const DOCKERFILE: &str = r#"FROM busybox
ENV PATH=/usr/local/bin:/usr/bin:/bin APP_HOME=/srv/app
LABEL org.example.name="interop" org.example.words="two words"
EXPOSE 8080 53/udp
RUN mkdir -p /srv/app && echo 'app:x:1000:1000::/srv/app:/bin/sh' >> /etc/passwd && echo hi > /srv/app/hello && chown 1000 /srv/app
VOLUME ["/data", "/cache"]
WORKDIR /srv/app
USER app
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat hello; id -u; pwd; echo $APP_HOME"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=4 CMD test -f /srv/app/hello
ONBUILD RUN echo onbuild-ran > /srv/app/onbuild
"#;

const RUN_DIR: &str = "/run/containers";
const RUNC_DIR: &str = "/run/runc";

/// A private podman: its own storage, run root, containers.conf (runc: crun
/// refuses this host's cgroup v1 hybrid layout; cgroupfs: no systemd here;
/// ulimits within the host's hard limits) and registries.conf (no registry
/// is asked). Everything goes with it on drop.
struct Podman {
    dir: Scratch,
    /// Whether podman's network run directory was there before (it makes
    /// `/run/containers/networks` even with `--network none`).
    had_run_dir: bool,
    /// Whether runc's default state root was there before (podman gives rootful
    /// runc no `--root`, so runc makes `/run/runc`).
    had_runc_dir: bool,
}

impl Podman {
    fn new() -> Podman {
        let dir = Scratch::new("interop-podman");
        let d = dir.path();
        dir.write(
            "containers.conf",
            &format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 tmp_dir = \"{}/tmp\"\n",
                d.display()
            ),
        )
        .write(
            "registries.conf",
            "unqualified-search-registries = []\nshort-name-mode = \"permissive\"\n",
        );
        Podman {
            dir,
            had_run_dir: Path::new(RUN_DIR).exists(),
            had_runc_dir: Path::new(RUNC_DIR).exists(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(["--runtime", "runc"])
            .args(args)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run podman")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out).trim().to_string()
    }

    /// The config JSON of an image, as `podman save` writes it.
    fn saved_config(&self, image: &str, into: &Path) -> Value {
        let tar = into.join("podman.tar");
        let tar_s = tar.to_string_lossy().into_owned();
        self.ok(&["save", "--format", "docker-archive", "-o", &tar_s, image]);
        archive_config(&tar, &into.join("podman-unpacked"))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-af"]);
        let _ = self.run(&["rmi", "-af"]);
        // Whatever podman still has mounted under its storage goes before the files.
        let root = self.dir.path().to_string_lossy().into_owned();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.reverse();
        for m in mounts {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        if !self.had_run_dir {
            // Only while empty: another podman on the machine may use it.
            let _ = std::fs::remove_dir(format!("{RUN_DIR}/networks"));
            let _ = std::fs::remove_dir(RUN_DIR);
        }
        if !self.had_runc_dir {
            let _ = std::fs::remove_dir(RUNC_DIR); // only while empty, as above
        }
    }
}

/// The `config` object of the image in a docker-archive.
fn archive_config(tar: &Path, dir: &Path) -> Value {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "unpacking {}", tar.display());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let config = manifest[0]["Config"]
        .as_str()
        .expect("a Config in manifest.json");
    let full: Value = serde_json::from_slice(&std::fs::read(dir.join(config)).unwrap()).unwrap();
    full["config"].clone()
}

/// A field as compared: absent, null and empty are the same; labels a
/// builder adds about itself are left out.
fn field(config: &Value, name: &str) -> Value {
    let mut v = config.get(name).cloned().unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("io.buildah.version");
    }
    let empty = match &v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if empty {
        Value::Null
    } else {
        v
    }
}

fn assert_same(what: &str, a: &Value, b: &Value) {
    let diffs: Vec<String> = FIELDS
        .iter()
        .filter(|f| field(a, f) != field(b, f))
        .map(|f| format!("{f}: {} != {}", field(a, f), field(b, f)))
        .collect();
    assert!(diffs.is_empty(), "{what} differ:\n{}", diffs.join("\n"));
}

fn tmp(dir: &Scratch, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn a_berth_built_image_runs_under_podman_with_the_config_buildah_writes() {
    if !require_root_and(&["podman", "runc", "tar"]) {
        return;
    }
    let Some(b) = busybox_berth(BIN, &[]) else {
        return;
    };
    let ctx = Scratch::new("interop-ctx");
    ctx.write("Dockerfile", DOCKERFILE);
    let work = Scratch::new("interop-work");
    let out = b.run(&["build", "-q", "-t", "interop:1", ctx.as_str()]);
    assert!(out.status.success(), "berth build: {}", stderr(&out));
    let id = stdout(&out).trim().to_string();

    // berth's own view, then the archive it saves.
    let inspect: Value = serde_json::from_str(&b.ok(&["image", "inspect", "interop:1"])).unwrap();
    let berth_config = inspect[0]["Config"].clone();
    let tar = tmp(&work, "berth.tar");
    b.ok(&["save", "-o", tar.to_str().unwrap(), "interop:1"]);
    let saved = archive_config(&tar, &tmp(&work, "berth-unpacked"));
    assert_same("berth inspect and the saved config", &berth_config, &saved);

    let p = Podman::new();
    p.ok(&["load", "-i", tar.to_str().unwrap()]);
    let podman_id = p.ok(&["image", "inspect", "--format", "{{.Id}}", "interop:1"]);
    assert_eq!(
        format!("sha256:{podman_id}"),
        id,
        "podman sees the same image (the config bytes as berth wrote them)"
    );
    let ran = p.ok(&["run", "--rm", "--network", "none", "interop:1"]);
    assert_eq!(ran, "hi\n1000\n/srv/app\n/srv/app");

    // podman's reading of the config. It shows no OnBuild, and takes its
    // HealthCheck from `container_config`, which buildkit (and so berth)
    // does not write: both are compared with buildah's config below.
    let pin: Value = serde_json::from_str(&p.ok(&["image", "inspect", "interop:1"])).unwrap();
    let mut podman_view = pin[0]["Config"].clone();
    for f in ["Healthcheck", "OnBuild"] {
        podman_view[f] = berth_config[f].clone();
    }
    assert_same(
        "berth inspect and podman inspect",
        &berth_config,
        &podman_view,
    );

    // The same Dockerfile built by podman (buildah), docker format so that
    // HEALTHCHECK and ONBUILD are kept, on the same base.
    p.ok(&[
        "import",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        busybox_tar().to_str().unwrap(),
        "busybox",
    ]);
    p.ok(&[
        "build",
        "--format",
        "docker",
        "--pull=never",
        "--network",
        "none",
        "-t",
        "podman-built",
        ctx.as_str(),
    ]);
    let buildah = p.saved_config("podman-built", work.path());
    assert_same("berth's config and buildah's", &berth_config, &buildah);

    // podman builds FROM berth's image: the ONBUILD trigger berth wrote runs.
    let child = Scratch::new("interop-child");
    child.write("Dockerfile", "FROM interop:1\nRUN true\n");
    p.ok(&[
        "build",
        "--pull=never",
        "--network",
        "none",
        "-t",
        "child",
        child.as_str(),
    ]);
    let onbuild = p.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "cat",
        "child",
        "/srv/app/onbuild",
    ]);
    assert_eq!(onbuild, "onbuild-ran");
    drop(p);
    b.assert_no_leftovers();
}
