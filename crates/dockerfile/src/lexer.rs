//! Shell-word expansion as buildkit's `shell.Lex`: quote removal, escapes with
//! the Dockerfile's escape token, `$V`, `${V}`, `${V:-w}`, `${V-w}`, `${V:+w}`,
//! `${V+w}`, `${V:?msg}`, `${V?msg}`, `${V#p}`, `${V##p}`, `${V%p}`, `${V%%p}`,
//! `${V/p/r}`, `${V//p/r}`, positional (`$1`) and special (`$#`, `$@`, ...)
//! parameters (always unset), and splitting into words after expansion.
//!
//! [`Lexer::process_word`] gives one word (ENV values, WORKDIR, ...),
//! [`Lexer::process_words`] splits into words (EXPOSE, heredoc detection);
//! [`Lexer::process`] also reports which variables were found or missing.

use crate::go;
use crate::pattern;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where variables are looked up.
pub trait Env {
    /// The value of `name`, or `None` when it is not set (set-but-empty is
    /// `Some("")`).
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: std::hash::BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// An ordered environment (`KEY=value` list order kept, a later set replaces).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList {
    vars: Vec<(String, String)>,
}

impl EnvList {
    /// An empty environment.
    pub fn new() -> Self {
        EnvList::default()
    }

    /// From `KEY=value` strings like buildkit's `EnvsFromSlice` (no `=`: empty
    /// value; a repeated key keeps the last value).
    pub fn from_strings<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> Self {
        let mut env = EnvList::new();
        for item in items {
            let (k, v) = item.as_ref().split_once('=').unwrap_or((item.as_ref(), ""));
            env.set(k, v);
        }
        env
    }

    /// Sets `key`, replacing it in place if present.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((key.to_string(), value.to_string())),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k != key);
    }

    /// The variables in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// As `KEY=value` strings, in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// No variables.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

impl Env for EnvList {
    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The result of [`Lexer::process`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes removed and variables expanded.
    pub result: String,
    /// The same split into words (unquoted expansions split on whitespace).
    pub words: Vec<String>,
    /// Variables that were looked up and set.
    pub matched: BTreeSet<String>,
    /// Variables that were looked up and not set.
    pub unmatched: BTreeSet<String>,
}

/// A word that could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {}: {kind}", go::quote(.input))]
pub struct LexError {
    /// The word as given.
    pub input: String,
    /// What went wrong.
    pub kind: LexErrorKind,
}

/// What went wrong while expanding a word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexErrorKind {
    /// `'...` without the closing quote.
    #[error("unexpected end of statement while looking for matching single-quote (close it, or escape the quote)")]
    UnterminatedSingleQuote,
    /// `"...` without the closing quote.
    #[error("unexpected end of statement while looking for matching double-quote (close it, or escape the quote)")]
    UnterminatedDoubleQuote,
    /// `${...` without `}`.
    #[error("syntax error: missing '}}' (close the ${{...}} expansion, or escape the $)")]
    MissingBrace,
    /// `${V/pattern` without the second `/`.
    #[error("syntax error: missing '/' in ${{}} (write ${{VAR/pattern/replacement}})")]
    MissingSlash,
    /// `${}`, `${:x}`, `${{x}`.
    #[error("syntax error: bad substitution (a variable name must follow ${{, escape the $ for a literal)")]
    BadSubstitution,
    /// `${V=x}`, `${V:x}`, `${V:#x}`, ...
    #[error(
        "unsupported modifier ({0}) in substitution (supported: :- - :+ + :? ? # ## % %% / //)"
    )]
    UnsupportedModifier(String),
    /// `${V?msg}` with `V` unset (or `${V:?msg}` with `V` empty).
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message after `?`, or the default one.
        message: String,
    },
    /// A `#`/`%`/`/` pattern that does not compile.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The pattern after expansion.
        pattern: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// Shell-word lexer, configured like buildkit's `shell.Lex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_process_quotes: bool,
    skip_unset_env: bool,
}

impl Lexer {
    /// A lexer using `escape` (`\` or `` ` ``, the Dockerfile's escape token).
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Keep quote characters in the output.
    pub fn raw_quotes(mut self, on: bool) -> Self {
        self.raw_quotes = on;
        self
    }

    /// Keep escape characters in the output.
    pub fn raw_escapes(mut self, on: bool) -> Self {
        self.raw_escapes = on;
        self
    }

    /// Treat quotes as ordinary characters (heredoc bodies).
    pub fn skip_process_quotes(mut self, on: bool) -> Self {
        self.skip_process_quotes = on;
        self
    }

    /// Leave references to unset variables as written.
    pub fn skip_unset_env(mut self, on: bool) -> Self {
        self.skip_unset_env = on;
        self
    }

    /// The escape token.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands one word.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, LexError> {
        self.process(word, env).map(|e| e.result)
    }

    /// Expands and splits into words.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, LexError> {
        self.process(word, env).map(|e| e.words)
    }

    /// Expands, splits, and reports which variables were looked up.
    pub fn process(&self, word: &str, env: &dyn Env) -> Result<Expansion, LexError> {
        let mut chars: Vec<char> = word.chars().collect();
        // Go's text/scanner skips a byte order mark at the start.
        if chars.first() == Some(&'\u{feff}') {
            chars.remove(0);
        }
        let mut sw = ShellWord {
            lex: *self,
            chars,
            pos: 0,
            raw_escapes: self.raw_escapes,
            env,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match sw.process_stop_on(None, self.raw_escapes) {
            Ok((result, words)) => Ok(Expansion {
                result,
                words,
                matched: sw.matched,
                unmatched: sw.unmatched,
            }),
            Err(kind) => Err(LexError {
                input: word.to_string(),
                kind,
            }),
        }
    }
}

