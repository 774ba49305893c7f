//! Registry commands: pull (and the pull that run/create do when an image is
//! missing), push, login, logout. The network work happens in berth-registry, which keeps its tokio
//! runtime to itself.

use crate::args::{LoginArgs, LogoutArgs, PullArgs, PullPolicy, PushArgs};
use crate::progress;
use anyhow::{bail, Context, Result};
use berth_engine::Engine;
use berth_image::reference::familiar;
use berth_image::Reference;
use berth_registry::credentials::Credential;
use berth_registry::{PullOptions, Pulled, Settings};
use std::io::{BufRead, IsTerminal, Read, Write};

fn settings() -> Result<Settings> {
    Ok(Settings::from_env()?)
}

pub fn cmd_pull(engine: &Engine, a: &PullArgs) -> Result<i32> {
    let settings = settings()?;
    let platform = a
        .platform
        .as_deref()
        .map(berth_registry::Platform::parse)
        .transpose()?;
    let opts = PullOptions { platform };
    if a.all_tags {
        if names_tag_or_digest(&a.reference) {
            bail!("tag can't be used with --all-tags/-a: give the repository only");
        }
        let (repo, mut tags) = berth_registry::pull::list_tags(&settings, &a.reference)?;
        tags.sort();
        if !a.quiet {
            println!("Pulling all tags of {}", repo.familiar_name());
        }
        for t in tags {
            let one = format!("{}:{t}", repo.name());
            pull_one(engine, &settings, &one, &opts, a.quiet)?;
        }
        return Ok(0);
    }
    pull_one(engine, &settings, &a.reference, &opts, a.quiet)?;
    Ok(0)
}

/// Whether the user wrote a tag or a digest (a `:` in the last path part, so a
/// registry's port does not count).
fn names_tag_or_digest(input: &str) -> bool {
    input.contains('@') || input.rsplit('/').next().is_some_and(|l| l.contains(':'))
}

fn pull_one(
    engine: &Engine,
    settings: &Settings,
    input: &str,
    opts: &PullOptions,
    quiet: bool,
) -> Result<Pulled> {
    if !quiet {
        if !names_tag_or_digest(input) {
            println!("Using default tag: latest");
        }
        if let Ok(r) = Reference::parse(input) {
            let tag = r.tag.clone().or(r.digest.clone()).unwrap_or_default();
            println!("{tag}: Pulling from {}", r.repository);
        }
    }
    let before = engine.images.resolve(input).ok();
    let p = berth_registry::pull(
        &engine.images,
        settings,
        input,
        opts,
        progress::for_stdout(quiet, "Downloading"),
    )?;
    berth_engine::events::image(
        &engine.paths.root,
        "pull",
        &p.image_id,
        &p.reference.to_string(),
    );
    if quiet {
        println!("{}", p.reference);
    } else {
        println!("Digest: {}", p.digest);
        let name = familiar(&p.reference.to_string());
        if !p.downloaded && before.as_deref() == Some(p.image_id.as_str()) {
            println!("Status: Image is up to date for {name}");
        } else {
            println!("Status: Downloaded newer image for {name}");
        }
        println!("{}", p.reference);
    }
    Ok(p)
}

