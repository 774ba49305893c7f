//! `.dockerignore` with docker's semantics: the file is read like
//! `moby/patternmatcher/ignorefile` (a UTF-8 BOM dropped, `#` comment lines,
//! blanks trimmed, patterns cleaned, a leading `/` dropped, `!` exceptions)
//! and paths are matched like `patternmatcher` (`*`, `?`, `[...]`, `**` for
//! any number of directories; a path is excluded when it or one of its parent
//! directories matches, unless a later `!` pattern re-includes it). As the
//! docker CLI does, the Dockerfile and `.dockerignore` are always kept in
//! the context.
//!
//! The matcher is written here rather than taken from a crate: gitignore
//! crates (`ignore`, `globset`) differ from docker on anchoring, `**` and
//! exception order, and the context must be exactly docker's.

use crate::paths::clean;
use regex::Regex;

/// A pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\" in .dockerignore (write ! followed by a pattern)")]
    LoneBang,
    #[error("invalid .dockerignore pattern {0:?}: syntax error in pattern (check its [ ] classes and \\ escapes)")]
    Syntax(String),
}

/// Reads `.dockerignore` text into patterns.
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: Kind,
}

/// The compiled patterns of a context.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// Per-pattern results for a directory, handed to its children.
#[derive(Debug, Clone, Default)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

impl Ignore {
    /// Compiles patterns (as [`read_patterns`] gives them), then adds
    /// exceptions so that `keep` (the Dockerfile, `.dockerignore`) stay.
    pub fn new(patterns: &[String], keep: &[&str]) -> Result<Ignore, IgnoreError> {
        let mut ignore = Ignore::compile(patterns)?;
        let mut extra = Vec::new();
        for file in keep {
            let file = clean(file);
            if ignore.matches_or_parent(&file) {
                extra.push(format!("!{file}"));
            }
        }
        if !extra.is_empty() {
            let mut all = patterns.to_vec();
            all.extend(extra);
            ignore = Ignore::compile(&all)?;
        }
        Ok(ignore)
    }

