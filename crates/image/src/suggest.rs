//! "did you mean …?" for an image nothing is stored under: the local tag the user
//! most likely meant. Typed names like `local:centos-stream-8-systemd` (a tag on a
//! repository `local`) or `local/centos-stream-8-systemd` (a docker.io repository)
//! carry the real name as one of their parts; other typos are a few edits away.
//! Pure over the stored tags, so the choice is unit-tested.

use crate::reference::{familiar, Reference, DEFAULT_TAG};

/// How alike (0..1, normalised Damerau–Levenshtein) a typed name and a stored one
/// must be to be offered when no part of the typed name is a stored name.
const ALIKE: f64 = 0.75;

/// Of the stored tags (full references, as `tags` holds them), the one `input` most
/// likely meant, in docker's short form (`centos-stream-8-systemd:latest`); None when
/// none is close.
pub fn closest_tag(input: &str, stored: &[String]) -> Option<String> {
    let input = input.trim().to_ascii_lowercase();
    let typed = Reference::parse(&input)
        .ok()
        .filter(|r| r.digest.is_none())
        .map(|r| familiar(&r.to_string()))
        .unwrap_or_else(|| input.clone());
    let words: Vec<&str> = input
        .split(['/', ':', '@'])
        .filter(|w| w.len() > 2 && *w != DEFAULT_TAG)
        .collect();
    let mut best: Option<(u8, f64, String)> = None;
    for tag in stored {
        let short = familiar(tag);
        if short == typed {
            continue; // what was typed; it is there, so it is not a suggestion
        }
        let Ok(r) = Reference::parse(tag) else {
            continue;
        };
        let last = r.repository.rsplit('/').next().unwrap_or_default();
        // 0: a part of what was typed is the stored name (its latest first);
        // 1: alike as a whole.
        let rank = if words.contains(&last) {
            if r.tag.as_deref() == Some(DEFAULT_TAG) {
                0
            } else {
                1
            }
        } else {
            2
        };
        let alike = strsim::normalized_damerau_levenshtein(&typed, &short);
        if rank == 2 && alike < ALIKE {
            continue;
        }
        let better = match &best {
            None => true,
            Some((br, ba, _)) => rank < *br || (rank == *br && alike > *ba),
        };
        if better {
            best = Some((rank, alike, short));
        }
    }
    best.map(|(_, _, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Vec<String> {
        [
            "docker.io/library/centos-stream-8-systemd:latest",
            "docker.io/library/centos-stream-8-systemd:old",
            "docker.io/library/busybox:latest",
            "localhost:5000/team/app:1.2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn the_field_reports_typos_name_the_local_image() {
        for typo in [
            "local:centos-stream-8-systemd",
            "local/centos-stream-8-systemd",
            "localhost/centos-stream-8-systemd",
            "centos-stream-8-sytemd",
            "centos-stream-8-systemd:lastest",
        ] {
            assert_eq!(
                closest_tag(typo, &stored()).as_deref(),
                Some("centos-stream-8-systemd:latest"),
                "{typo}"
            );
        }
    }

    #[test]
    fn other_names_and_parts() {
        assert_eq!(
            closest_tag("bussybox", &stored()).as_deref(),
            Some("busybox:latest")
        );
        assert_eq!(
            closest_tag("app:1.2", &stored()).as_deref(),
            Some("localhost:5000/team/app:1.2")
        );
        assert_eq!(closest_tag("nginx", &stored()), None);
        assert_eq!(closest_tag("local:latest", &stored()), None);
        assert_eq!(closest_tag("", &stored()), None);
        assert_eq!(closest_tag("centos-stream-8-systemd", &[]), None);
        // What was typed and is stored is no suggestion for itself.
        assert_eq!(
            closest_tag("busybox", &["docker.io/library/busybox:latest".into()]),
            None
        );
    }
}
