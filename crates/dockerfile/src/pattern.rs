//! Shell patterns of `${V#p}`, `${V%p}`, `${V/p/r}`: `*` (any run), `?` (any one
//! character), `\*` `\?` `\\` literals; no bracket expressions, as in buildkit.
//!
//! buildkit turns the pattern into a Go regular expression (`.*`/`.*?`, `.`) and
//! uses leftmost-first matching. This is a hand-written matcher with the same
//! results (a regex crate would be a heavy dependency for three wildcards): a
//! table of "the rest of the pattern can match from here" makes every choice of
//! a backtracking matcher in one pass. Like Go's `.`, wildcards never match `\n`.

/// Refuse tables above this many cells (pattern tokens x value characters)
/// rather than exhaust memory on a hostile Dockerfile.
const MAX_CELLS: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    toks: Vec<Tok>,
    greedy: bool,
}

/// Why a pattern was refused.
pub(crate) type PatternError = String;

impl Pattern {
    /// Compiles `pattern`; `greedy` picks the longest match for `*` (`##`, `%%`,
    /// `/`), otherwise the shortest.
    pub(crate) fn compile(pattern: &str, greedy: bool) -> Result<Pattern, PatternError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            let tok = match c {
                '*' => Tok::Star,
                '?' => Tok::Any,
                '\\' => match chars.get(i) {
                    // `}` and `/` are escaped only to get past `${...}` parsing.
                    Some('}') | Some('/') => continue,
                    Some(&e @ ('*' | '?' | '\\')) => {
                        i += 1;
                        Tok::Lit(e)
                    }
                    Some(&e) => return Err(format!("invalid escape '\\{e}'")),
                    None => return Err("invalid escape '\\' at the end".to_string()),
                },
                c => Tok::Lit(c),
            };
            // `**` matches what `*` matches; merging keeps the table small.
            if tok == Tok::Star && toks.last() == Some(&Tok::Star) {
                continue;
            }
            toks.push(tok);
        }
        Ok(Pattern { toks, greedy })
    }

    /// `can[t * (n + 1) + p]`: tokens `t..` can match starting at `p`.
    fn table(&self, text: &[char]) -> Result<Vec<bool>, PatternError> {
        let n = text.len();
        let width = n + 1;
        let cells = (self.toks.len() + 1).saturating_mul(width);
        if cells > MAX_CELLS {
            return Err("pattern and value too long to match".to_string());
        }
        let mut can = vec![false; cells];
        let last = self.toks.len();
        can[last * width..].iter_mut().for_each(|c| *c = true);
        for t in (0..last).rev() {
            let (row, next) = can[t * width..].split_at_mut(width);
            for p in (0..=n).rev() {
                row[p] = match self.toks[t] {
                    Tok::Lit(c) => p < n && text[p] == c && next[p + 1],
                    Tok::Any => p < n && text[p] != '\n' && next[p + 1],
                    Tok::Star => next[p] || (p < n && text[p] != '\n' && row[p + 1]),
                };
            }
        }
        Ok(can)
    }

    /// The end of the match starting at `start` (which must be matchable).
    fn walk(&self, can: &[bool], text: &[char], start: usize) -> usize {
        let width = text.len() + 1;
        let mut p = start;
        for (t, tok) in self.toks.iter().enumerate() {
            match tok {
                Tok::Lit(_) | Tok::Any => p += 1,
                Tok::Star => {
                    let reach = text[p..]
                        .iter()
                        .position(|&c| c == '\n')
                        .map_or(text.len(), |i| p + i);
                    let next = &can[(t + 1) * width..(t + 2) * width];
                    let mut options = p..=reach;
                    let chosen = if self.greedy {
                        options.rev().find(|&q| next[q])
                    } else {
                        options.find(|&q| next[q])
                    };
                    p = chosen.unwrap_or(p);
                }
            }
        }
        p
    }
}

/// `${V#p}` / `${V##p}`: removes the matching prefix.
pub(crate) fn trim_prefix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, PatternError> {
    let pat = Pattern::compile(pattern, greedy)?;
    let text: Vec<char> = value.chars().collect();
    let can = pat.table(&text)?;
    if !can[0] {
        return Ok(value.to_string());
    }
    let end = pat.walk(&can, &text, 0);
    Ok(text[end..].iter().collect())
}

