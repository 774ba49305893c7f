//! Small re-implementations of the Go standard library behaviours buildkit's
//! Dockerfile front end relies on (`strconv.Quote`, `unicode.IsLetter`, ...).
//!
//! They are hand-written because byte-exact conformance with buildkit depends on
//! Go's exact rules, which no Rust crate reproduces (Rust's `{:?}` escapes `'` and
//! prints `\u{0}`; `str::to_lowercase` applies the final-sigma rule Go does not).
//!
//! Known approximations (Rust's std has no Unicode general-category table): for
//! non-ASCII characters `is_letter`/`is_digit` use the Alphabetic/Numeric
//! properties, and `is_print` cannot tell unassigned code points, which Go escapes.

use std::fmt::Write as _;

/// Go's `unicode.IsSpace`: the Unicode White_Space property, same as Rust's.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `unicode.IsLetter` (category L). Approximation for non-ASCII: alphabetic
/// but not numeric (this drops the letter numbers, category Nl, as Go does).
pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    c.is_alphabetic() && !c.is_numeric()
}

/// Go's `unicode.IsDigit` (category Nd). Approximation for non-ASCII: numeric and
/// not alphabetic.
pub(crate) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    c.is_numeric() && !c.is_alphabetic()
}

/// Go's `strings.ToLower`: rune by rune, without context-dependent rules.
pub(crate) fn to_lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        // U+0130 is the only code point whose full lowercase has two characters;
        // Go's simple mapping gives plain 'i'.
        if c == '\u{130}' {
            out.push('i');
            continue;
        }
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.next()) {
            (Some(l), None) => out.push(l),
            _ => out.push(c),
        }
    }
    out
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out.push('"');
    out
}

/// `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`.
pub(crate) fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if is_print(c) => out.push(c),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the
/// ASCII space. See the module docs for the approximation.
pub(crate) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    if c.is_control() || c.is_whitespace() || is_format(c) || is_private_or_surrogate(c) {
        return false;
    }
    // Noncharacters are unassigned in every Unicode version.
    let v = c as u32;
    !((0xFDD0..=0xFDEF).contains(&v) || (v & 0xFFFE) == 0xFFFE)
}

/// Category Cf (format characters), which Go does not consider printable.
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

fn is_private_or_surrogate(c: char) -> bool {
    matches!(c as u32, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

/// Go's regexp `\s`: `[\t\n\f\r ]` (ASCII only, no vertical tab).
pub(crate) fn is_regexp_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// The whitespace class `[\t\v\f\r ]` buildkit's parser splits instructions on.
pub(crate) fn is_token_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits `s` at the first run of `[\t\v\f\r ]`, like buildkit's
/// `reWhitespace.Split(s, 2)`.
pub(crate) fn split_once_token_space(s: &str) -> Option<(&str, &str)> {
    let start = s.find(is_token_space)?;
    let rest = &s[start..];
    let end = rest.find(|c| !is_token_space(c)).unwrap_or(rest.len());
    Some((&s[..start], &rest[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\u{0}\t\n"), r#""\x00\t\n""#);
        assert_eq!(quote("♥ ☃"), "\"♥ ☃\"");
        assert_eq!(quote("it's"), "\"it's\"");
        assert_eq!(quote("\u{a0}\u{200b}"), r#""\u00a0\u200b""#);
        assert_eq!(quote("\u{7f}\u{1b}"), r#""\x7f\x1b""#);
        assert_eq!(
            quote_list(&["--a=b".into(), "--c".into()]),
            r#"["--a=b" "--c"]"#
        );
    }

    #[test]
    fn lowercase_is_rune_by_rune() {
        assert_eq!(to_lower("RUN"), "run");
        assert_eq!(to_lower("ΣΑΣ"), "σασ");
        assert_eq!(to_lower("İ"), "i");
    }

    #[test]
    fn split_on_first_whitespace_run() {
        assert_eq!(split_once_token_space("a \t b c"), Some(("a", "b c")));
        assert_eq!(split_once_token_space("abc"), None);
    }
}
