//! The build cache can be pruned as docker's (`builder prune [-a] [-f]
//! [--filter until=]`, and `system prune` with it), freeing the layers only
//! the cache held and keeping those images use; and a build killed with
//! SIGKILL mid-RUN leaves nothing the next build or a prune does not remove
//! (its step container, still running; its transient image; its mounts).

use berth_testkit::{busybox_berth, stderr, stdout, Berth, Scratch};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth");

fn build(b: &Berth, ctx: &Scratch, args: &[&str]) -> Output {
    let mut all = vec!["build", "--progress=plain"];
    all.extend(args);
    all.push(ctx.as_str());
    b.run(&all)
}

/// Builds; returns the names of the steps that ran (not from the cache).
fn ran(b: &Berth, ctx: &Scratch, args: &[&str]) -> Vec<String> {
    let out = build(b, ctx, args);
    assert!(out.status.success(), "build failed:\n{}", stderr(&out));
    let progress = stderr(&out);
    let mut names: Vec<(String, String)> = Vec::new();
    let mut cached = Vec::new();
    for line in progress.lines() {
        let Some((id, text)) = line.strip_prefix('#').and_then(|r| r.split_once(' ')) else {
            continue;
        };
        if text == "CACHED" {
            cached.push(id.to_string());
        } else if text.starts_with('[')
            && !text.contains("] FROM ")
            && !names.iter().any(|(i, _)| i == id)
        {
            names.push((id.to_string(), text.to_string()));
        }
    }
    names
        .into_iter()
        .filter(|(id, _)| !cached.contains(id))
        .map(|(_, n)| n)
        .collect()
}

