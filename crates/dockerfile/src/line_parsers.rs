//! Splitting one logical line into keyword, flags and arguments, and the
//! per-instruction argument parsers of buildkit's `line_parsers.go`: JSON (exec)
//! form with its fallback rules, ENV/LABEL `key=value` and legacy `key value`,
//! ARG words, whitespace lists, HEALTHCHECK's type word.

use crate::error::ParseErrorKind;
use crate::go;

/// A logical line split into its parts; offsets are byte offsets in the line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SplitCommand<'a> {
    pub(crate) cmd: &'a str,
    pub(crate) cmd_offset: usize,
    /// Flag texts (quotes and backslashes processed) and where each starts.
    pub(crate) flags: Vec<(String, usize)>,
    pub(crate) args: &'a str,
    pub(crate) args_offset: usize,
}

/// buildkit's `splitCommand`: keyword, then `--flags` up to the first word that
/// does not start with `--` (a bare `--` ends the flags and is dropped).
pub(crate) fn split_command(line: &str) -> SplitCommand<'_> {
    let trimmed = line.trim();
    let base = line.len() - line.trim_start().len();
    let Some((cmd, rest)) = go::split_once_token_space(trimmed) else {
        return SplitCommand {
            cmd: trimmed,
            cmd_offset: base,
            flags: vec![],
            args: "",
            args_offset: line.len(),
        };
    };
    let rest_offset = base + (trimmed.len() - rest.len());
    let (args_start, flags) = extract_builder_flags(rest);
    let flags = flags
        .into_iter()
        .map(|(f, at)| (f, rest_offset + at))
        .collect();
    let raw_args = &rest[args_start..];
    let args = raw_args.trim();
    let args_offset = rest_offset + args_start + (raw_args.len() - raw_args.trim_start().len());
    SplitCommand {
        cmd,
        cmd_offset: base,
        flags,
        args,
        args_offset,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Reads `--flag[=value]` words; returns where the arguments start and the
/// flags with their offsets.
fn extract_builder_flags(line: &str) -> (usize, Vec<(String, usize)>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let (mut start, mut blank_ok) = (0, false);
    let mut i = 0;
    while i < chars.len() {
        let (at, mut c) = chars[i];
        let last = i + 1 == chars.len();
        i += 1;
        match phase {
            Phase::Spaces => {
                if go::is_space(c) {
                    continue;
                }
                if c != '-' || chars.get(i).map(|&(_, n)| n) != Some('-') {
                    return (at, flags);
                }
                phase = Phase::Word;
                start = at;
                i -= 1; // handle this character as part of the word
            }
            Phase::Word => {
                if go::is_space(c) {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (at, flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push((std::mem::take(&mut word), start));
                    }
                    word.clear();
                    blank_ok = false;
                    continue;
                }
                if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                    continue;
                }
                if c == '\\' {
                    if last {
                        continue;
                    }
                    c = chars[i].1;
                    i += 1;
                }
                word.push(c);
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                    continue;
                }
                if c == '\\' {
                    if last {
                        phase = Phase::Word;
                        continue;
                    }
                    c = chars[i].1;
                    i += 1;
                }
                word.push(c);
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push((word, start));
    }
    (line.len(), flags)
}

/// Splits on unquoted whitespace keeping quotes and escapes (buildkit's
/// `parseWords`); used for ENV/LABEL/ARG.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let last = i + 1 == chars.len();
        i += 1;
        if phase == Phase::Spaces {
            if go::is_space(c) {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word if go::is_space(c) => {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
            }
            Phase::Word => {
                if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                }
                if c == escape {
                    if last {
                        continue; // an escape at the very end is dropped
                    }
                    // Unquoted, the escape and the next character are kept.
                    word.push(c);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(c);
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                }
                if c == escape && q != '\'' {
                    if last {
                        phase = Phase::Word;
                        continue;
                    }
                    word.push(c);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(c);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// How an instruction's arguments are parsed (buildkit's dispatch table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineParser {
    /// Unknown instruction: one empty argument (rejected later, by instructions).
    Ignore,
    /// ONBUILD: the rest is an instruction.
    SubCommand,
    /// CMD, ENTRYPOINT, RUN, SHELL: JSON array or the whole text.
    MaybeJson,
    /// ADD, COPY, VOLUME: JSON array or whitespace-separated words.
    MaybeJsonToList,
    /// ENV, LABEL: key/value/separator triples.
    NameVal(&'static str),
    /// ARG: words.
    NameOrNameVal,
    /// FROM, EXPOSE: whitespace-separated words.
    Whitespace,
    /// MAINTAINER, STOPSIGNAL, USER, WORKDIR: the whole text.
    Whole,
    /// HEALTHCHECK: a type word, then like CMD.
    HealthConfig,
}

/// The parser for a lower-cased keyword.
pub(crate) fn line_parser(name: &str) -> LineParser {
    match name {
        "add" | "copy" | "volume" => LineParser::MaybeJsonToList,
        "arg" => LineParser::NameOrNameVal,
        "cmd" | "entrypoint" | "run" | "shell" => LineParser::MaybeJson,
        "env" => LineParser::NameVal("ENV"),
        "label" => LineParser::NameVal("LABEL"),
        "expose" | "from" => LineParser::Whitespace,
        "healthcheck" => LineParser::HealthConfig,
        "maintainer" | "stopsignal" | "user" | "workdir" => LineParser::Whole,
        "onbuild" => LineParser::SubCommand,
        _ => LineParser::Ignore,
    }
}

/// Parsed arguments: values and whether they came from a JSON array.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ParsedArgs {
    pub(crate) values: Vec<String>,
    pub(crate) json: bool,
}

impl ParsedArgs {
    fn plain(values: Vec<String>) -> Self {
        ParsedArgs {
            values,
            json: false,
        }
    }
}

/// Parses `rest` (trimmed) with `parser`; `SubCommand` is handled by the caller.
pub(crate) fn parse_args(
    parser: LineParser,
    rest: &str,
    escape: char,
) -> Result<ParsedArgs, ParseErrorKind> {
    match parser {
        LineParser::Ignore => Ok(ParsedArgs::plain(vec![String::new()])),
        LineParser::SubCommand => Ok(ParsedArgs::default()),
        LineParser::MaybeJson => maybe_json(rest),
        LineParser::MaybeJsonToList => match parse_json(rest)? {
            Some(values) => Ok(ParsedArgs { values, json: true }),
            None => Ok(ParsedArgs::plain(whitespace_words(rest))),
        },
        LineParser::NameVal(key) => name_val(rest, key, escape).map(ParsedArgs::plain),
        LineParser::NameOrNameVal => Ok(ParsedArgs::plain(parse_words(rest, escape))),
        LineParser::Whitespace => Ok(ParsedArgs::plain(whitespace_words(rest))),
        LineParser::Whole if rest.is_empty() => Ok(ParsedArgs::default()),
        LineParser::Whole => Ok(ParsedArgs::plain(vec![rest.to_string()])),
        LineParser::HealthConfig => health_config(rest),
    }
}

/// A JSON array of strings, `None` when the text is not JSON at all (the caller
/// falls back to shell form), an error for valid JSON of another shape.
///
/// Differences from Go's decoder, both on input docker users do not write:
/// serde_json refuses lone UTF-16 surrogates (`"\ud800"`) and nesting deeper
/// than 128, so such text falls back to shell form where buildkit would accept
/// it or call it "not an array of strings".
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, ParseErrorKind> {
    let text = rest.trim_start_matches(go::is_space);
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ParseErrorKind::NotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn maybe_json(rest: &str) -> Result<ParsedArgs, ParseErrorKind> {
    if rest.is_empty() {
        return Ok(ParsedArgs::default());
    }
    Ok(match parse_json(rest)? {
        Some(values) => ParsedArgs { values, json: true },
        None => ParsedArgs::plain(vec![rest.to_string()]),
    })
}

/// `reWhitespace.Split(rest, -1)` on non-empty text.
fn whitespace_words(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut s = rest;
    while let Some((head, tail)) = go::split_once_token_space(s) {
        out.push(head.to_string());
        s = tail;
    }
    out.push(s.to_string());
    out
}

/// ENV/LABEL: `k=v ...` gives (k, v, "=") triples; the legacy `k v w` form
/// (first word without `=`) gives (k, "v w", "").
fn name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, ParseErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some((name, value)) = go::split_once_token_space(rest) else {
            return Err(ParseErrorKind::MissingValue(key.to_string()));
        };
        return Ok(vec![name.to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ParseErrorKind::MissingEquals { word });
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

/// HEALTHCHECK: the first word (`CMD`, `NONE`), then the rest like CMD.
fn health_config(rest: &str) -> Result<ParsedArgs, ParseErrorKind> {
    // buildkit scans bytes for ASCII whitespace here.
    let sep = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '\u{b}')
        .unwrap_or(rest.len());
    if sep == 0 {
        return Ok(ParsedArgs::default());
    }
    let after = &rest[sep..];
    let next = after.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
    let cmd = maybe_json(next)?;
    let mut values = vec![rest[..sep].to_string()];
    values.extend(cmd.values);
    Ok(ParsedArgs {
        values,
        json: cmd.json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(line: &str) -> (Vec<String>, &str) {
        let s = split_command(line);
        (s.flags.into_iter().map(|(f, _)| f).collect(), s.args)
    }

    #[test]
    fn flags_before_first_argument() {
        assert_eq!(
            flags("COPY --user=me --doit=true foo /tmp/"),
            (vec!["--user=me".into(), "--doit=true".into()], "foo /tmp/")
        );
        assert_eq!(
            flags("COPY --doit=true -- foo /tmp/"),
            (vec!["--doit=true".into()], "foo /tmp/")
        );
        assert_eq!(flags("COPY -- foo"), (vec![], "foo"));
        assert_eq!(flags("CMD --doit -- [ ]"), (vec!["--doit".into()], "[ ]"));
        assert_eq!(
            flags("RUN --mount=\"type=cache,target=/a b\" x"),
            (vec!["--mount=type=cache,target=/a b".into()], "x")
        );
        assert_eq!(flags("RUN --a=x\\ y z"), (vec!["--a=x y".into()], "z"));
        assert_eq!(flags("RUN -x --a"), (vec![], "-x --a"));
        assert_eq!(
            flags("HEALTHCHECK --interval=5s"),
            (vec!["--interval=5s".into()], "")
        );
    }

    #[test]
    fn offsets_point_into_the_line() {
        let s = split_command("  RUN  --network=none   echo hi ");
        assert_eq!((s.cmd, s.cmd_offset), ("RUN", 2));
        assert_eq!(s.flags, vec![("--network=none".to_string(), 7)]);
        assert_eq!((s.args, s.args_offset), ("echo hi", 24));
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            parse_words("foo bar 'abc xyz'", '\\'),
            vec!["foo", "bar", "'abc xyz'"]
        );
        assert_eq!(parse_words("foo\\ bar", '\\'), vec!["foo\\ bar"]);
        assert_eq!(
            parse_words("a=\"b c\" d=''", '\\'),
            vec!["a=\"b c\"", "d=''"]
        );
        assert_eq!(
            parse_words("föo bàr \"âbc xÿz\"", '\\'),
            vec!["föo", "bàr", "\"âbc xÿz\""]
        );
    }

    #[test]
    fn json_fallbacks() {
        assert_eq!(
            parse_args(LineParser::MaybeJson, "[\"a\", \"b\"]", '\\').unwrap(),
            ParsedArgs {
                values: vec!["a".into(), "b".into()],
                json: true
            }
        );
        assert_eq!(
            parse_args(LineParser::MaybeJson, "['a']", '\\')
                .unwrap()
                .values,
            vec!["['a']"]
        );
        assert_eq!(
            parse_args(LineParser::MaybeJson, "[ \"a\", [ \"b\" ] ]", '\\'),
            Err(ParseErrorKind::NotStringArray)
        );
        assert_eq!(
            parse_args(LineParser::MaybeJson, "[1]", '\\'),
            Err(ParseErrorKind::NotStringArray)
        );
        assert_eq!(
            parse_args(LineParser::MaybeJsonToList, "a  b", '\\')
                .unwrap()
                .values,
            vec!["a", "b"]
        );
    }

    #[test]
    fn env_forms() {
        let p = |s| parse_args(LineParser::NameVal("ENV"), s, '\\');
        assert_eq!(p("a b c").unwrap().values, vec!["a", "b c", ""]);
        assert_eq!(
            p("a=b c=\"d e\"").unwrap().values,
            vec!["a", "b", "=", "c", "\"d e\"", "="]
        );
        assert_eq!(p("PATH"), Err(ParseErrorKind::MissingValue("ENV".into())));
        assert_eq!(
            p("a=b c"),
            Err(ParseErrorKind::MissingEquals { word: "c".into() })
        );
        assert_eq!(p("").unwrap().values, Vec::<String>::new());
    }

    #[test]
    fn healthcheck_type_word() {
        let p = |s| parse_args(LineParser::HealthConfig, s, '\\').unwrap();
        assert_eq!(p("CMD   a b").values, vec!["CMD", "a b"]);
        assert_eq!(
            p("CMD [\"x\"]"),
            ParsedArgs {
                values: vec!["CMD".into(), "x".into()],
                json: true
            }
        );
        assert_eq!(p("NONE").values, vec!["NONE"]);
        assert_eq!(p("").values, Vec::<String>::new());
    }
}
