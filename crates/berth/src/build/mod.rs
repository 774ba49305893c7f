//! `berth build`: docker's flags to the builder's options, the context and
//! Dockerfile read, progress shown, the image id printed (stdout carries only
//! the id; progress goes to stderr). A failed build exits 1, as docker's.

mod context;
mod fetch;
mod host;
mod layer;
mod mounts;
mod owner;
mod prune;
mod render;
mod runstep;

pub use prune::{cmd_builder_prune, print as print_pruned, prune};

use crate::args::BuildArgs;
use anyhow::{bail, Context as _, Result};
use berth_build::host::RunNetwork;
use berth_build::{BuildOptions, Secret};
use berth_engine::Engine;
use std::collections::BTreeMap;

/// What a killed build left under `<root>/build`: its overlay mounts and their
/// directories (`mnt/<pid>-…`), step scratch directories (`tmp/<pid>-…`),
/// unpacked contexts (`tmp/context-<pid>-…`) and half-written cache entries,
/// only those whose process is gone. Every build runs it first, and so does the
/// next command after a build was killed (`berth_image::gc::sweep_if_a_writer_died`).
pub fn sweep_leftovers(root: &std::path::Path) {
    let state = root.join("build");
    berth_image::layers::sweep_dead_temps(&state.join("mnt"), "");
    for prefix in ["", "context-"] {
        berth_image::layers::sweep_dead_temps(&state.join("tmp"), prefix);
    }
    // The layer cache writes `.<key>.<pid>` and renames it to `<key>`.
    for shard in std::fs::read_dir(state.join("cache"))
        .into_iter()
        .flatten()
        .flatten()
    {
        berth_image::layers::sweep_dead_owned(&shard.path(), cache_temp_owner);
    }
}

/// The pid in a layer cache temporary's name (`.<key>.<pid>`).
fn cache_temp_owner(name: &str) -> Option<u32> {
    let (key, pid) = name.strip_prefix('.')?.rsplit_once('.')?;
    (!key.is_empty()).then_some(())?;
    pid.parse().ok()
}

pub fn cmd_build(engine: &Engine, a: &BuildArgs) -> Result<i32> {
    if let Some((flag, why)) = a.unsupported() {
        bail!("berth build does not support {flag}: {why}");
    }
    let mode = render::Mode::parse(&a.progress, a.quiet)?;
    // The whole build holds the image store: its layers are referenced only once
    // they are cached or registered, and a concurrent rmi must not free them first.
    let _lease = engine.images.lease()?;
    sweep_leftovers(&engine.paths.root);
    let mut host = host::EngineHost::new(engine);
    let state = berth_build::BuildHost::state_dir(&host);
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    // Declared before everything the build makes, so it is released last.
    let _owner = owner::Owner::acquire(&state)
        .with_context(|| format!("claiming {}/owners", state.display()))?;
    for f in owner::reap(engine, &state).failed {
        eprintln!("berth: a killed build left {f}; remove it by hand or run berth builder prune");
    }
    let mut download = |url: &str, out: &mut dyn std::io::Write| {
        fetch::fetch(url, out)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!(e))
    };
    let inputs = context::inputs(
        &a.context,
        a.file.as_deref(),
        &state.join("tmp"),
        &mut download,
    )?;
    let opts = BuildOptions {
        dockerfile: inputs.dockerfile.clone(),
        dockerfile_name: inputs.dockerfile_name.clone(),
        context: inputs.context.as_ref().map(|c| berth_build::Context {
            dir: c.dir.clone(),
            ignore: c.ignore.clone(),
            temporary: c.temporary,
        }),
        build_args: a
            .build_arg
            .iter()
            .filter_map(|kv| key_value(kv, true))
            .collect(),
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels: a
            .label
            .iter()
            .filter_map(|kv| key_value(kv, false))
            .collect(),
        platform: a.platform.clone(),
        tags: tags(&a.tag)?,
        secrets: secrets(&a.secret)?,
        network: network(a.network.as_deref())?,
    };
    let mut progress = render::Render::new(mode);
    let result = berth_build::build(&mut host, &mut progress, &opts);
    progress.finish(result.is_ok());
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            eprintln!("berth: build failed: {e}");
            return Ok(1);
        }
    };
    if let Some(path) = &a.iidfile {
        std::fs::write(path, &id).with_context(|| format!("writing --iidfile {path}"))?;
    }
    println!("{id}");
    Ok(0)
}

/// Removes what killed builds left (step containers, their transient
/// images, mounts, scratch directories).
pub fn reap_dead_builds(engine: &Engine) -> owner::Reaped {
    owner::reap(engine, &engine.paths.root.join("build"))
}

