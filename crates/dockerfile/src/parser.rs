//! Text to [`Ast`], following buildkit's `parser.Parse`: a byte order mark on
//! the first line is dropped, leading blanks of an instruction's first line are
//! ignored, comments are skipped (also between continuation lines), empty
//! continuation lines are skipped with a warning, heredoc bodies are read after
//! the line that opens them.

use crate::ast::{Arg, Ast, Flag, Node, Warning};
use crate::directives::DirectiveParser;
use crate::error::{ParseError, ParseErrorKind, Position};
use crate::go;
use crate::heredoc::{heredocs_from_line, Heredoc};
use crate::line_parsers::{line_parser, parse_args, split_command, LineParser};
use crate::lines::{is_comment, trim_continuation, trim_newline, LineMap, PhysicalLines};

/// Parses a Dockerfile. `file_name` is only used in error messages.
pub fn parse(text: &str, file_name: &str) -> Result<Ast, ParseError> {
    Parser::new(text, file_name).run()
}

/// Parses Dockerfile bytes; invalid UTF-8 is replaced by U+FFFD (buildkit keeps
/// the bytes, which only matters inside comments and string values).
pub fn parse_bytes(bytes: &[u8], file_name: &str) -> Result<Ast, ParseError> {
    parse(&String::from_utf8_lossy(bytes), file_name)
}

struct Parser<'a> {
    lines: PhysicalLines<'a>,
    file: &'a str,
    directives: DirectiveParser,
    escape: char,
    current_line: usize,
    comments: Vec<String>,
    warnings: Vec<Warning>,
    children: Vec<Node>,
}

/// An error inside a logical line, located by its byte offset.
struct LineError {
    offset: usize,
    kind: ParseErrorKind,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, file: &'a str) -> Self {
        Parser {
            lines: PhysicalLines::new(text),
            file,
            directives: DirectiveParser::default(),
            escape: '\\',
            current_line: 0,
            comments: Vec::new(),
            warnings: Vec::new(),
            children: Vec::new(),
        }
    }

    fn error(&self, position: Position, end_line: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            position,
            end_line: end_line.max(position.line),
            kind,
        }
    }

    fn next_line(&mut self) -> Result<Option<&'a str>, ParseError> {
        let line = self.current_line + 1;
        self.lines
            .next_line()
            .map_err(|kind| self.error(Position::new(line, 1), line, kind))
    }

    fn run(mut self) -> Result<Ast, ParseError> {
        while let Some(raw) = self.next_line()? {
            let raw = if self.current_line == 0 {
                raw.strip_prefix('\u{feff}').unwrap_or(raw)
            } else {
                raw
            };
            self.note_comment(raw);
            let content = trim_newline(raw);
            let trimmed = content.trim_start_matches(go::is_space);
            let lead = content[..content.len() - trimmed.len()].chars().count();
            let line_no = self.current_line + 1;
            let is_directive = self
                .directives
                .parse_line(trimmed, line_no, &mut self.escape)
                .map_err(|k| self.error(Position::new(line_no, lead + 1), line_no, k))?;
            if is_directive {
                self.comments.pop();
            }
            self.current_line += 1;
            let first = if is_comment(trimmed) { "" } else { trimmed };
            let (first, end) = trim_continuation(first, self.escape);
            if end && first.is_empty() {
                continue;
            }
            let mut map = LineMap::new();
            map.push(first, line_no, lead + 1);
            if !end {
                self.join_continuations(&mut map)?;
            }
            let node = self.instruction(&map, line_no)?;
            self.children.push(node);
            self.comments.clear();
        }
        let (Some(first), Some(last)) = (self.children.first(), self.children.last()) else {
            let line = self.current_line.max(1);
            return Err(self.error(Position::new(line, 1), line, ParseErrorKind::NoInstructions));
        };
        Ok(Ast {
            file_name: self.file.to_string(),
            start_line: first.start_line,
            end_line: last.end_line,
            children: self.children,
            escape: self.escape,
            directives: self.directives.found,
            warnings: self.warnings,
        })
    }

    /// Comments before an instruction are kept for it (buildkit's PrevComment).
    fn note_comment(&mut self, raw: &str) {
        if !is_comment(raw) {
            return;
        }
        // buildkit drops the first character of the untrimmed line.
        let mut chars = raw.chars();
        chars.next();
        let comment = chars.as_str().trim();
        if comment.is_empty() {
            self.comments.clear();
        } else {
            self.comments.push(comment.to_string());
        }
    }

    /// Appends continuation lines until one does not end with the escape token.
    fn join_continuations(&mut self, map: &mut LineMap) -> Result<(), ParseError> {
        let mut empty_seen = false;
        while let Some(raw) = self.next_line()? {
            self.current_line += 1;
            if is_comment(raw) {
                continue;
            }
            let content = trim_newline(raw);
            if content.trim_start_matches(go::is_space).is_empty() {
                empty_seen = true;
                continue;
            }
            let (part, end) = trim_continuation(content, self.escape);
            map.push(part, self.current_line, 1);
            if end {
                break;
            }
        }
        if empty_seen {
            self.warnings.push(Warning {
                line: self.current_line,
                message: format!(
                    "Empty continuation line found in: {} (empty continuation lines will become errors in a future release; remove the blank line or the trailing escape)",
                    map.text()
                ),
            });
        }
        Ok(())
    }

    /// Builds the node of one logical line and reads its heredoc bodies.
    fn instruction(&mut self, map: &LineMap, start_line: usize) -> Result<Node, ParseError> {
        let escape = self.escape;
        let text = map.text();
        let mut node = new_node(text, 0, map, escape, self.comments.clone())
            .map_err(|e| self.error(map.position(e.offset), self.current_line, e.kind))?;
        let start = map.position(0);
        if can_contain_heredoc(&node) && text.contains("<<") {
            let docs = heredocs_from_line(text).map_err(|e| {
                self.error(
                    start,
                    self.current_line,
                    ParseErrorKind::Heredoc(Box::new(e)),
                )
            })?;
            for doc in docs {
                let doc = self.read_heredoc(doc, start)?;
                node.heredocs.push(doc);
            }
        }
        node.start_line = start_line;
        node.end_line = self.current_line;
        Ok(node)
    }

    fn read_heredoc(&mut self, mut doc: Heredoc, start: Position) -> Result<Heredoc, ParseError> {
        while let Some(raw) = self.next_line()? {
            self.current_line += 1;
            let mut candidate = trim_newline(raw);
            if doc.chomp {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == doc.name {
                return Ok(doc);
            }
            doc.content.push_str(raw);
        }
        Err(self.error(
            start,
            self.current_line,
            ParseErrorKind::UnterminatedHeredoc(doc.name),
        ))
    }
}