/// For run/create: the image name to hand to the engine after applying
/// `--pull=missing|always|never`. A short name found locally under any search
/// registry counts as present.
pub fn ensure_image(engine: &Engine, image: &str, policy: PullPolicy) -> Result<String> {
    let settings = settings()?;
    let local = || -> Option<String> {
        if engine.images.resolve(image).is_ok() {
            return Some(image.to_string());
        }
        let candidates = settings.candidates(image).ok()?;
        candidates
            .iter()
            .map(|c| c.to_string())
            .find(|c| engine.images.resolve(c).is_ok())
    };
    match policy {
        PullPolicy::Never => return Ok(local().unwrap_or_else(|| image.to_string())),
        PullPolicy::Missing => {
            if let Some(found) = local() {
                return Ok(found);
            }
            // An id prefix or a malformed name is the engine's to explain.
            if Reference::parse(image).is_err() {
                return Ok(image.to_string());
            }
            eprintln!("Unable to find image '{}' locally", familiar_input(image));
        }
        PullPolicy::Always => {}
    }
    let p = berth_registry::pull(
        &engine.images,
        &settings,
        image,
        &PullOptions::default(),
        progress::for_stderr(),
    )
    .with_context(|| match policy {
        PullPolicy::Always => format!(
            "pulling image '{}' failed; it is pulled every time because of --pull (=always): \
             drop that to use the local image",
            familiar_input(image)
        ),
        _ => format!(
            "Unable to find image '{}' locally, and pulling it failed{}",
            familiar_input(image),
            engine
                .images
                .suggest(image)
                .map(|s| format!(" (did you mean {s}? a local image)"))
                .unwrap_or_default()
        ),
    })?;
    eprintln!("Digest: {}", p.digest);
    eprintln!(
        "Status: Downloaded newer image for {}",
        familiar(&p.reference.to_string())
    );
    Ok(p.reference.to_string())
}

fn familiar_input(image: &str) -> String {
    match Reference::parse(image) {
        Ok(r) if r.digest.is_none() => familiar(&r.to_string()),
        _ => image.to_string(),
    }
}

pub fn cmd_push(engine: &Engine, a: &PushArgs) -> Result<i32> {
    let settings = settings()?;
    let target = a.destination.as_deref().unwrap_or(&a.image);
    if !a.quiet {
        if let Ok(r) = Reference::parse(target) {
            println!("The push refers to repository [{}]", r.name());
        }
    }
    let p = berth_registry::push(
        &engine.images,
        &settings,
        &a.image,
        a.destination.as_deref(),
        progress::for_stdout(a.quiet, "Pushing"),
    )?;
    if a.quiet {
        println!("{}", p.reference);
    } else {
        let tag = p.reference.tag.clone().unwrap_or_default();
        println!("{tag}: digest: {} size: {}", p.digest, p.size);
    }
    Ok(0)
}

pub fn cmd_login(a: &LoginArgs) -> Result<i32> {
    let settings = settings()?;
    let registry = server_name(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None if a.password_stdin => bail!("--password-stdin needs --username (-u)"),
        None => prompt("Username: ")?,
    };
    let secret = if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else if a.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from standard input")?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else {
        prompt_hidden("Password: ")?
    };
    if username.is_empty() || secret.is_empty() {
        bail!("a username and a password are both required to log in");
    }
    let cred = Credential { username, secret };
    let path = berth_registry::login::login(&settings, &registry, &cred)?;
    eprintln!("Credentials saved in {path}");
    println!("Login Succeeded");
    Ok(0)
}

pub fn cmd_logout(a: &LogoutArgs) -> Result<i32> {
    let settings = settings()?;
    let registry = server_name(a.server.as_deref());
    if berth_registry::login::logout(&settings, &registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(0)
}

/// The registry of `login`/`logout SERVER` as credentials are keyed: docker.io when
/// absent, a URL's scheme and trailing slash dropped (both commands must agree, or
/// `logout https://host/` misses what `login https://host/` saved).
fn server_name(server: Option<&str>) -> String {
    server
        .unwrap_or("docker.io")
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

fn prompt(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for it: give --username and --password-stdin");
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Reads a line with the terminal's echo off.
fn prompt_hidden(label: &str) -> Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("no terminal to ask for the password: give --password-stdin");
    }
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_or_digest_is_told_from_a_registry_port() {
        assert!(names_tag_or_digest("busybox:1"));
        assert!(names_tag_or_digest("reg:5000/bb@sha256:ab"));
        assert!(!names_tag_or_digest("reg:5000/bb"));
        assert!(!names_tag_or_digest("busybox"));
    }

    #[test]
    fn login_and_logout_name_the_server_alike() {
        assert_eq!(server_name(None), "docker.io");
        assert_eq!(server_name(Some("https://reg:5000/")), "reg:5000");
        assert_eq!(server_name(Some("http://reg")), "reg");
    }
}