/// `K=V`; `K` alone takes the caller's environment (build args, skipped
/// when unset, as docker does) or an empty value (labels).
fn key_value(kv: &str, from_env: bool) -> Option<(String, String)> {
    match kv.split_once('=') {
        Some((k, v)) => Some((k.to_string(), v.to_string())),
        None if from_env => std::env::var(kv).ok().map(|v| (kv.to_string(), v)),
        None => Some((kv.to_string(), String::new())),
    }
}

/// Tags, checked before anything is built.
fn tags(tags: &[String]) -> Result<Vec<String>> {
    for t in tags {
        berth_image::Reference::parse(t).with_context(|| format!("invalid tag {t:?} (-t)"))?;
    }
    Ok(tags.to_vec())
}

fn network(n: Option<&str>) -> Result<RunNetwork> {
    Ok(match n {
        None | Some("default") | Some("bridge") => RunNetwork::Default,
        Some("none") => RunNetwork::None,
        Some("host") => RunNetwork::Host,
        Some(other) => bail!("invalid --network {other:?} for build: use default, none or host"),
    })
}

/// `--secret id=NAME[,src=FILE|,env=VAR][,type=file|env]`; with only an id,
/// the variable of that name, else the file of that name (buildx).
fn secrets(specs: &[String]) -> Result<BTreeMap<String, Secret>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        let mut kind = None;
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", v)) => kind = Some(v.to_string()),
                _ => {
                    bail!("invalid --secret {spec:?}: expected id=NAME,src=FILE or id=NAME,env=VAR")
                }
            }
        }
        let id = id.or_else(|| src.clone()).or_else(|| env.clone());
        let Some(id) = id else {
            bail!("invalid --secret {spec:?}: give id=NAME");
        };
        let secret = match (kind.as_deref(), src, env) {
            (Some("env"), Some(var), None) | (_, None, Some(var)) => {
                let value = std::env::var(&var).with_context(|| {
                    format!("--secret {id}: environment variable {var} is not set")
                })?;
                Secret::Value(value.into_bytes())
            }
            (Some("file") | None, Some(path), None) => {
                std::fs::metadata(&path)
                    .with_context(|| format!("--secret {id}: reading {path}"))?;
                Secret::File(path.into())
            }
            (None, None, None) => match std::env::var(&id) {
                Ok(v) => Secret::Value(v.into_bytes()),
                Err(_) => Secret::File(id.clone().into()),
            },
            _ => {
                bail!("invalid --secret {spec:?}: give either src=FILE or env=VAR (type=file|env)")
            }
        };
        out.insert(id, secret);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_specs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "x").unwrap();
        let s = secrets(&[format!("id=a,src={}", f.display())]).unwrap();
        assert!(matches!(&s["a"], Secret::File(p) if p == &f));
        std::env::set_var("BERTH_TEST_SECRET_VAR", "v");
        let s = secrets(&["id=b,env=BERTH_TEST_SECRET_VAR".into()]).unwrap();
        assert!(matches!(&s["b"], Secret::Value(v) if v == b"v"));
        assert!(secrets(&["src=/nonexistent/x,id=c".into()]).is_err());
        assert!(secrets(&["bogus".into()]).is_err());
    }

    #[test]
    fn cache_temporaries_name_their_owner_and_entries_do_not() {
        assert_eq!(cache_temp_owner(".abcd.123"), Some(123));
        assert_eq!(cache_temp_owner("abcd"), None, "a committed entry");
        assert_eq!(cache_temp_owner(".abcd"), None);
        assert_eq!(cache_temp_owner("..5"), None);
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("build/cache/ab");
        std::fs::create_dir_all(&shard).unwrap();
        // pid_max is at most 2^22: this pid cannot run.
        let dead = shard.join(".abcd.99999999");
        let live = shard.join(format!(".abce.{}", std::process::id()));
        let entry = shard.join("abcd");
        for f in [&dead, &live, &entry] {
            std::fs::write(f, "{}").unwrap();
        }
        sweep_leftovers(dir.path());
        assert!(!dead.exists() && live.exists() && entry.exists());
    }

    #[test]
    fn build_args_from_the_environment() {
        std::env::set_var("BERTH_TEST_BUILD_ARG", "from-env");
        assert_eq!(
            key_value("BERTH_TEST_BUILD_ARG", true),
            Some(("BERTH_TEST_BUILD_ARG".into(), "from-env".into()))
        );
        assert_eq!(key_value("BERTH_TEST_UNSET_ARG_X", true), None);
        assert_eq!(key_value("L", false), Some(("L".into(), String::new())));
        assert_eq!(key_value("A=b=c", true), Some(("A".into(), "b=c".into())));
    }
}
