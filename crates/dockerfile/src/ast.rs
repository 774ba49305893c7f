//! The parsed Dockerfile: one [`Node`] per instruction, as buildkit's parser
//! builds it, and its s-expression dump ([`Ast::dump`]), byte-identical to
//! buildkit's `Node.Dump()`.

use crate::directives::Directives;
use crate::error::Position;
use crate::go;
use crate::heredoc::Heredoc;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// The file name given to [`crate::parse`] (used in error messages).
    pub file_name: String,
    /// The instructions, in order.
    pub children: Vec<Node>,
    /// Line of the first instruction.
    pub start_line: usize,
    /// Last line of the last instruction.
    pub end_line: usize,
    /// The escape token (`\` unless `# escape=` said otherwise).
    pub escape: char,
    /// The parser directives at the top of the file.
    pub directives: Directives,
    /// Non-fatal findings (empty continuation lines).
    pub warnings: Vec<Warning>,
}

/// A non-fatal finding while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub line: usize,
    /// What, and what to do.
    pub message: String,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction keyword as written (`RUN`, `run`, ...).
    pub keyword: String,
    /// `--name[=value]` words before the first argument, quotes removed.
    pub flags: Vec<Flag>,
    /// The arguments, as buildkit's line parser for this instruction splits them
    /// (quotes kept, except in JSON form).
    pub args: Vec<Arg>,
    /// The arguments were a JSON array (exec form). Text that is not JSON at
    /// all falls back to shell form; valid JSON that is not an array of strings
    /// is an error. serde_json decides what is JSON: unlike Go it refuses lone
    /// UTF-16 surrogates (`"\ud800"`) and nesting deeper than 128, so such
    /// text falls back to shell form where buildkit would not.
    pub json: bool,
    /// The logical line (continuations joined).
    pub original: String,
    /// Heredocs opened on this line, with their bodies.
    pub heredocs: Vec<Heredoc>,
    /// First physical line.
    pub start_line: usize,
    /// Last physical line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// Where the keyword is.
    pub position: Position,
    /// Comment lines right before the instruction, without `#`.
    pub prev_comment: Vec<String>,
}

/// An instruction flag and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// `--name` or `--name=value`.
    pub text: String,
    /// Where the flag starts.
    pub position: Position,
}

/// An argument of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A plain value.
    Value(String),
    /// The instruction nested in `ONBUILD`.
    Subcommand(Box<Node>),
}

impl Node {
    /// The keyword lower-cased (`run`), as instructions are looked up.
    pub fn name(&self) -> String {
        go::to_lower(&self.keyword)
    }

    /// The arguments flattened like buildkit's `nodeArgs` (a nested ONBUILD
    /// instruction contributes its keyword and its arguments).
    pub fn arg_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        for arg in &self.args {
            match arg {
                Arg::Value(v) => out.push(v.clone()),
                Arg::Subcommand(node) => {
                    out.push(node.keyword.clone());
                    out.extend(node.arg_values());
                }
            }
        }
        out
    }

    /// The nested instruction of an `ONBUILD`.
    pub fn subcommand(&self) -> Option<&Node> {
        self.args.iter().find_map(|a| match a {
            Arg::Subcommand(n) => Some(n.as_ref()),
            Arg::Value(_) => None,
        })
    }

    /// The flag texts.
    pub fn flag_texts(&self) -> Vec<String> {
        self.flags.iter().map(|f| f.text.clone()).collect()
    }

    /// buildkit's `Node.Dump()` for this instruction: `run ["--flag"] "a" "b"`.
    pub fn dump(&self) -> String {
        let mut s = go::to_lower(&self.keyword);
        if !self.flags.is_empty() {
            s.push(' ');
            s.push_str(&go::quote_list(&self.flag_texts()));
        }
        for arg in &self.args {
            s.push(' ');
            match arg {
                Arg::Value(v) => s.push_str(&go::quote(v)),
                Arg::Subcommand(node) => s.push_str(format!("({})\n", node.dump()).trim()),
            }
        }
        s.trim().to_string()
    }
}

impl Ast {
    /// buildkit's `Node.Dump()` of the root: one `(instruction ...)` per line,
    /// without the final newline (buildkit's `result` files are this plus `\n`).
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for child in &self.children {
            s.push('(');
            s.push_str(&child.dump());
            s.push_str(")\n");
        }
        s.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Arg {
        Arg::Value(s.to_string())
    }

    #[test]
    fn dump_formats_like_buildkit() {
        let run = Node {
            keyword: "RUN".into(),
            args: vec![value("echo"), value("a\"b")],
            ..Node::default()
        };
        let onbuild = Node {
            keyword: "ONBUILD".into(),
            args: vec![Arg::Subcommand(Box::new(run.clone()))],
            ..Node::default()
        };
        let flagged = Node {
            keyword: "copy".into(),
            flags: vec![Flag {
                text: "--from=a".into(),
                position: Position::new(1, 6),
            }],
            args: vec![value("x"), value("/y")],
            ..Node::default()
        };
        let ast = Ast {
            file_name: "Dockerfile".into(),
            children: vec![
                Node {
                    keyword: "HEALTHCHECK".into(),
                    ..Node::default()
                },
                onbuild,
                flagged,
            ],
            start_line: 1,
            end_line: 3,
            escape: '\\',
            directives: Directives::default(),
            warnings: vec![],
        };
        assert_eq!(
            ast.dump(),
            "(healthcheck)\n(onbuild (run \"echo\" \"a\\\"b\"))\n(copy [\"--from=a\"] \"x\" \"/y\")"
        );
        assert_eq!(ast.children[1].arg_values(), vec!["RUN", "echo", "a\"b"]);
    }
}