    fn compile(patterns: &[String]) -> Result<Ignore, IgnoreError> {
        let mut out = Ignore::default();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(IgnoreError::LoneBang);
                }
                p.remove(0);
                out.exclusions = true;
            }
            // Syntax check as filepath.Match does.
            if p.split('/')
                .any(|part| crate::glob::Glob::new(part).is_err())
            {
                return Err(IgnoreError::Syntax(p));
            }
            let kind = compile_kind(&p).ok_or_else(|| IgnoreError::Syntax(p.clone()))?;
            out.patterns.push(Pattern {
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(out)
    }

    /// No patterns: nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Some pattern is a `!` exception (an excluded directory must still be
    /// walked to find re-included files).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// patternmatcher's `MatchesOrParentMatches`: whether `file` (relative,
    /// `/`-separated) is excluded, checking its parents as well.
    pub fn matches_or_parent(&self, file: &str) -> bool {
        let parents: Vec<&str> = match file.rfind('/') {
            Some(i) => file[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(file);
            if !hit {
                hit = (1..=parents.len()).any(|n| p.matches(&parents[..n].join("/")));
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// patternmatcher's `MatchesUsingParentResults`: whether `file` is
    /// excluded, given its parent directory's [`MatchInfo`] (default for a
    /// top-level entry); returns the info for `file`'s own children.
    pub fn matches(&self, file: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut matched = false;
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = parent.parent_matched.get(i).copied().unwrap_or(false);
            if !hit {
                if p.exclusion != matched {
                    continue;
                }
                hit = p.matches(file);
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !p.exclusion;
            }
        }
        (matched, info)
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Regex(re) => re.is_match(path),
        }
    }
}

/// patternmatcher's `compile`: exact, `x/**` prefix, `**/x` suffix, or a
/// regular expression.
fn compile_kind(pattern: &str) -> Option<Kind> {
    #[derive(PartialEq)]
    enum T {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut t = T::Exact;
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut index = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if t == T::Exact {
                        t = T::Prefix;
                    } else {
                        re.push_str(".*");
                        t = T::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    t = T::Regex;
                }
                if index == 0 {
                    t = T::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                t = T::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                t = T::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    re.push_str(&regex::escape(&next.to_string()));
                    t = T::Regex;
                }
                None => re.push_str("\\\\"),
            },
            '[' | ']' => {
                re.push(c);
                t = T::Regex;
            }
            c => re.push(c),
        }
        index += 1;
    }
    Some(match t {
        T::Exact => Kind::Exact,
        T::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        T::Suffix => Kind::Suffix(pattern[2..].to_string()),
        T::Regex => {
            re.push('$');
            Kind::Regex(Regex::new(&re).ok()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(patterns: &[&str]) -> Ignore {
        let p: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        Ignore::new(&p, &[]).unwrap()
    }

    fn excluded(patterns: &[&str], file: &str) -> bool {
        ignore(patterns).matches_or_parent(file)
    }

    #[test]
    fn reads_like_ignorefile() {
        let text = "\u{feff}# comment\n  *.o  \n\n/abs/path\n! keep.o\n#not a pattern\n./a/../b/\n";
        assert_eq!(read_patterns(text), vec!["*.o", "abs/path", "!keep.o", "b"]);
    }

    #[test]
    fn patternmatcher_table() {
        // From patternmatcher's TestMatches (the parent-matching variant).
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("dir/**", "dir/file", true),
            ("dir/**/", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**/", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/**", "dir/dir/file", true),
            ("**/**/file", "dir/dir/file", true),
            ("**/dir/file", "dir/dir/file", true),
            ("**/dir/file", "dir/dir/dir/file", true),
            ("**/dir/file", "dir/dir/dir/dir/file", true),
            ("**/dir/file", "dir/dir/xyz/dir/file", true),
            ("dir/**/dir/file", "dir/xyz/dir/file", true),
            ("**/dir/file", "file", false),
            ("**.txt", "file.txt", true),
            ("**/*.txt", "file.txt", true),
            ("**/*.txt", "dir/file.txt", true),
            ("**/*.txt", "dir/dir/file.txt", true),
            ("**.txt", "file.tst", false),
            ("**/*.txt", "dir/file.tst", false),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aze", false),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
        ];
        for (pattern, file, want) in cases {
            assert_eq!(excluded(&[pattern], file), *want, "{pattern} vs {file}");
        }
    }

    #[test]
    fn exceptions_apply_in_order() {
        let p = &["*.md", "!README.md", "README-secret.md"];
        assert!(excluded(p, "CHANGES.md"));
        assert!(!excluded(p, "README.md"));
        assert!(excluded(p, "README-secret.md"));
        // A parent directory's match excludes what is below it.
        assert!(excluded(&["docs"], "docs/a/b.txt"));
        assert!(!excluded(&["docs", "!docs/keep"], "docs/keep"));
    }

    #[test]
    fn parent_results_give_the_same_answers() {
        let ig = ignore(&["docs", "!docs/keep", "**/*.tmp"]);
        let (d, info) = ig.matches("docs", &MatchInfo::default());
        assert!(d);
        assert!(ig.matches("docs/x", &info).0);
        assert!(!ig.matches("docs/keep", &info).0);
        let (_, top) = ig.matches("src", &MatchInfo::default());
        assert!(ig.matches("src/a.tmp", &top).0);
        assert!(!ig.matches("src/a.rs", &top).0);
    }

    #[test]
    fn dockerfile_and_ignore_file_are_kept() {
        let p: Vec<String> = vec!["*".into()];
        let ig = Ignore::new(&p, &["Dockerfile", ".dockerignore"]).unwrap();
        assert!(!ig.matches_or_parent("Dockerfile"));
        assert!(!ig.matches_or_parent(".dockerignore"));
        assert!(ig.matches_or_parent("other"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert_eq!(
            Ignore::new(&["!".into()], &[]).unwrap_err(),
            IgnoreError::LoneBang
        );
        assert!(matches!(
            Ignore::new(&["[".into()], &[]).unwrap_err(),
            IgnoreError::Syntax(_)
        ));
    }
}
