//! Physical lines and the pieces of buildkit's line handling: newline trimming,
//! comment detection, line continuations, and the map from a logical
//! (continuation-joined) line back to physical positions.

use crate::error::{ParseErrorKind, Position};
use crate::go;

/// buildkit reads Dockerfiles with a `bufio.Scanner` whose tokens may not exceed
/// 64 KiB; a longer line is an error there, so it is one here.
pub(crate) const MAX_LINE: usize = 65535;

/// Iterates physical lines, keeping their line endings (heredoc bodies are kept
/// byte for byte).
pub(crate) struct PhysicalLines<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> PhysicalLines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        PhysicalLines { text, pos: 0 }
    }

    /// The next line with its `\n`, `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<&'a str>, ParseErrorKind> {
        if self.pos >= self.text.len() {
            return Ok(None);
        }
        let rest = &self.text[self.pos..];
        let len = rest.find('\n').map(|i| i + 1).unwrap_or(rest.len());
        let line = &rest[..len];
        if trim_newline(line).len() > MAX_LINE {
            return Err(ParseErrorKind::LineTooLong);
        }
        self.pos += len;
        Ok(Some(line))
    }
}

/// Removes every trailing `\r` and `\n` (Go's `bytes.TrimRight(s, "\r\n")`).
pub(crate) fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// A line whose first non-blank character is `#`.
pub(crate) fn is_comment(line: &str) -> bool {
    line.trim_start_matches(go::is_space).starts_with('#')
}

/// Removes a trailing line-continuation (the escape token followed only by
/// spaces and tabs, and not itself escaped). Returns the remaining text and
/// whether the logical line ends here.
pub(crate) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        // `\\` at the end is an escaped escape token, not a continuation.
        return (line, true);
    }
    (before, false)
}

/// Maps byte offsets of a logical line (physical lines joined by continuations)
/// back to 1-based physical line and column.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineMap {
    /// (offset in the logical line, physical line, column of that offset)
    segments: Vec<(usize, usize, usize)>,
    text: String,
}

impl LineMap {
    pub(crate) fn new() -> Self {
        LineMap::default()
    }

    /// Appends `part`, which starts on physical `line` at `column`.
    pub(crate) fn push(&mut self, part: &str, line: usize, column: usize) {
        self.segments.push((self.text.len(), line, column));
        self.text.push_str(part);
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The physical position of `offset` (clamped into the line).
    pub(crate) fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= offset)
            .or(self.segments.first());
        let Some(&(start, line, column)) = seg else {
            return Position::new(1, 1);
        };
        let chars = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        Position::new(line, column + chars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("RUN a \\", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a \\  \t", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(
            trim_continuation("ENV C a\\\\", '\\'),
            ("ENV C a\\\\", true)
        );
        assert_eq!(trim_continuation("ENV a `", '`'), ("ENV a ", false));
        assert_eq!(trim_continuation("ENV a \\", '`'), ("ENV a \\", true));
        assert_eq!(trim_continuation("x", '\\'), ("x", true));
    }

    #[test]
    fn lines_keep_endings_and_limit_length() {
        let mut l = PhysicalLines::new("a\r\nb\nc");
        assert_eq!(l.next_line().unwrap(), Some("a\r\n"));
        assert_eq!(l.next_line().unwrap(), Some("b\n"));
        assert_eq!(l.next_line().unwrap(), Some("c"));
        assert_eq!(l.next_line().unwrap(), None);
        let long = "x".repeat(MAX_LINE + 1);
        assert_eq!(
            PhysicalLines::new(&long).next_line(),
            Err(ParseErrorKind::LineTooLong)
        );
        let ok = "x".repeat(MAX_LINE);
        assert!(PhysicalLines::new(&ok).next_line().unwrap().is_some());
    }

    #[test]
    fn line_map_positions() {
        let mut m = LineMap::new();
        m.push("RUN a ", 3, 2);
        m.push("  b", 4, 1);
        assert_eq!(m.position(0), Position::new(3, 2));
        assert_eq!(m.position(4), Position::new(3, 6));
        assert_eq!(m.position(8), Position::new(4, 3));
    }

    #[test]
    fn comments() {
        assert!(is_comment("  # x\n"));
        assert!(!is_comment("RUN # x"));
    }
}