/// `${V%p}` / `${V%%p}`: removes the matching suffix. Like buildkit, reverses
/// value and pattern and trims a prefix.
pub(crate) fn trim_suffix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, PatternError> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern keeping `\x` escapes in front of their character.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; chars.len()];
    let last = chars.len().saturating_sub(1);
    let mut i = 0;
    while i < chars.len() {
        let at = last - i;
        if chars[i] == '\\' && i != last {
            out[at - 1] = '\\';
            out[at] = chars[i + 1];
            i += 2;
        } else {
            out[at] = chars[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// `${V/p/r}` (first match) and `${V//p/r}` (every match), greedy like buildkit.
/// Replacing every match follows Go's `Regexp.ReplaceAllString`, including its
/// `$0`/`$$` template expansion of the replacement.
pub(crate) fn replace(
    value: &str,
    pattern: &str,
    replacement: &str,
    all: bool,
) -> Result<String, PatternError> {
    let pat = Pattern::compile(pattern, true)?;
    let text: Vec<char> = value.chars().collect();
    let can = pat.table(&text)?;
    let width = text.len() + 1;
    let find = |from: usize| {
        (from..width)
            .find(|&s| can[s])
            .map(|s| (s, pat.walk(&can, &text, s)))
    };
    let slice = |a: usize, b: usize| -> String { text[a..b].iter().collect() };
    if !all {
        return Ok(match find(0) {
            Some((a, b)) => format!("{}{}{}", slice(0, a), replacement, slice(b, text.len())),
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let (mut last_end, mut search) = (0, 0);
    while search <= text.len() {
        let Some((a, b)) = find(search) else { break };
        out.push_str(&slice(last_end, a));
        // Go skips an empty match right after the previous match.
        if b > last_end || a == 0 {
            out.push_str(&expand_template(replacement, &slice(a, b)));
        }
        last_end = b;
        search = if search + 1 > b { search + 1 } else { b };
    }
    out.push_str(&slice(last_end, text.len()));
    Ok(out)
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0`/`${0}`
/// the match, any other well-formed `$name` empty, a malformed `$` literal.
fn expand_template(template: &str, matched: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        match template_name(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
    out
}

/// Parses `name` or `{name}` at the start of `s` (Go's `extract`).
fn template_name(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(crate::go::is_letter(c) || crate::go::is_digit(c) || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if braced {
        let after = body[end..].strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, &body[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_shortest_and_longest() {
        assert_eq!(trim_prefix("*x*y", "xxyy", false).unwrap(), "y");
        assert_eq!(trim_prefix("*", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_prefix("*x", "xxyy", true).unwrap(), "yy");
        assert_eq!(trim_prefix("", "xxyy", true).unwrap(), "xxyy");
        assert_eq!(trim_prefix("?\\?", "???y", false).unwrap(), "?y");
        assert_eq!(
            trim_prefix("()[]{\\}^$.\\*\\?|\\\\", "()[]{}^$.*?|\\x", false).unwrap(),
            "x"
        );
        assert_eq!(trim_prefix("*", "ab\ncd", true).unwrap(), "\ncd");
    }

    #[test]
    fn suffixes() {
        assert_eq!(trim_suffix("\\**", "xx**", true).unwrap(), "xx");
        assert_eq!(trim_suffix("\\**\\*", "a***yy*", true).unwrap(), "a");
        assert_eq!(trim_suffix("x", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_suffix(".*", "file.tar.gz", false).unwrap(), "file.tar");
        assert_eq!(trim_suffix(".*", "file.tar.gz", true).unwrap(), "file");
    }

    #[test]
    fn reversing_patterns_keeps_escapes() {
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("\\\\\\ab"), "b\\a\\\\");
        assert_eq!(reverse_pattern("ab\\"), "\\ba");
        assert_eq!(reverse_pattern("\\\\b"), "b\\\\");
    }

    #[test]
    fn invalid_escapes() {
        for p in ["\\", "\\x", "\\\\\\"] {
            assert!(Pattern::compile(p, true).is_err(), "{p}");
        }
    }

    #[test]
    fn replacements() {
        assert_eq!(
            replace("/foo*/*/*.txt", "\\*/", ".", false).unwrap(),
            "/foo.*/*.txt"
        );
        assert_eq!(
            replace("/foo*/*/*.txt", "\\*/", ".", true).unwrap(),
            "/foo..*.txt"
        );
        assert_eq!(
            replace("/tmp/tmp/bar.txt", "/tmp", "", true).unwrap(),
            "/bar.txt"
        );
        assert_eq!(
            replace("/a/foo/b/c.txt", "/?/", "/", true).unwrap(),
            "/foo/c.txt"
        );
        assert_eq!(
            replace("/tmp/foo.txt", "/", "\\/", true).unwrap(),
            "\\/tmp\\/foo.txt"
        );
        assert_eq!(replace("xxyy", "", "ww", false).unwrap(), "wwxxyy");
        assert_eq!(replace("abc", "", "-", true).unwrap(), "-a-b-c-");
        assert_eq!(replace("abc", "b", "[$0$$]", true).unwrap(), "a[b$]c");
        assert_eq!(replace("abc", "b", "$x$", true).unwrap(), "a$c");
    }
}
