//! The block structure check the engine's parser leaves out: every `{{if}}`,
//! `{{range}}`, `{{with}}`, `{{define}}` and `{{block}}` closed by its `{{end}}`,
//! no `{{end}}` or `{{else}}` outside one, `{{break}}`/`{{continue}}` only inside
//! `{{range}}`. Go refuses all of these when parsing; `gotmpl` 0.6 takes a stray
//! `{{end}}` as the end of the template (silently dropping what follows) and runs
//! an unclosed `{{if}}` as if it were closed. Runs after the engine parsed the
//! source, so strings and comments are known to be well formed here.

/// A structure error: what is wrong and where (1-based line, 0-based column, as Go
/// reports a node's position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: :{line}:{col}: {message}")]
pub struct StructureError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

struct Frame {
    keyword: &'static str,
    at: usize,
    plain_else: bool,
}

const OPENERS: [&str; 5] = ["if", "range", "with", "define", "block"];

/// Checks the nesting of `src`'s control actions.
pub fn check(src: &str) -> Result<(), StructureError> {
    let mut stack: Vec<Frame> = Vec::new();
    for (at, body) in actions(src) {
        let mut words = body.split_whitespace();
        let first = words.next().unwrap_or("");
        let fail = |message: String| Err(position(src, at, message));
        if let Some(kw) = OPENERS.iter().find(|k| **k == first) {
            stack.push(Frame {
                keyword: kw,
                at,
                plain_else: false,
            });
            continue;
        }
        match first {
            "end" => {
                stack
                    .pop()
                    .ok_or_else(|| position(src, at, "unexpected {{end}}".into()))?;
            }
            "else" => {
                let Some(top) = stack.last_mut() else {
                    return fail("unexpected {{else}}".into());
                };
                if top.plain_else || matches!(top.keyword, "define" | "block") {
                    return fail(format!(
                        "expected end; found {{{{else}}}} in {{{{{}}}}}",
                        top.keyword
                    ));
                }
                // `{{else if …}}` chains an `if`, `{{else with …}}` a `with`; a bare
                // `{{else}}` is last. Go reads `{{else if}}` in a `with` (or `range`)
                // as an `if` needing its own `{{end}}`, gotmpl as a chain: refused,
                // since the two would run different templates.
                match (top.keyword, words.next()) {
                    ("if", Some("if")) | ("with", Some("with")) => {}
                    (kw, Some(next @ ("if" | "with"))) => {
                        return fail(format!(
                            "{{{{else {next}}}}} in {{{{{kw}}}}}: write {{{{else}}}}{{{{{next} …}}}}…{{{{end}}}}"
                        ));
                    }
                    _ => top.plain_else = true,
                }
            }
            "break" | "continue" if !stack.iter().any(|f| f.keyword == "range") => {
                return fail(format!("{{{{{first}}}}} outside {{{{range}}}}"));
            }
            _ => {}
        }
    }
    match stack.last() {
        Some(open) => Err(position(
            src,
            open.at,
            format!(
                "unexpected EOF: this {{{{{}}}}} has no {{{{end}}}}",
                open.keyword
            ),
        )),
        None => Ok(()),
    }
}

fn position(src: &str, at: usize, message: String) -> StructureError {
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map(|n| n + 1).unwrap_or(0);
    StructureError { line, col, message }
}

/// Each action's byte offset (of its `{{`) and its body without delimiters, trim
/// markers and comments.
fn actions(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(rel) = src[i..].find("{{") {
        let start = i + rel;
        let (end, body) = scan(src, start);
        let body = body.trim().trim_start_matches('-').trim_end_matches('-');
        out.push((start, body.trim().to_string()));
        i = end;
    }
    out
}

/// Index just past the `}}` closing the action opened at `start`.
pub fn action_end(src: &str, start: usize) -> usize {
    scan(src, start).0
}

/// Scans the action opened at `start`: the index just past its `}}` and its body
/// with comments and literals left out. Quoted strings, raw strings and character
/// literals are skipped whole so a `}}` inside one does not end the action.
fn scan(src: &str, start: usize) -> (usize, String) {
    let bytes = src.as_bytes();
    let mut j = start + 2;
    let mut body = String::new();
    while j < bytes.len() && !bytes[j..].starts_with(b"}}") {
        match bytes[j] {
            q @ (b'"' | b'`' | b'\'') => j = skip_quoted(bytes, j, q),
            b'/' if bytes[j..].starts_with(b"/*") => {
                j = src[j..]
                    .find("*/")
                    .map(|e| j + e + 2)
                    .unwrap_or(bytes.len());
            }
            b => {
                body.push(b as char);
                j += 1;
            }
        }
    }
    ((j + 2).min(bytes.len()), body)
}

/// Index just past the literal opened by the quote at `start`.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut j = start + 1;
    while j < bytes.len() && bytes[j] != quote {
        // Raw strings have no escapes.
        j += if bytes[j] == b'\\' && quote != b'`' {
            2
        } else {
            1
        };
    }
    (j + 1).min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_nesting() {
        for ok in [
            "plain",
            "{{if .A}}{{range .B}}{{break}}{{end}}{{else if .C}}{{else}}{{end}}",
            "{{with .A}}{{else with .B}}{{end}}",
            "{{with .A}}{{else}}{{if .B}}{{end}}{{end}}",
            "{{range .L}}{{if .}}{{continue}}{{end}}{{end}}",
            "{{\"}}end{{\"}}{{/* {{end}} */}}{{`{{end}}`}}",
            "{{- if .A -}} x {{- end -}}",
            "{{define \"x\"}}y{{end}}",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for (bad, line, col, what) in [
            ("a{{end}}b", 1, 1, "unexpected {{end}}"),
            ("{{else}}", 1, 0, "unexpected {{else}}"),
            ("x\n  {{if .A}}y", 2, 2, "unexpected EOF"),
            ("{{if .A}}{{else}}{{else}}{{end}}", 1, 17, "expected end"),
            (
                "{{if .A}}{{break}}{{end}}",
                1,
                9,
                "{{break}} outside {{range}}",
            ),
            ("{{- continue -}}", 1, 0, "{{continue}} outside {{range}}"),
            (
                "{{with .A}}{{else if .B}}{{end}}",
                1,
                11,
                "{{else if}} in {{with}}",
            ),
            (
                "{{range .A}}{{else with .B}}{{end}}",
                1,
                12,
                "{{else with}} in {{range}}",
            ),
        ] {
            let e = check(bad).unwrap_err();
            assert_eq!((e.line, e.col), (line, col), "{bad}: {e}");
            assert!(e.message.contains(what), "{bad}: {e}");
        }
    }
}