/// Unpacked layer directories in the store.
fn layer_dirs(b: &Berth) -> usize {
    std::fs::read_dir(b.root.join("layers"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn cache_entries(b: &Berth) -> usize {
    let dir = b.root.join("build/cache");
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|shard| std::fs::read_dir(shard.path()).map_or(0, |d| d.count()))
        .sum()
}

const MULTI: &str = "FROM busybox AS a\nRUN echo a > /a\n\
FROM busybox\nRUN --mount=type=cache,target=/c echo x >> /c/log && wc -l < /c/log > /n\nCOPY f /f\nRUN cat /f > /g\nCOPY --from=a /a /a\n";

#[test]
fn builder_prune_frees_what_only_the_cache_holds_and_keeps_what_images_use() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Scratch::new("prune-ctx");
    ctx.write("f", "f\n").write("Dockerfile", MULTI);
    assert_eq!(ran(&b, &ctx, &["-t", "p:1"]).len(), 5);
    let base_layers = 1;
    // The busybox layer, four layers of p:1, and stage a's RUN layer.
    assert_eq!(layer_dirs(&b), base_layers + 5);

    // Recent cache is kept by until=1h.
    let out = b.ok(&["builder", "prune", "-f", "--filter", "until=1h"]);
    assert!(!out.contains("Deleted build cache objects"), "{out}");
    assert_eq!(ran(&b, &ctx, &["-t", "p:1"]), Vec::<String>::new());

    // Dangling: stage a's layer (no image has it), the cache mount, the
    // stat cache. p:1's steps stay cached.
    let out = b.ok(&["builder", "prune", "-f"]);
    assert!(out.starts_with("Deleted build cache objects:\n"), "{out}");
    assert!(out.contains("cachemount:"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(layer_dirs(&b), base_layers + 4, "stage a's layer is freed");
    let again = ran(&b, &ctx, &["-t", "p:1"]);
    assert!(
        again.iter().any(|s| s == "[a 2/2] RUN echo a > /a"),
        "the step whose layer no image used runs again: {again:?}"
    );
    assert!(
        again
            .iter()
            .all(|s| !s.starts_with("[2/5]") && !s.starts_with("[3/5]") && !s.starts_with("[4/5]")),
        "the steps whose layers p:1 has stay cached: {again:?}"
    );

    // -a: every entry, also those whose layers p:1 has; those layers stay
    // (p:1 still runs), the one only the cache held goes.
    let before = layer_dirs(&b);
    let out = b.ok(&["builder", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert_eq!(cache_entries(&b), 0);
    assert_eq!(layer_dirs(&b), before - 1, "stage a's new layer is freed");
    assert_eq!(
        b.ok(&["run", "--rm", "p:1", "cat", "/a", "/g", "/n"]),
        "a\nf\n1"
    );

    // With the images gone, nothing but the base's layer is left.
    b.ok(&["rmi", "p:1"]);
    b.ok(&["image", "prune", "-f"]);
    b.ok(&["builder", "prune", "-a", "-f"]);
    assert_eq!(layer_dirs(&b), base_layers, "{}", b.ok(&["images", "-a"]));
    assert_eq!(ran(&b, &ctx, &["-t", "p:2"]).len(), 5, "nothing is cached");
    assert_eq!(
        b.ok(&["run", "--rm", "p:2", "cat", "/n"]),
        "1",
        "the cache mount was emptied"
    );

    let bad = b.run(&["builder", "prune", "-f", "--filter", "type=regular"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(stderr(&bad).contains("only until="), "{}", stderr(&bad));
    let bad = b.run(&["builder", "prune", "-f", "--keep-storage", "1g"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(stderr(&bad).contains("--keep-storage"), "{}", stderr(&bad));
    // Declining the prompt removes nothing.
    let entries = cache_entries(&b);
    assert!(entries > 0);
    let declined = b.run(&["builder", "prune"]);
    assert!(stdout(&declined).contains("dangling build cache"));
    assert_eq!(cache_entries(&b), entries);
    // system prune includes the build cache.
    let out = b.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert_eq!(cache_entries(&b), 0);
    b.assert_no_leftovers();
}

/// Mount points under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&d))
        .map(str::to_string)
        .collect()
}

/// Starts a build whose last step sleeps and waits until that step's
/// container runs.
fn start_until_running(b: &Berth, ctx: &Scratch) -> std::process::Child {
    let mut child = b
        .command(&["build", "--progress=plain", ctx.as_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.ok(&["ps", "-q"]).is_empty() {
        assert!(Instant::now() < deadline, "the RUN step never started");
        assert!(child.try_wait().unwrap().is_none(), "the build ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Kills such a build with SIGKILL once its RUN step runs.
fn kill_mid_run(b: &Berth, ctx: &Scratch) {
    let mut child = start_until_running(b, ctx);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn untagged_images(b: &Berth) -> usize {
    b.ok(&["images", "-a", "--format", "{{.Repository}}"])
        .lines()
        .filter(|l| l.contains("<none>"))
        .count()
}

#[test]
fn a_build_killed_mid_run_is_cleaned_up_by_the_next_build_or_a_prune() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Scratch::new("killed-ctx");
    ctx.write("f", "f\n").write(
        "Dockerfile",
        // The only RUN is the one that sleeps, so a running container is it.
        "FROM busybox AS src\nCOPY f /s\n\
         FROM busybox\nCOPY f /f\nRUN --mount=type=bind,from=src,target=/src sleep 600\n",
    );
    let other = Scratch::new("killed-other");
    other.write("Dockerfile", "FROM busybox\nRUN echo next > /next\n");
    let build_dir = b.root.join("build");

    for cleaner in ["next build", "builder prune", "system prune"] {
        kill_mid_run(&b, &ctx);
        // What the killed build left: its step container (still running),
        // the step's transient image, the view of stage src it had mounted.
        // The mounts first: any next berth command sweeps them (the killed
        // build left its writer's mark), the container and image stay for the
        // next build or a prune.
        assert!(
            !mounts_under(&build_dir).is_empty(),
            "{cleaner}: the stage view"
        );
        assert_eq!(b.all_ids().len(), 1, "{cleaner}: the step container");
        assert_eq!(untagged_images(&b), 1, "{cleaner}: the step's image");
        assert_eq!(
            mounts_under(&build_dir),
            Vec::<String>::new(),
            "{cleaner}: a next command sweeps the killed build's mounts"
        );
        match cleaner {
            "next build" => assert_eq!(ran(&b, &other, &["-t", "next"]).len(), 1),
            "builder prune" => drop(b.ok(&["builder", "prune", "-f"])),
            _ => drop(b.ok(&["system", "prune", "-f"])),
        }
        assert_eq!(b.all_ids(), Vec::<String>::new(), "{cleaner}");
        assert_eq!(untagged_images(&b), 0, "{cleaner}");
        assert_eq!(mounts_under(&build_dir), Vec::<String>::new(), "{cleaner}");
        for sub in ["mnt", "tmp"] {
            let left: Vec<_> = std::fs::read_dir(build_dir.join(sub))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(left.is_empty(), "{cleaner}: build/{sub} holds {left:?}");
        }
    }
    b.assert_no_leftovers();
}

#[test]
fn a_prune_while_a_build_runs_leaves_that_build_and_what_it_made() {
    let Some(b) = busybox_berth(BIN, &["tar"]) else {
        return;
    };
    let ctx = Scratch::new("live-ctx");
    ctx.write("f", "f\n")
        .write("Dockerfile", "FROM busybox\nCOPY f /f\nRUN sleep 600\n");
    let mut child = start_until_running(&b, &ctx);
    let entries = cache_entries(&b);
    assert_eq!(entries, 1, "the COPY step's entry");
    b.ok(&["builder", "prune", "-a", "-f"]);
    assert_eq!(
        b.ok(&["ps", "-q"]).lines().count(),
        1,
        "its step still runs"
    );
    assert_eq!(
        cache_entries(&b),
        entries,
        "an entry made since the running build started is kept"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    b.ok(&["builder", "prune", "-a", "-f"]);
    assert_eq!(cache_entries(&b), 0);
    assert_eq!(b.all_ids(), Vec::<String>::new());
    b.assert_no_leftovers();
}
