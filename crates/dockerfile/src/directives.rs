//! Parser directives: `# escape=`, `# syntax=`, `# check=` at the top of the file.
//!
//! As in buildkit, directives are only recognised before the first line that is
//! not a directive (a blank line, another comment, or an instruction ends them),
//! names are case-insensitive, and each may appear once. Leading whitespace before
//! `#` is allowed: buildkit trims it before looking for a directive.

use crate::error::ParseErrorKind;
use crate::go;

/// One parser directive as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The value after `=`, trimmed.
    pub value: String,
    /// The 1-based line it was on.
    pub line: usize,
}

/// The parser directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directives {
    /// `# escape=` (`\` or `` ` ``), if present.
    pub escape: Option<Directive>,
    /// `# syntax=` (a frontend image reference; berth records it, it does not
    /// switch frontends).
    pub syntax: Option<Directive>,
    /// `# check=` (build check configuration), recorded.
    pub check: Option<Directive>,
}

/// Tracks whether we are still in the directive block.
#[derive(Debug, Default)]
pub(crate) struct DirectiveParser {
    done: bool,
    pub(crate) found: Directives,
}

impl DirectiveParser {
    /// Looks at one line (newline removed, leading whitespace removed). Returns
    /// whether it was a directive; an escape directive changes `escape`.
    pub(crate) fn parse_line(
        &mut self,
        line: &str,
        line_no: usize,
        escape: &mut char,
    ) -> Result<bool, ParseErrorKind> {
        if self.done {
            return Ok(false);
        }
        let Some((name, value)) = match_directive(line) else {
            self.done = true;
            return Ok(false);
        };
        let name = name.to_ascii_lowercase();
        let slot = match name.as_str() {
            "escape" => &mut self.found.escape,
            "syntax" => &mut self.found.syntax,
            "check" => &mut self.found.check,
            _ => {
                self.done = true;
                return Ok(false);
            }
        };
        if slot.is_some() {
            return Err(ParseErrorKind::DuplicateDirective(name));
        }
        *slot = Some(Directive {
            value: value.to_string(),
            line: line_no,
        });
        if name == "escape" {
            *escape = escape_token(value)?;
        }
        Ok(true)
    }
}

fn escape_token(value: &str) -> Result<char, ParseErrorKind> {
    match value {
        "\\" => Ok('\\'),
        "`" => Ok('`'),
        other => Err(ParseErrorKind::InvalidEscapeToken(other.to_string())),
    }
}

/// The regular expression `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (after
/// Unicode left-trim of the text following `#`), written out by hand.
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches(go::is_space);
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let name_end = rest
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    let after_name = rest[name_end..].trim_start_matches(go::is_regexp_space);
    let after_eq = after_name.strip_prefix('=')?;
    let value = after_eq.trim_start_matches(go::is_regexp_space);
    if !value.is_empty() {
        return Some((name, value.trim_end_matches(go::is_regexp_space)));
    }
    // `(.+?)` needs one character: the regexp backtracks and takes the last
    // whitespace character as the value.
    let last = after_eq.chars().next_back()?;
    Some((name, &after_eq[after_eq.len() - last.len_utf8()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> (Result<Vec<bool>, ParseErrorKind>, char, Directives) {
        let mut p = DirectiveParser::default();
        let mut escape = '\\';
        let mut seen = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            match p.parse_line(l, i + 1, &mut escape) {
                Ok(b) => seen.push(b),
                Err(e) => return (Err(e), escape, p.found),
            }
        }
        (Ok(seen), escape, p.found)
    }

    #[test]
    fn recognises_directives_case_insensitively() {
        let (seen, escape, found) = run(&["# EScape = `", "#syntax=docker/dockerfile:1", "FROM x"]);
        assert_eq!(seen.unwrap(), vec![true, true, false]);
        assert_eq!(escape, '`');
        assert_eq!(found.syntax.unwrap().value, "docker/dockerfile:1");
    }

    #[test]
    fn directives_stop_at_first_other_line() {
        let (seen, escape, _) = run(&["# a comment", "# escape=`"]);
        assert_eq!(seen.unwrap(), vec![false, false]);
        assert_eq!(escape, '\\');
        let (seen, _, found) = run(&["", "# check=skip=all"]);
        assert_eq!(seen.unwrap(), vec![false, false]);
        assert!(found.check.is_none());
    }

    #[test]
    fn check_is_recorded() {
        let (_, _, found) = run(&["# check = skip=JSONArgsRecommended ", "FROM x"]);
        assert_eq!(found.check.unwrap().value, "skip=JSONArgsRecommended");
    }

    #[test]
    fn duplicate_and_invalid_escape_are_errors() {
        let (res, _, _) = run(&["# escape=`", "# escape=\\"]);
        assert_eq!(
            res.unwrap_err(),
            ParseErrorKind::DuplicateDirective("escape".into())
        );
        let (res, _, _) = run(&["# escape=x"]);
        assert_eq!(
            res.unwrap_err(),
            ParseErrorKind::InvalidEscapeToken("x".into())
        );
        let (res, _, _) = run(&["# escape= "]);
        assert_eq!(
            res.unwrap_err(),
            ParseErrorKind::InvalidEscapeToken(" ".into())
        );
    }
}
