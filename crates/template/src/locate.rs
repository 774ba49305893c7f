//! Where an execution error happened. The engine reports what failed (a missing
//! key, an unknown function) but not where; Go says `:LINE:COL: executing "" at
//! <.State.Nope>`. The failing name is searched for in the source, and the
//! position given only when it occurs once, so a position is never a guess.

/// A failing action's place: 1-based line, 0-based column (Go's), and the
/// expression around the name (`.State.Nope`, `bogus`, `$y`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub col: usize,
    pub token: String,
}

/// What to look for: a field (`.Name`) or a bare word (a function or `$var`).
pub enum Needle<'a> {
    Field(&'a str),
    Word(&'a str),
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_token(c: u8) -> bool {
    is_ident(c) || c == b'.' || c == b'$'
}

/// The one place of `needle` inside an action of `src`, if there is exactly one.
pub fn locate(src: &str, needle: Needle<'_>) -> Option<Location> {
    let bytes = src.as_bytes();
    let (text, field) = match needle {
        Needle::Field(name) => (format!(".{name}"), true),
        Needle::Word(word) => (word.to_string(), false),
    };
    if text.is_empty() || text == "." {
        return None;
    }
    let mut found = src.match_indices(&text).map(|(at, _)| at).filter(|&at| {
        let end = at + text.len();
        let after_ok = end == bytes.len() || !is_ident(bytes[end]);
        let before_ok = field || at == 0 || !is_token(bytes[at - 1]);
        after_ok && before_ok && inside_action(src, at)
    });
    let at = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let start = src[..at]
        .rfind(|c: char| !c.is_ascii() || !is_token(c as u8))
        .map(|i| i + 1)
        .unwrap_or(0);
    let end = src[at..]
        .find(|c: char| !c.is_ascii() || !is_token(c as u8))
        .map(|i| at + i)
        .unwrap_or(src.len());
    let before = &src[..start];
    Some(Location {
        line: before.matches('\n').count() + 1,
        col: start - before.rfind('\n').map(|n| n + 1).unwrap_or(0),
        token: src[start..end].to_string(),
    })
}

/// Whether `at` lies between a `{{` and the `}}` that follows it.
fn inside_action(src: &str, at: usize) -> bool {
    let before = &src[..at];
    match (before.rfind("{{"), before.rfind("}}")) {
        (Some(open), Some(close)) => open > close,
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_single_field_or_word() {
        let l = locate("{{.ID}}\n  {{.State.Nope}}", Needle::Field("Nope")).unwrap();
        assert_eq!((l.line, l.col, l.token.as_str()), (2, 4, ".State.Nope"));
        let l = locate("{{.ID | bogus}}", Needle::Word("bogus")).unwrap();
        assert_eq!((l.line, l.col, l.token.as_str()), (1, 8, "bogus"));
    }

    #[test]
    fn no_position_when_ambiguous_or_outside_actions() {
        assert_eq!(locate("{{.A.X}} {{.B.X}}", Needle::Field("X")), None);
        assert_eq!(locate(".X {{.Y}}", Needle::Field("X")), None);
        // `.XY` is another field, `upper` inside `.upper` is no function.
        assert!(locate("{{.XY}}{{.X}}", Needle::Field("X")).is_some());
        assert_eq!(locate("{{.upper}}", Needle::Word("upper")), None);
    }
}
