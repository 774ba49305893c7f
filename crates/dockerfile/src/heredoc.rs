//! Heredocs: `RUN <<EOF`, `COPY <<A <<B /dst`, `<<-EOF` (leading tabs of the
//! terminator, and later of the body, are stripped), `<<"EOF"`/`<<'EOF'` (the
//! body is not expanded), `3<<EOF` (file descriptor).
//!
//! Detection follows buildkit: the whole instruction line is lexed into words
//! (quotes and escapes kept, unset variables left alone) and every word of the
//! form `[digits]<<[-][blanks]word` is a heredoc. Whether the body expands is
//! found by lexing the word with and without quote removal: if any quote took
//! effect, the heredoc is quoted.

use crate::lexer::{EnvList, LexError, Lexer};

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heredoc {
    /// The terminator word (quotes removed): `EOF`.
    pub name: String,
    /// The file descriptor before `<<` (0 when absent).
    pub file_descriptor: u64,
    /// Variables in the body are expanded (the word was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped (see [`chomp`]).
    pub chomp: bool,
    /// The body, byte for byte with its line endings; not chomped.
    pub content: String,
}

/// Parses one word as a heredoc marker. `Ok(None)`: not a heredoc.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ParseHeredocError> {
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let Some(after) = word[digits_end..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let rest = after.trim_start_matches(crate::go::is_regexp_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    // ParseUint errors are ignored by buildkit; out-of-range saturates.
    let file_descriptor = word[..digits_end]
        .parse::<u64>()
        .unwrap_or(if digits_end > 0 { u64::MAX } else { 0 });
    let lex = Lexer::new('\\').skip_unset_env(true);
    let empty = EnvList::new();
    let words = lex.process_words(rest, &empty)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = lex.raw_quotes(true).process_words(rest, &empty)?;
    let [raw_name] = raw.as_slice() else {
        return Err(ParseHeredocError::Inconsistent(rest.to_string()));
    };
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        file_descriptor,
        expand: quotes(name) == quotes(raw_name),
        chomp,
        content: String::new(),
    }))
}

/// A heredoc marker that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHeredocError {
    /// Lexing the terminator word failed.
    #[error(transparent)]
    Lex(#[from] LexError),
    /// buildkit's sanity check: the two lexings disagree on the word count.
    #[error("internal lexing of heredoc produced inconsistent results: {0}")]
    Inconsistent(String),
}

/// The heredoc markers on an instruction line, in order.
pub(crate) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ParseHeredocError> {
    let lex = Lexer::new('\\')
        .raw_quotes(true)
        .raw_escapes(true)
        .skip_unset_env(true);
    // buildkit ignores lexing errors here: such a line simply has no heredoc.
    let words = lex.process_words(line, &EnvList::new()).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Strips the leading tabs of every line (what `<<-` means for the body).
pub fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        heredocs_from_line(line)
            .unwrap()
            .into_iter()
            .map(|h| h.name)
            .collect()
    }

    #[test]
    fn markers() {
        for valid in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(
                parse_heredoc(valid).unwrap().unwrap().name,
                "EOF",
                "{valid}"
            );
        }
        for invalid in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(invalid).is_err(), "{invalid}");
        }
        for not in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(parse_heredoc(not).unwrap(), None, "{not}");
        }
        let h = parse_heredoc("3<<-'x'").unwrap().unwrap();
        assert_eq!((h.file_descriptor, h.chomp, h.expand), (3, true, false));
    }

    #[test]
    fn quoting_decides_expansion() {
        let expand = |w: &str| parse_heredoc(w).unwrap().unwrap();
        assert!(expand("<<eof").expand);
        assert_eq!(
            (expand("<<eo'f'").name.as_str(), expand("<<eo'f'").expand),
            ("eof", false)
        );
        assert_eq!(
            (expand("<<eo\\'f").name.as_str(), expand("<<eo\\'f").expand),
            ("eo'f", true)
        );
        assert_eq!(
            (
                expand("<<'e'o\\'f").name.as_str(),
                expand("<<'e'o\\'f").expand
            ),
            ("eo'f", false)
        );
        assert_eq!(expand("<<$EOF").name, "$EOF");
    }

    #[test]
    fn markers_on_lines() {
        assert_eq!(names("RUN <<EOF"), vec!["EOF"]);
        // Blanks are only joined right after `<<` (buildkit's own table test
        // passes vacuously for this line: it finds no heredoc either).
        assert!(names("RUN <<- EOF").is_empty());
        assert_eq!(names("RUN << -EOF"), vec!["-EOF"]);
        assert_eq!(names("RUN 4<<EOF"), vec!["EOF"]);
        assert_eq!(names("RUN <<EOF <<EOF2"), vec!["EOF", "EOF2"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
        assert_eq!(names("RUN <<  EOF  > foo"), vec!["EOF"]);
        assert_eq!(names("RUN <<'one two'"), vec!["one two"]);
    }

    #[test]
    fn chomping() {
        assert_eq!(chomp("\thello\n\t\tworld\n x\t\n"), "hello\nworld\n x\t\n");
    }
}
