//! Errors of the Dockerfile parser (text to AST).

use crate::heredoc::ParseHeredocError;

/// A place in the Dockerfile: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Position {
    /// A position from a line and a column, both 1-based.
    pub fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A Dockerfile that could not be parsed: where, and what is wrong.
///
/// Displays as `Dockerfile:12:5: <what is wrong and what to do>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{position}: {kind}")]
pub struct ParseError {
    /// The file name given to [`crate::parse`].
    pub file: String,
    /// Where the offending instruction (or directive) starts.
    pub position: Position,
    /// The last line of the offending instruction (continuations, heredocs).
    pub end_line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What made a Dockerfile unparseable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// `# escape=` with something else than a backslash or a backtick.
    #[error(
        "invalid escape token '{0}' does not match ` or \\ (use `# escape=\\` or `# escape=``)"
    )]
    InvalidEscapeToken(String),
    /// The same parser directive twice at the top of the file.
    #[error("only one {0} parser directive can be used (remove the repeated `# {0}=` line)")]
    DuplicateDirective(String),
    /// Only comments, directives and blank lines.
    #[error("file with no instructions (a Dockerfile needs at least a FROM instruction)")]
    NoInstructions,
    /// A physical line longer than buildkit's scanner accepts.
    #[error(
        "dockerfile line greater than max allowed size of 65535 (split it with line continuations)"
    )]
    LineTooLong,
    /// Valid JSON that is not an array of strings, e.g. `CMD ["a", 1]`.
    #[error("when using JSON array syntax, arrays must be comprised of strings only (quote every element: [\"a\", \"b\"])")]
    NotStringArray,
    /// `ENV name` / `LABEL name` with no value.
    #[error("{0} must have two arguments (write {0} name=value)")]
    MissingValue(String),
    /// `ENV a=b c`: a later word without `=`.
    #[error("Syntax error - can't find = in {word}. Must be of the form: name=value", word = crate::go::quote(.word))]
    MissingEquals {
        /// The word without `=`.
        word: String,
    },
    /// A heredoc whose terminator line never came.
    #[error("unterminated heredoc (end it with a line containing only {0})")]
    UnterminatedHeredoc(String),
    /// The heredoc marker could not be read.
    #[error("invalid heredoc: {0}")]
    Heredoc(#[source] Box<ParseHeredocError>),
}
