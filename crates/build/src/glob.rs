//! Go's `filepath.Match`, which buildkit uses for wildcards in COPY and ADD
//! sources: `*` (any run of non-`/` characters), `?` (one non-`/` character),
//! `[...]`/`[^...]` classes with ranges, `\` escapes. Patterns are translated
//! to a regular expression once (the `regex` crate does the matching).

use regex::Regex;

/// A malformed pattern (an unclosed `[`, a trailing `\` in a class, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid wildcard pattern {0:?}: syntax error in pattern (check its [ ] classes and \\ escapes)")]
pub struct BadPattern(pub String);

/// A compiled `filepath.Match` pattern for one path component.
#[derive(Debug, Clone)]
pub struct Glob {
    regex: Regex,
}

/// Whether `s` has `*`, `?` or `[` that are not escaped (buildkit's
/// `containsWildcards`).
pub fn has_wildcards(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' | '[' => return true,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
    }
    false
}

/// Removes the `\` escapes of a pattern without wildcards.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Glob, BadPattern> {
        let bad = || BadPattern(pattern.to_string());
        let mut re = String::from("^");
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => re.push_str("[^/]*"),
                '?' => re.push_str("[^/]"),
                '\\' => push_literal(&mut re, chars.next().ok_or_else(bad)?),
                '[' => {
                    re.push('[');
                    if chars.peek() == Some(&'^') {
                        chars.next();
                        re.push('^');
                    }
                    let mut empty = true;
                    loop {
                        let c = match chars.next().ok_or_else(bad)? {
                            ']' if !empty => break,
                            '\\' => chars.next().ok_or_else(bad)?,
                            '-' | ']' => return Err(bad()),
                            c => c,
                        };
                        empty = false;
                        push_class_char(&mut re, c);
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            let hi = match chars.next().ok_or_else(bad)? {
                                '\\' => chars.next().ok_or_else(bad)?,
                                ']' | '-' => return Err(bad()),
                                c => c,
                            };
                            if hi < c {
                                return Err(bad());
                            }
                            re.push('-');
                            push_class_char(&mut re, hi);
                        }
                    }
                    re.push(']');
                }
                c => push_literal(&mut re, c),
            }
        }
        re.push('$');
        let regex = Regex::new(&re).map_err(|_| bad())?;
        Ok(Glob { regex })
    }

    /// Whether `name` (one path component) matches.
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

fn push_literal(re: &mut String, c: char) {
    re.push_str(&regex::escape(&c.to_string()));
}

/// Inside a class every non-alphanumeric character is escaped, so the regex
/// crate's class operators (`&&`, `--`, `~~`, nested `[`) never apply.
fn push_class_char(re: &mut String, c: char) {
    if !c.is_alphanumeric() {
        re.push('\\');
    }
    re.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).unwrap().matches(s)
    }

    #[test]
    fn go_match_table() {
        // From Go's filepath matchTests.
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("a*", "ab/c"));
        assert!(m("a*/b", "abc/b"));
        assert!(!m("a*/b", "a/c/b"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxe/f"));
        assert!(!m("a*b?c*x", "abxbbxdbxebxczzy"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(m("[\\]a]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[x\\-]", "-"));
        assert!(!m("[x\\-]", "z"));
        assert!(Glob::new("[a-b-x]").is_err());
        assert!(m("*x", "xxx"));
        assert!(m("[&&a]", "&"));
    }

    #[test]
    fn bad_patterns() {
        for p in [
            "[]a]", "[-]", "[x-]", "[", "[^", "[^bc", "a[", "\\", "[a-]", "[z-a]",
        ] {
            assert!(Glob::new(p).is_err(), "{p}");
        }
    }

    #[test]
    fn wildcard_detection() {
        assert!(has_wildcards("*.txt"));
        assert!(has_wildcards("a/[b]"));
        assert!(!has_wildcards("a\\*b"));
        assert_eq!(unescape("a\\*b"), "a*b");
    }
}
