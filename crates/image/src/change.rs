//! `import --change` and `commit --change` instructions (CMD, ENTRYPOINT, ENV,
//! WORKDIR, USER, EXPOSE, STOPSIGNAL, LABEL, VOLUME), parsed as docker parses
//! Dockerfile lines: JSON arrays for exec form, anything else is shell form or
//! space-separated words.

use oci_spec::image::Config;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("--change {0:?}: empty instruction")]
    Empty(String),
    #[error("--change {line:?}: {instruction} is not supported (supported: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, STOPSIGNAL, LABEL, VOLUME)")]
    Unsupported { line: String, instruction: String },
    #[error("--change {line:?}: {why}")]
    Invalid { line: String, why: String },
}

/// Applies `--change` lines in order, as a Dockerfile would: an ENTRYPOINT drops
/// the CMD it inherited unless a CMD among the lines sets one.
pub fn apply_changes(config: &mut Config, lines: &[String]) -> Result<(), ChangeError> {
    let mut cmd_set = false;
    for line in lines {
        apply_change(config, line)?;
        match instruction(line).as_str() {
            "CMD" => cmd_set = true,
            "ENTRYPOINT" if !cmd_set => {
                config.set_cmd(None);
            }
            _ => {}
        }
    }
    Ok(())
}

fn instruction(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Applies one `--change` line to an image config.
pub fn apply_change(config: &mut Config, line: &str) -> Result<(), ChangeError> {
    let trimmed = line.trim();
    let (instr, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (trimmed, ""),
    };
    if instr.is_empty() {
        return Err(ChangeError::Empty(line.into()));
    }
    let invalid = |why: &str| ChangeError::Invalid {
        line: line.into(),
        why: why.into(),
    };
    if rest.is_empty() {
        return Err(invalid(&format!(
            "{} needs an argument",
            instr.to_uppercase()
        )));
    }
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.set_cmd(Some(command_form(rest)));
        }
        "ENTRYPOINT" => {
            config.set_entrypoint(Some(command_form(rest)));
        }
        "WORKDIR" => {
            config.set_working_dir(Some(rest.to_string()));
        }
        "USER" => {
            config.set_user(Some(rest.to_string()));
        }
        "STOPSIGNAL" => {
            config.set_stop_signal(Some(rest.to_string()));
        }
        "ENV" => {
            let pairs = key_values(rest).map_err(|w| invalid(&w))?;
            let mut env = config.env().clone().unwrap_or_default();
            for (k, v) in pairs {
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
            config.set_env(Some(env));
        }
        "LABEL" => {
            let pairs = key_values(rest).map_err(|w| invalid(&w))?;
            let mut labels: HashMap<String, String> = config.labels().clone().unwrap_or_default();
            labels.extend(pairs);
            config.set_labels(Some(labels));
        }
        "EXPOSE" => {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            for word in split_words(rest).map_err(|w| invalid(&w))? {
                let port = normalise_port(&word).map_err(|w| invalid(&w))?;
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
            config.set_exposed_ports(Some(ports));
        }
        "VOLUME" => {
            let mut volumes = config.volumes().clone().unwrap_or_default();
            let paths = match json_array(rest) {
                Some(v) => v,
                None => split_words(rest).map_err(|w| invalid(&w))?,
            };
            for p in paths {
                if !p.starts_with('/') {
                    return Err(invalid(&format!("volume path {p:?} must be absolute")));
                }
                if !volumes.contains(&p) {
                    volumes.push(p);
                }
            }
            config.set_volumes(Some(volumes));
        }
        other => {
            return Err(ChangeError::Unsupported {
                line: line.into(),
                instruction: other.to_string(),
            })
        }
    }
    Ok(())
}

/// Exec form (a JSON array of strings) or shell form (`/bin/sh -c "…"`).
pub fn command_form(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

fn normalise_port(word: &str) -> Result<String, String> {
    let (port, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {proto:?} in port {word:?}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(format!("{p}/{proto}")),
        _ => Err(format!(
            "invalid port {word:?}: expected 1-65535[/tcp|/udp]"
        )),
    }
}

/// `k=v k2="v 2"`, or the legacy single pair `k v with spaces`.
fn key_values(rest: &str) -> Result<Vec<(String, String)>, String> {
    let words = split_words(rest)?;
    let first_has_eq = words.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{rest:?} needs a value (KEY=VALUE)"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Splits on whitespace, honouring double and single quotes and backslash escapes.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in {s:?}"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(lines: &[&str]) -> Config {
        let mut c = Config::default();
        for l in lines {
            apply_change(&mut c, l).unwrap();
        }
        c
    }

    #[test]
    fn exec_and_shell_forms() {
        let c = applied(&[r#"CMD ["/bin/echo", "hi"]"#, "ENTRYPOINT top -b"]);
        assert_eq!(c.cmd().clone().unwrap(), vec!["/bin/echo", "hi"]);
        assert_eq!(
            c.entrypoint().clone().unwrap(),
            vec!["/bin/sh", "-c", "top -b"]
        );
    }

    #[test]
    fn env_label_forms() {
        let c = applied(&[
            "ENV A=1 B=\"two words\"",
            "ENV LEGACY some value",
            "ENV A=3",
            "LABEL x=y \"k 2\"=v",
        ]);
        assert_eq!(
            c.env().clone().unwrap(),
            vec!["B=two words", "LEGACY=some value", "A=3"]
        );
        let labels = c.labels().clone().unwrap();
        assert_eq!(labels["x"], "y");
        assert_eq!(labels["k 2"], "v");
    }

    #[test]
    fn expose_volume_misc() {
        let c = applied(&[
            "EXPOSE 80 53/udp",
            r#"VOLUME ["/data"]"#,
            "VOLUME /a /b",
            "WORKDIR /w",
            "USER nobody",
            "STOPSIGNAL SIGRTMIN+3",
        ]);
        assert_eq!(c.exposed_ports().clone().unwrap(), vec!["80/tcp", "53/udp"]);
        assert_eq!(c.volumes().clone().unwrap(), vec!["/data", "/a", "/b"]);
        assert_eq!(c.working_dir().as_deref(), Some("/w"));
        assert_eq!(c.user().as_deref(), Some("nobody"));
        assert_eq!(c.stop_signal().as_deref(), Some("SIGRTMIN+3"));
    }

    #[test]
    fn entrypoint_drops_the_inherited_cmd_as_in_a_dockerfile() {
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut c = applied(&["CMD [\"old\"]"]);
        apply_changes(&mut c, &lines(&["ENTRYPOINT [\"/e\"]"])).unwrap();
        assert_eq!(c.cmd(), &None);
        let mut c = applied(&["CMD [\"old\"]"]);
        apply_changes(
            &mut c,
            &lines(&["CMD [\"new\"]", "ENTRYPOINT [\"/e\"]", "ENV A=1"]),
        )
        .unwrap();
        assert_eq!(c.cmd().clone().unwrap(), vec!["new"]);
        assert_eq!(c.entrypoint().clone().unwrap(), vec!["/e"]);
    }

    #[test]
    fn rejects_bad_changes() {
        let mut c = Config::default();
        assert!(matches!(
            apply_change(&mut c, "RUN ls"),
            Err(ChangeError::Unsupported { .. })
        ));
        assert!(apply_change(&mut c, "EXPOSE 99999").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
        assert!(apply_change(&mut c, "VOLUME rel").is_err());
        assert!(apply_change(&mut c, "ENV A=\"open").is_err());
    }
}
