//! Volumes as a docker user drives them: named volumes outliving their containers,
//! docker's copy-up from the image, anonymous volumes and `rm -v`, `--mount` of the
//! three types, `--volumes-from`, and `volume create|ls|inspect|rm|prune`.

use berth_testkit::{stderr, Berth, Scratch};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn env() -> Option<Berth> {
    berth_testkit::busybox_berth(BIN, &["tar"])
}

fn names(b: &Berth, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = b.ok(args).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// busybox plus what `script` made, committed as `image` (the script runs as root).
fn image_with(b: &Berth, image: &str, script: &str) {
    let prep = format!("prep-{image}");
    b.ok(&["run", "--name", &prep, "busybox", "sh", "-c", script]);
    b.ok(&["commit", &prep, image]);
    b.ok(&["rm", &prep]);
}

#[test]
fn named_volume_outlives_its_container_and_is_shared_with_the_next() {
    let Some(b) = env() else { return };
    b.sh(&["-v", "data:/d"], "echo kept > /d/f");
    assert_eq!(names(&b, &["volume", "ls", "-q"]), vec!["data"]);
    assert_eq!(b.sh(&["-v", "data:/d:ro"], "cat /d/f"), "kept");
    // A read-only mount of it refuses writes.
    let out = b.sh_output(&["-v", "data:/d:ro"], "echo x > /d/g");
    assert!(!out.status.success());

    // rm -v takes the anonymous volume (from -v /anon) and keeps the named one.
    let id = b.ok(&["create", "-v", "data:/d", "-v", "/anon", "busybox", "true"]);
    let c: Value = serde_json::from_str(&b.ok(&["inspect", &id])).unwrap();
    let mounts = c[0]["Mounts"].as_array().unwrap().clone();
    let anon = mounts.iter().find(|m| m["Destination"] == "/anon").unwrap();
    assert_eq!(anon["Type"], "volume");
    let anon = anon["Name"].as_str().unwrap().to_string();
    let named = mounts.iter().find(|m| m["Destination"] == "/d").unwrap();
    assert_eq!(named["Name"], "data");
    assert_eq!(named["Driver"], "local");
    assert!(named["Source"]
        .as_str()
        .unwrap()
        .ends_with("/volumes/data/_data"));
    let v: Value = serde_json::from_str(&b.ok(&["volume", "inspect", &anon])).unwrap();
    assert!(
        v[0]["Labels"]["com.docker.volume.anonymous"].is_string(),
        "{v}"
    );
    b.ok(&["rm", "-v", &id]);
    assert_eq!(names(&b, &["volume", "ls", "-q"]), vec!["data"]);
    // A plain rm keeps even the anonymous ones (docker's default).
    let id = b.ok(&["create", "-v", "/anon2", "busybox", "true"]);
    b.ok(&["rm", &id]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    // A create that fails (the name is taken) leaves no anonymous volume behind.
    b.ok(&["create", "--name", "dup", "busybox", "true"]);
    let out = b.run(&["create", "--name", "dup", "-v", "/lost", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        b.ok(&["volume", "ls", "-q"]).lines().count(),
        2,
        "a failed create left its volume"
    );
    b.ok(&["rm", "dup"]);
    b.assert_no_leftovers();
}

#[test]
fn a_new_volume_is_filled_from_the_image_once() {
    let Some(b) = env() else { return };
    image_with(
        &b,
        "app",
        "mkdir -p /app/sub && echo from-image > /app/sub/f && chown -R 1000:1001 /app \
         && chmod 640 /app/sub/f && chmod 750 /app && ln -s sub/f /app/link",
    );
    let seen = b.ok(&[
        "run",
        "--rm",
        "-v",
        "appdata:/app",
        "app",
        "sh",
        "-c",
        "stat -c '%u:%g %a' /app /app/sub/f; cat /app/link; readlink /app/link",
    ]);
    assert_eq!(seen, "1000:1001 750\n1000:1001 640\nfrom-image\nsub/f");
    // Not empty any more: what the container did stays, nothing is copied again.
    b.sh(
        &["-v", "appdata:/data"],
        "rm -r /data/sub; echo mine > /data/own",
    );
    let seen = b.ok(&["run", "--rm", "-v", "appdata:/app", "app", "ls", "/app"]);
    assert_eq!(seen, "link\nown");
    // volume-nocopy: the new volume stays empty.
    let seen = b.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=bare,dst=/app,volume-nocopy",
        "app",
        "ls",
        "-A",
        "/app",
    ]);
    assert_eq!(seen, "");
    b.assert_no_leftovers();
}

#[test]
fn mount_flag_tmpfs_bind_and_volume() {
    let Some(b) = env() else { return };
    let seen = b.sh(
        &[
            "--mount",
            "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770",
        ],
        "grep ' /t ' /proc/mounts",
    );
    assert!(
        seen.contains("tmpfs") && seen.contains("size=65536k"),
        "{seen}"
    );
    assert!(seen.contains("mode=1770"), "{seen}");

    let host = Scratch::new("vol-bind");
    std::fs::write(host.0.join("host-file"), "from host\n").unwrap();
    let src = format!("type=bind,source={},target=/h,readonly", host.0.display());
    assert_eq!(b.sh(&["--mount", &src], "cat /h/host-file"), "from host");
    let out = b.sh_output(&["--mount", &src], "touch /h/new");
    assert!(!out.status.success(), "a readonly bind took a write");
    assert!(!host.0.join("new").exists());
    let rw = format!("type=bind,src={},dst=/h", host.0.display());
    b.sh(&["--mount", &rw], "echo w > /h/new");
    assert!(host.0.join("new").exists());

    b.sh(
        &["--mount", "type=volume,source=mv,target=/m"],
        "echo v > /m/f",
    );
    assert_eq!(b.sh(&["-v", "mv:/m"], "cat /m/f"), "v");
    // Unknown keys and other types' keys are errors, not ignored.
    for bad in [
        "type=volume,src=mv,dst=/m,colour=red",
        "type=bind,src=/tmp,dst=/m,tmpfs-size=1m",
        "type=tmpfs,dst=/m,bind-propagation=shared",
    ] {
        let out = b.sh_output(&["--mount", bad], "true");
        assert_eq!(out.status.code(), Some(125), "{bad}");
        assert!(stderr(&out).contains("--mount"), "{}", stderr(&out));
    }
    b.assert_no_leftovers();
}

#[test]
fn volumes_from_sees_the_other_containers_volumes() {
    let Some(b) = env() else { return };
    b.ok(&[
        "create",
        "--name",
        "holder",
        "-v",
        "shared:/s",
        "-v",
        "/anon",
        "busybox",
        "true",
    ]);
    b.sh(&["-v", "shared:/s"], "echo hello > /s/f");
    assert_eq!(
        b.sh(&["--volumes-from", "holder"], "cat /s/f; ls -d /anon"),
        "hello\n/anon"
    );
    let out = b.sh_output(&["--volumes-from", "holder:ro"], "echo x > /s/f");
    assert!(!out.status.success(), "volumes-from :ro took a write");
    // rm -v of a container that only borrowed the volumes keeps them.
    let borrower = b.ok(&["create", "--volumes-from", "holder", "busybox", "true"]);
    b.ok(&["rm", "-v", &borrower]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    // inspect: -v in Binds, --mount in Mounts, --volumes-from as given.
    let id = b.ok(&[
        "create",
        "--volumes-from",
        "holder:ro",
        "-v",
        "other:/o",
        "--mount",
        "type=volume,src=mm,dst=/m,volume-nocopy",
        "busybox",
        "true",
    ]);
    let c: Value = serde_json::from_str(&b.ok(&["inspect", &id])).unwrap();
    let hc = &c[0]["HostConfig"];
    assert_eq!(hc["VolumesFrom"], serde_json::json!(["holder:ro"]), "{hc}");
    assert_eq!(hc["Binds"], serde_json::json!(["other:/o"]), "{hc}");
    assert_eq!(hc["Mounts"][0]["Target"], "/m", "{hc}");
    assert_eq!(hc["Mounts"][0]["VolumeOptions"]["NoCopy"], true, "{hc}");
    let ro = c[0]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/s")
        .unwrap()
        .clone();
    assert_eq!(ro["RW"], false, "{ro}");
    b.ok(&["rm", "-v", &id]);
    b.ok(&["volume", "rm", "other", "mm"]);
    let out = b.run(&["create", "--volumes-from", "nosuch", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    b.ok(&["rm", "-v", "holder"]);
    assert_eq!(names(&b, &["volume", "ls", "-q"]), vec!["shared"]);
    b.assert_no_leftovers();
}

#[test]
fn volume_commands_ls_filters_inspect_rm_prune() {
    let Some(b) = env() else { return };
    assert_eq!(
        b.ok(&["volume", "create", "--label", "tier=db", "alpha"]),
        "alpha"
    );
    b.ok(&["volume", "create", "--name", "beta"]);
    // docker's create is idempotent.
    assert_eq!(b.ok(&["volume", "create", "beta"]), "beta");
    let used = b.ok(&[
        "create",
        "-v",
        "beta:/b",
        "-v",
        "/anon-used",
        "busybox",
        "true",
    ]);
    let unused = b.ok(&["create", "-v", "/anon-free", "busybox", "true"]);
    b.ok(&["rm", &unused]);
    let all = names(&b, &["volume", "ls", "-q"]);
    assert_eq!(all.len(), 4, "{all:?}");

    assert_eq!(
        names(&b, &["volume", "ls", "-q", "-f", "label=tier=db"]),
        vec!["alpha"]
    );
    assert_eq!(
        names(&b, &["volume", "ls", "-q", "-f", "label=tier"]),
        vec!["alpha"]
    );
    assert_eq!(
        names(&b, &["volume", "ls", "-q", "-f", "name=bet"]),
        vec!["beta"]
    );
    assert_eq!(
        b.ok(&["volume", "ls", "-q", "-f", "driver=local"])
            .lines()
            .count(),
        4
    );
    let dangling = names(&b, &["volume", "ls", "-q", "-f", "dangling=true"]);
    assert_eq!(dangling.len(), 2, "{dangling:?}");
    assert!(dangling.contains(&"alpha".to_string()));
    assert!(!dangling.contains(&"beta".to_string()));
    let out = b.run(&["volume", "ls", "-f", "colour=red"]);
    assert!(!out.status.success());
    let table = b.ok(&["volume", "ls"]);
    assert!(table.starts_with("DRIVER"), "{table}");
    assert!(
        table.contains("VOLUME NAME") && table.contains("local"),
        "{table}"
    );
    assert_eq!(
        b.ok(&[
            "volume",
            "ls",
            "-f",
            "name=alpha",
            "--format",
            "{{.Name}}:{{.Driver}}:{{.Labels}}"
        ]),
        "alpha:local:tier=db"
    );

    let v: Value = serde_json::from_str(&b.ok(&["volume", "inspect", "alpha"])).unwrap();
    for key in [
        "Name",
        "Driver",
        "Mountpoint",
        "Labels",
        "Options",
        "Scope",
        "CreatedAt",
    ] {
        assert!(v[0].get(key).is_some(), "{key} missing: {v}");
    }
    assert_eq!(v[0]["Labels"]["tier"], "db");
    assert_eq!(
        b.ok(&["volume", "inspect", "-f", "{{.Driver}} {{.Scope}}", "alpha"]),
        "local local"
    );
    let out = b.run(&["volume", "inspect", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No such volume: nosuch"));

    // The volume of a container (even a stopped one) is in use.
    let out = b.run(&["volume", "rm", "beta"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("in use"), "{}", stderr(&out));
    assert!(b.run(&["volume", "rm", "-f", "beta"]).status.code() == Some(1));
    assert!(b.run(&["volume", "rm", "nosuch"]).status.code() == Some(1));
    assert!(b.run(&["volume", "rm", "-f", "nosuch"]).status.success());

    let df = b.ok(&["system", "df"]);
    assert!(
        df.lines()
            .any(|l| l.starts_with("Local Volumes") && l.contains(" 4 ")),
        "{df}"
    );

    // prune: unused anonymous volumes only; -a: unused named ones too.
    let out = b.ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 3);
    assert!(names(&b, &["volume", "ls", "-q"]).contains(&"alpha".to_string()));
    b.ok(&["volume", "prune", "-f", "-a"]);
    let left = names(&b, &["volume", "ls", "-q"]);
    assert_eq!(left.len(), 2, "the used ones stay: {left:?}");
    assert!(left.contains(&"beta".to_string()));
    b.ok(&["rm", "-v", &used]);
    b.ok(&["volume", "rm", "beta"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    b.assert_no_leftovers();
}

/// `volume create -o type=none -o o=bind -o device=DIR NAME`.
fn bind_volume(b: &Berth, name: &str, dir: &std::path::Path) {
    let device = format!("device={}", dir.display());
    b.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &device,
        name,
    ]);
}

#[test]
fn local_driver_bind_device_and_refused_types() {
    let Some(b) = env() else { return };
    let host = Scratch::new("vol-device");
    std::fs::write(host.0.join("on-host"), "yes\n").unwrap();
    bind_volume(&b, "hostdir", &host.0);
    assert_eq!(
        b.sh(&["-v", "hostdir:/h"], "cat /h/on-host; echo back > /h/back"),
        "yes"
    );
    assert!(host.0.join("back").exists());
    b.ok(&["volume", "rm", "hostdir"]);
    assert!(
        host.0.join("on-host").exists(),
        "removing the volume kept the host dir"
    );
    let gone = host.0.join("gone");
    std::fs::create_dir(&gone).unwrap();
    bind_volume(&b, "later", &gone);
    std::fs::remove_dir(&gone).unwrap();
    let out = b.sh_output(&["-v", "later:/h"], "true");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("which is gone"), "{}", stderr(&out));
    b.ok(&["volume", "rm", "later"]);

    for (opts, says) in [
        (
            &["-o", "type=tmpfs", "-o", "device=tmpfs"][..],
            "type=tmpfs is not supported",
        ),
        (
            &[
                "-o",
                "type=nfs",
                "-o",
                "o=addr=10.0.0.1",
                "-o",
                "device=:/x",
            ][..],
            "type=nfs",
        ),
        (&["-o", "size=1g"][..], "unknown"),
        (&["-d", "rexray"][..], "driver"),
    ] {
        let mut args = vec!["volume", "create"];
        args.extend(opts);
        args.push("refused");
        let out = b.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    b.assert_no_leftovers();
}

#[test]
fn bind_propagation_is_applied_or_refused() {
    let Some(b) = env() else { return };
    let host = Scratch::new("vol-prop");
    let shared = format!(
        "type=bind,src={},dst=/h,bind-propagation=rshared",
        host.0.display()
    );
    let out = b.sh_output(&["--mount", &shared], "true");
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("--runtime runc"), "{}", stderr(&out));
    let private = format!(
        "type=bind,src={},dst=/h,bind-propagation=rprivate",
        host.0.display()
    );
    let seen = b.sh(&["--mount", &private], "grep ' /h ' /proc/self/mountinfo");
    assert!(!seen.contains("shared:"), "{seen}");
    if berth_testkit::require("runc", berth_testkit::have_tool("runc")) {
        let seen = b.sh(
            &["--runtime", "runc", "--mount", &shared],
            "grep ' /h ' /proc/self/mountinfo",
        );
        assert!(seen.contains("shared:"), "{seen}");
        let v = format!("{}:/h:rshared", host.0.display());
        let seen = b.sh(
            &["--runtime", "runc", "-v", &v],
            "grep ' /h ' /proc/self/mountinfo",
        );
        assert!(seen.contains("shared:"), "-v …:rshared: {seen}");
    }
    let v = format!("{}:/h:rshared", host.0.display());
    assert_eq!(b.sh_output(&["-v", &v], "true").status.code(), Some(125));
    b.assert_no_leftovers();
}

#[test]
fn an_image_volume_is_filled_from_the_image_and_goes_with_rm_v() {
    let Some(b) = env() else { return };
    b.import_busybox("withvol", &["VOLUME /etc", r#"CMD ["/bin/sh"]"#]);
    // Without copy-up the empty volume would hide the image's /etc.
    assert!(b
        .ok(&["run", "--name", "v", "withvol", "cat", "/etc/passwd"])
        .contains("root:"));
    assert_eq!(
        b.ok(&["volume", "ls", "-q", "-f", "dangling=false"])
            .lines()
            .count(),
        1
    );
    b.ok(&["rm", "-v", "v"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    b.assert_no_leftovers();
}

#[test]
fn system_prune_takes_anonymous_volumes_only_with_volumes() {
    let Some(b) = env() else { return };
    b.ok(&["volume", "create", "named"]);
    let id = b.ok(&["create", "-v", "/anon", "busybox", "true"]);
    b.ok(&["rm", &id]);
    b.ok(&["system", "prune", "-f"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]).lines().count(), 2);
    let out = b.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "named");
    b.assert_no_leftovers();
}

/// `cp` with a stopped container mounts its volumes as it runs with them: a
/// `device=` volume is the host directory, both ways, not berth's empty `_data`.
#[test]
fn cp_of_a_stopped_container_sees_its_bind_device_volume() {
    let Some(b) = env() else { return };
    let host = Scratch::new("vol-cp-device");
    let (dir, out) = (host.0.join("dir"), host.0.join("out"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(dir.join("on-host"), "yes\n").unwrap();
    bind_volume(&b, "hostdir", &dir);
    b.ok(&[
        "run",
        "--name",
        "box",
        "-v",
        "hostdir:/h",
        "busybox",
        "true",
    ]);
    let o = out.to_str().unwrap();
    b.ok(&["cp", "box:/h/on-host", o]);
    assert_eq!(
        std::fs::read_to_string(out.join("on-host")).unwrap_or_default(),
        "yes\n"
    );
    b.ok(&[
        "cp",
        &out.join("on-host").display().to_string(),
        "box:/h/back",
    ]);
    assert!(
        dir.join("back").exists(),
        "the copy went to the host directory"
    );
    b.ok(&["rm", "box"]);
    b.ok(&["volume", "rm", "hostdir"]);
    b.assert_no_leftovers();
}

/// A container that never ran has its volumes for `cp` all the same (docker mounts
/// them for the copy, making their mount points): a file copied in lands in the
/// volume, not in the container's own layer where the volume would hide it.
#[test]
fn cp_into_a_created_container_reaches_its_volume() {
    let Some(b) = env() else { return };
    let host = Scratch::new("vol-cp-created");
    std::fs::write(host.0.join("f"), "in the volume\n").unwrap();
    b.ok(&[
        "create",
        "--name",
        "box",
        "-v",
        "data:/srv/data",
        "busybox",
        "true",
    ]);
    let f = host.0.join("f").display().to_string();
    b.ok(&["cp", &f, "box:/srv/data/f"]);
    assert_eq!(
        b.sh(&["-v", "data:/v"], "cat /v/f"),
        "in the volume",
        "the copy is in the volume"
    );
    b.ok(&["rm", "box"]);
    b.ok(&["volume", "rm", "data"]);
    b.assert_no_leftovers();
}