/// Accumulates words for [`Lexer::process_words`] exactly like buildkit's
/// `wordsStruct` (e.g. `""` alone makes no word).
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if go::is_space(c) {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

type Step<T> = Result<T, LexErrorKind>;

struct ShellWord<'e> {
    lex: Lexer,
    chars: Vec<char>,
    pos: usize,
    raw_escapes: bool,
    env: &'e dyn Env,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes until `stop` (consumed) or the end; returns text and words.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Step<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Step<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            let quotes = !self.lex.skip_process_quotes;
            let special = match c {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if quotes => Some(self.process_single_quote()?),
                '"' if quotes => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if c == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            self.next();
            if c != self.lex.escape {
                words.add_char(c);
                result.push(c);
                continue;
            }
            if self.raw_escapes {
                words.add_raw_char(c);
                result.push(c);
            }
            // The escape token escapes the next character; at the end it vanishes.
            let Some(escaped) = self.next() else { break };
            words.add_raw_char(escaped);
            result.push(escaped);
        }
        match stop {
            Some(_) => Err(LexErrorKind::MissingBrace),
            None => Ok((result, words.finish())),
        }
    }

    fn process_single_quote(&mut self) -> Step<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(LexErrorKind::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Step<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(LexErrorKind::UnterminatedDoubleQuote),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.lex.escape {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            // An escape token at the very end is dropped.
                            None => continue,
                            // Only these are escapable; other escapes stay.
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                c = n;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(c);
                }
            }
        }
    }

    /// `<<` keeps the blanks after it in the same word, so `<<  EOF` is one
    /// heredoc word (buildkit's `processPossibleHeredoc`).
    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut out = "<<".to_string();
        while let Some(c @ (' ' | '\t' | '\r')) = self.peek() {
            out.push(c);
            self.next();
        }
        out
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && go::is_digit(c) {
                while let Some(d) = self.peek().filter(|&d| go::is_digit(d)) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && is_special_param(c) {
                self.next();
                return c.to_string();
            }
            if !go::is_letter(c) && !go::is_digit(c) && c != '_' {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    fn process_dollar(&mut self) -> Step<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(LexErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(LexErrorKind::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        match self.next() {
            None => Err(LexErrorKind::MissingBrace),
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let modifier = self.next();
                self.process_modifier(&name, modifier, true)
            }
            Some(c @ ('+' | '-' | '?' | '#' | '%')) => self.process_modifier(&name, Some(c), false),
            Some('/') => self.process_replace(&name),
            Some(c) => Err(LexErrorKind::UnsupportedModifier(c.to_string())),
        }
    }

    /// `${name<op>word}` after the operator character was read.
    fn process_modifier(&mut self, name: &str, op: Option<char>, colon: bool) -> Step<String> {
        let op_text = format!(
            "{}{}",
            if colon { ":" } else { "" },
            op.unwrap_or('\u{fffd}')
        );
        let pattern_op = matches!(op, Some('#' | '%'));
        if colon && pattern_op {
            return Err(LexErrorKind::UnsupportedModifier(op_text));
        }
        let word = self.stop_on(Some('}'), pattern_op, LexErrorKind::MissingBrace)?;
        let value = self.get_env(name);
        let Some(op) = op else {
            return Err(LexErrorKind::MissingBrace);
        };
        if value.is_none() && self.lex.skip_unset_env {
            return Ok(format!("${{{name}{op_text}{word}}}"));
        }
        let empty = |v: &Option<String>| v.is_none() || (colon && v.as_deref() == Some(""));
        match op {
            '-' => Ok(if empty(&value) {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if empty(&value) { String::new() } else { word }),
            '?' => match value {
                None => Err(required(name, word, "is not allowed to be unset")),
                Some(v) if colon && v.is_empty() => {
                    Err(required(name, word, "is not allowed to be empty"))
                }
                Some(v) => Ok(v),
            },
            '#' | '%' => {
                let value = value.unwrap_or_default();
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let trimmed = if op == '%' {
                    pattern::trim_suffix(&pat, &value, greedy)
                } else {
                    pattern::trim_prefix(&pat, &value, greedy)
                };
                trimmed.map_err(|reason| LexErrorKind::InvalidPattern {
                    pattern: pat,
                    reason,
                })
            }
            _ => Err(LexErrorKind::UnsupportedModifier(op_text)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn process_replace(&mut self, name: &str) -> Step<String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pat = self.stop_on(Some('/'), true, LexErrorKind::MissingSlash)?;
        let replacement = self.stop_on(Some('}'), true, LexErrorKind::MissingBrace)?;
        let value = self.get_env(name);
        if value.is_none() && self.lex.skip_unset_env {
            return Ok(format!("${{{name}/{pat}/{replacement}}}"));
        }
        pattern::replace(&value.unwrap_or_default(), &pat, &replacement, all).map_err(|reason| {
            LexErrorKind::InvalidPattern {
                pattern: pat,
                reason,
            }
        })
    }

    /// Like `process_stop_on` for the inside of `${...}`: any failure at the end
    /// of the input means the closing character is missing.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        missing: LexErrorKind,
    ) -> Step<String> {
        match self.process_stop_on(stop, raw_escapes) {
            Ok((text, _)) => Ok(text),
            Err(_) if self.peek().is_none() => Err(missing),
            Err(e) => Err(e),
        }
    }
}

fn required(name: &str, word: String, default: &str) -> LexErrorKind {
    let message = if word.is_empty() {
        default.to_string()
    } else {
        word
    };
    LexErrorKind::Required {
        name: name.to_string(),
        message,
    }
}

/// POSIX special parameters; never set in a Dockerfile.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

#[cfg(test)]
mod tests;
