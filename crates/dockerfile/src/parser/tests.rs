//! Unit tests of the parser: heredocs, escapes, flags, warnings, error positions.

use super::*;

fn ast(text: &str) -> Ast {
    parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> ParseError {
    parse(text, "Dockerfile").expect_err("expected a parse error")
}

fn doc(name: &str, content: &str, expand: bool, chomp: bool, fd: u64) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        chomp,
        file_descriptor: fd,
    }
}

#[test]
fn extracts_heredocs_like_buildkit() {
    let text = "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\nUSER <<INVALID\nINVALID\n\nRUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\nRUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\nRUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\nRUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\nRUN <<COPY\necho hello world\necho foo bar\nCOPY\n\nRUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\nRUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\nCOPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\nCOPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n\nRUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\nCOPY <<file.txt /dest\nhello world\nfile.txt\n\nRUN <<eo'f'\necho foo\neof\n\nRUN <<eo\\'f\necho foo\neo'f\n\nRUN <<'e'o\\'f\necho foo\neo'f\n\nRUN <<'one two'\necho bar\none two\n\nRUN <<$EOF\n$EOF\n\nRUN <<  EOF\nEOF\n\nRUN <<  EOF  > foo\nEOF\n\t";
    let expected: Vec<Vec<Heredoc>> = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        vec![doc("EMPTY", "", true, false, 0)],
        vec![doc("EMPTY2", "", true, false, 3)],
        vec![],
        vec![doc("INDENT", "\tfoo\n\tbar\n", true, false, 0)],
        vec![doc("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
        vec![doc("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
        vec![doc("EXPAND", "\texpand $NAME\n", true, true, 0)],
        vec![doc("NOEXPAND", "\tdon't expand $NAME\n", false, true, 0)],
        vec![doc(
            "COPY",
            "echo hello world\necho foo bar\n",
            true,
            false,
            0,
        )],
        vec![doc(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
            false,
            0,
        )],
        vec![doc("MOUNT", "echo hello\n", true, false, 0)],
        vec![
            doc("FILE1", "content 1\n", true, false, 0),
            doc("FILE2", "content 2\n", true, false, 0),
        ],
        vec![doc("EOF", "\"foo\"\n'bar'\n", true, false, 0)],
        vec![
            doc("X", "Y\n", true, false, 0),
            doc("Y", "X\n", true, false, 0),
        ],
        vec![doc("COMPLEX", "print('hello world')\n", true, false, 0)],
        vec![doc("file.txt", "hello world\n", true, false, 0)],
        vec![doc("eof", "echo foo\n", false, false, 0)],
        vec![doc("eo'f", "echo foo\n", true, false, 0)],
        vec![doc("eo'f", "echo foo\n", false, false, 0)],
        vec![doc("one two", "echo bar\n", false, false, 0)],
        vec![doc("$EOF", "", true, false, 0)],
        vec![doc("EOF", "", true, false, 0)],
        vec![doc("EOF", "", true, false, 0)],
    ];
    let ast = ast(text);
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(&ast.children[i + 1].heredocs, want, "instruction {}", i + 1);
    }
}

#[test]
fn json_form_has_no_heredocs() {
    let ast = ast("FROM alpine\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n");
    assert!(ast.children.iter().all(|c| c.heredocs.is_empty()));
}

#[test]
fn onbuild_heredoc_and_line_numbers() {
    let ast = ast("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nRUN x\n");
    assert_eq!(
        ast.children[1].heredocs,
        vec![doc("EOF", "echo hi\n", true, false, 0)]
    );
    assert_eq!(
        (ast.children[1].start_line, ast.children[1].end_line),
        (2, 4)
    );
    assert_eq!(ast.children[2].start_line, 5);
    assert_eq!(
        ast.dump(),
        "(from \"a\")\n(onbuild (run \"<<EOF\"))\n(run \"x\")"
    );
}

#[test]
fn unterminated_heredoc_is_located() {
    let e = err("FROM a\n  RUN <<EOF\necho hi\n");
    assert_eq!(e.kind, ParseErrorKind::UnterminatedHeredoc("EOF".into()));
    assert_eq!((e.position, e.end_line), (Position::new(2, 3), 3));
    assert!(
        e.to_string()
            .starts_with("Dockerfile:2:3: unterminated heredoc"),
        "{e}"
    );
}

#[test]
fn heredoc_body_keeps_crlf_and_terminator_ignores_it() {
    let ast = ast("FROM a\r\nRUN <<EOF\r\nline\r\nEOF\r\n");
    assert_eq!(ast.children[1].heredocs[0].content, "line\r\n");
}

#[test]
fn backtick_escape_directive() {
    let ast = ast("# escape=`\nFROM a\nRUN echo `\n  hi \\\nENV P C:\\dir\n");
    assert_eq!(ast.escape, '`');
    assert_eq!(
        ast.dump(),
        "(from \"a\")\n(run \"echo   hi \\\\\")\n(env \"P\" \"C:\\\\dir\" \"\")"
    );
    assert_eq!(ast.directives.escape.as_ref().unwrap().line, 1);
}

#[test]
fn leading_whitespace_before_directive_still_counts() {
    // buildkit trims an instruction line before looking for a directive.
    let ast = ast("  #escape = `\n\nFROM image\nENV foo `\nENV bar baz");
    assert_eq!(
        ast.dump(),
        "(from \"image\")\n(env \"foo\" \"ENV bar baz\" \"\")"
    );
}

#[test]
fn comments_inside_continuations_and_warnings() {
    let ast = ast("FROM a\nRUN a \\\n# comment\n\n  b\nRUN c \\\n  d\n");
    assert_eq!(ast.dump(), "(from \"a\")\n(run \"a   b\")\n(run \"c   d\")");
    assert_eq!(ast.warnings.len(), 1);
    assert_eq!(ast.warnings[0].line, 5);
    assert!(ast.warnings[0].message.contains("RUN a   b"));
}

#[test]
fn byte_order_mark_and_prev_comments() {
    let ast = ast("\u{feff}# syntax=docker/dockerfile:1\n# about the base\n# more\nFROM a AS b\n");
    assert_eq!(ast.children[0].prev_comment, vec!["about the base", "more"]);
    assert_eq!(
        ast.directives.syntax.as_ref().unwrap().value,
        "docker/dockerfile:1"
    );
}

#[test]
fn flag_positions_follow_continuations() {
    let ast = ast("FROM a\nRUN \\\n  --network=none \\\n    --mount=type=tmpfs,target=/t true\n");
    let run = &ast.children[1];
    assert_eq!(run.flags[0].position, Position::new(3, 3));
    assert_eq!(run.flags[1].position, Position::new(4, 5));
    assert_eq!(run.position, Position::new(2, 1));
}

#[test]
fn errors_name_file_line_and_column() {
    let e = err("FROM a\n\n   CMD [\"a\", 1]\n");
    assert_eq!(e.kind, ParseErrorKind::NotStringArray);
    assert_eq!(e.position, Position::new(3, 8));
    let e = err("FROM busybox\n\nENV PATH\n");
    assert_eq!(
        (e.kind.clone(), e.position),
        (
            ParseErrorKind::MissingValue("ENV".into()),
            Position::new(3, 5)
        )
    );
    let e = err("# only\n\n");
    assert_eq!(e.kind, ParseErrorKind::NoInstructions);
    let e = err("# escape=`\n# escape=`\nFROM a");
    assert_eq!(
        (e.kind.clone(), e.position.line),
        (ParseErrorKind::DuplicateDirective("escape".into()), 2)
    );
    let e = err("FROM a\nLABEL a=b c\n");
    assert_eq!(
        e.to_string(),
        "Dockerfile:2:7: Syntax error - can't find = in \"c\". Must be of the form: name=value"
    );
    let long = format!("FROM a\nLABEL x={}\n", "y".repeat(70000));
    assert_eq!(err(&long).kind, ParseErrorKind::LineTooLong);
}

#[test]
fn unknown_instructions_and_lone_escape() {
    assert_eq!(ast("FROM a\nbar\n").dump(), "(from \"a\")\n(bar \"\")");
    assert_eq!(ast("FROM a\n\\\n").dump(), "(from \"a\")\n(\"\")");
    assert_eq!(
        ast("FROM a\nRUN foo \\\n\nbar\n").dump(),
        "(from \"a\")\n(run \"foo bar\")"
    );
}

#[test]
fn parse_bytes_accepts_invalid_utf8() {
    let ast = parse_bytes(b"FROM a\nLABEL x=\xff\n", "Dockerfile").unwrap();
    assert_eq!(ast.children[1].arg_values(), vec!["x", "\u{fffd}", "="]);
}
