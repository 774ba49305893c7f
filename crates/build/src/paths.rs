//! Lexical path helpers with Go's `path.Clean` semantics, which docker applies
//! to Dockerfile paths (WORKDIR, COPY sources and destinations, ignore
//! patterns) before any file system sees them.

/// Go's `path.Clean`: one `/` between names, no `.` names, `..` resolved
/// lexically (kept at the start of a relative path, dropped at the root), no
/// trailing `/`; the empty path is `.`.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            name => out.push(name),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `path` made absolute against `dir` and cleaned (WORKDIR, COPY dest).
pub fn absolute(dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        clean(path)
    } else {
        clean(&format!(
            "{}/{path}",
            if dir.is_empty() { "/" } else { dir }
        ))
    }
}

/// A path inside a root as a relative path: cleaned against `/` (so `..`
/// never climbs above the root) without the leading `/`; `""` is the root.
pub fn in_root(path: &str) -> String {
    clean(&format!("/{path}"))
        .trim_start_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        for (input, want) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/./../../g", "a/g"),
            ("/../abc", "/abc"),
            ("../../abc", "../../abc"),
            ("abc/../..", ".."),
            ("//abc//def", "/abc/def"),
            ("/", "/"),
            ("./", "."),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn absolute_and_in_root() {
        assert_eq!(absolute("/app", "src"), "/app/src");
        assert_eq!(absolute("", "src/"), "/src");
        assert_eq!(absolute("/app", "/x/../y"), "/y");
        assert_eq!(in_root("../../etc/passwd"), "etc/passwd");
        assert_eq!(in_root("."), "");
        assert_eq!(in_root("/"), "");
    }
}