/// buildkit's `newNodeFromLine` for `line`, which starts at `base` in `map`.
fn new_node(
    line: &str,
    base: usize,
    map: &LineMap,
    escape: char,
    comments: Vec<String>,
) -> Result<Node, LineError> {
    let split = split_command(line);
    let parser = line_parser(&go::to_lower(split.cmd));
    let args_at = base + split.args_offset;
    let (args, json) = if parser == LineParser::SubCommand {
        let sub = if split.args.is_empty() {
            Vec::new()
        } else {
            vec![Arg::Subcommand(Box::new(new_node(
                split.args,
                args_at,
                map,
                escape,
                Vec::new(),
            )?))]
        };
        (sub, false)
    } else {
        let parsed = parse_args(parser, split.args, escape).map_err(|kind| LineError {
            offset: args_at,
            kind,
        })?;
        (
            parsed.values.into_iter().map(Arg::Value).collect(),
            parsed.json,
        )
    };
    let flags = split
        .flags
        .into_iter()
        .map(|(text, at)| Flag {
            text,
            position: map.position(base + at),
        })
        .collect();
    Ok(Node {
        keyword: split.cmd.to_string(),
        flags,
        args,
        json,
        original: line.to_string(),
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
        position: map.position(base + split.cmd_offset),
        prev_comment: comments,
    })
}

/// RUN, COPY and ADD in shell form (also under ONBUILD) may open heredocs.
fn can_contain_heredoc(node: &Node) -> bool {
    let node = match node.subcommand() {
        Some(sub) if node.name() == "onbuild" => sub,
        _ => node,
    };
    matches!(node.name().as_str(), "run" | "copy" | "add") && !node.json
}

#[cfg(test)]
mod tests;
