//! docker's `--format`: Go's `text/template` over a `serde_json::Value`, with the
//! functions docker's CLI adds (`json`, `split`, `join`, `title`, `lower`, `upper`,
//! `pad`, `truncate`) beside Go's builtins (`len`, `index`, `slice`, `print`,
//! `printf`, `println`, `eq`…`ge`, `and`, `or`, `not`, `html`, `js`, `urlquery`,
//! `call`).
//!
//! The language itself (lexer, parser, executor, `printf`'s verbs) comes from the
//! `gotmpl` crate, a port of Go's `text/template` whose tests can check its output
//! against Go's, free of `unsafe` and of panics, and in active development (0.2
//! to 0.6.1, edition 2024). It is young and has one maintainer, hence the pin to
//! 0.6 and the unit tests here, which pin what berth relies on. The older `gtmpl`
//! crate was the alternative: its last release (0.7.1) is from 2021 and its
//! `printf` is incomplete. Hand-writing the language was not worth it. This crate keeps only what is docker's: the JSON
//! bridge, docker's functions, docker's `missingkey=error` for `inspect`-style
//! lookups, the `\t`/`\n` escapes of docker's format strings, and errors that
//! say where the template went wrong.
//!
//! `gotmpl` 0.6 has two gaps this crate fills: its parser accepts a stray
//! `{{end}}` (dropping the rest of the template) and an unclosed `{{if}}`, which
//! `structure` refuses as Go does; and its execution errors carry no position,
//! which `locate` recovers when the failing name occurs once in the source.
//!
//! docker runs `inspect` templates over its Go structs and, when a field is not
//! there, over the raw JSON with `missingkey=error`; berth has only the JSON, so a
//! missing key is an error as docker's second try makes it. `index` on a map of
//! strings (docker's `map[string]string`: labels) gives `""` for a missing key,
//! as docker's typed maps do. What still differs, each because the data is JSON,
//! not Go structs: `{{.Config.Labels.nope}}` is an error where docker prints
//! `<no value>` (use `index`), a `null` prints `<no value>` where docker's nil
//! pointer prints `<nil>`, a field of a `null` prints `<no value>` where Go fails
//! with `nil pointer evaluating`, and a function or variable that does not exist
//! fails when the template runs, not when it is parsed.

mod convert;
mod funcs;
mod locate;
mod structure;

use serde_json::Value as Json;

pub use convert::{to_json, to_value};
pub use locate::Location;
use locate::{locate, Needle};

/// Why a template could not be parsed or executed. Both print as Go does:
/// `template: :LINE:COL: …`, the column counted from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Bad syntax, with where it is.
    #[error("template: :{line}:{col}: {message}")]
    Syntax {
        line: usize,
        col: usize,
        message: String,
    },
    /// The template parsed but failed on this data (a missing field, a wrong
    /// argument type, a bad `index`); `at` is where, when it is certain.
    #[error("{}", execute_message(at.as_ref(), message))]
    Execute {
        at: Option<Location>,
        message: String,
    },
}

fn execute_message(at: Option<&Location>, message: &str) -> String {
    match at {
        Some(l) => format!(
            "template: :{}:{}: executing \"\" at <{}>: {message}",
            l.line, l.col, l.token
        ),
        None => format!("template: executing \"\": {message}"),
    }
}

/// A parsed template, to run over many values (one per `ps` row).
pub struct Template {
    inner: gotmpl::Template,
    src: String,
}

impl Template {
    /// Parses `src` as Go does, with docker's functions in scope. Map fields that
    /// do not exist are errors when executed (docker's `missingkey=error`, which
    /// `inspect` uses; `ps` fails the same way on its typed rows).
    pub fn parse(src: &str) -> Result<Self, TemplateError> {
        let inner = gotmpl::Template::new("")
            .funcs(funcs::docker_funcs())
            .missing_key(gotmpl::MissingKey::Error)
            .parse(src)
            .map_err(syntax_error)?;
        structure::check(src).map_err(|e| TemplateError::Syntax {
            line: e.line,
            col: e.col,
            message: e.message,
        })?;
        Ok(Self {
            inner,
            src: src.to_string(),
        })
    }

    /// Runs the template over `data`.
    pub fn execute(&self, data: &Json) -> Result<String, TemplateError> {
        self.inner
            .execute_to_string(&to_value(data))
            .map_err(|e| execute_error(&self.src, e))
    }
}

/// Parses and runs `src` over `data` once.
pub fn render(src: &str, data: &Json) -> Result<String, TemplateError> {
    Template::parse(src)?.execute(data)
}

fn syntax_error(e: gotmpl::TemplateError) -> TemplateError {
    match e {
        gotmpl::TemplateError::Parse {
            line, col, message, ..
        }
        | gotmpl::TemplateError::Lex {
            line, col, message, ..
        } => TemplateError::Syntax {
            line,
            // gotmpl counts columns from 1, Go from 0.
            col: col.saturating_sub(1),
            message,
        },
        other => TemplateError::Syntax {
            line: 1,
            col: 0,
            message: other.to_string(),
        },
    }
}

/// Go's wording for the engine's execution errors, and the failing action's
/// place when the name that failed occurs once in the source.
fn execute_error(src: &str, e: gotmpl::TemplateError) -> TemplateError {
    use gotmpl::TemplateError as G;
    let (needle, message) = match &e {
        G::MissingKey { key } => (
            Some(Needle::Field(key)),
            format!("map has no entry for key {key:?}"),
        ),
        G::UndefinedFunction(name) => (
            Some(Needle::Word(name)),
            format!("function {name:?} not defined"),
        ),
        G::UndefinedVariable(name) => (
            Some(Needle::Word(name)),
            format!("undefined variable {name:?}"),
        ),
        G::ArgCount {
            name,
            expected,
            got,
        } => (
            Some(Needle::Word(name)),
            format!("wrong number of args for {name}: want {expected} got {got}"),
        ),
        G::IndexOutOfRange { .. } => (
            Some(Needle::Word("index")),
            format!("error calling index: {e}"),
        ),
        G::Exec(text) => (exec_needle(text), text.clone()),
        other => (None, other.to_string()),
    };
    TemplateError::Execute {
        at: needle.and_then(|n| locate(src, n)),
        message,
    }
}

/// The name an engine message is about: `can't evaluate field X …` or the
/// `name: …` prefix docker's functions put on theirs.
fn exec_needle(text: &str) -> Option<Needle<'_>> {
    if let Some(rest) = text.strip_prefix("can't evaluate field ") {
        return rest.split_whitespace().next().map(Needle::Field);
    }
    let (name, _) = text.split_once(": ")?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(Needle::Word(name))
}

/// docker's format strings take `\t` and `\n` for a tab and a newline. They are
/// expanded in the text between actions only: inside an action Go's own string
/// escapes already mean the same, and a raw newline inside a quoted string would
/// be a syntax error (docker expands everywhere and fails on `{{join .X "\n"}}`).
pub fn expand_docker_escapes(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        out.push_str(&expand(&rest[..open]));
        let close = structure::action_end(rest, open);
        out.push_str(&rest[open..close]);
        rest = &rest[close..];
    }
    out.push_str(&expand(rest));
    out
}

fn expand(text: &str) -> String {
    text.replace("\\t", "\t").replace("\\n", "\n")
}

#[cfg(test)]
mod tests;
