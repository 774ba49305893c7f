//! Runs every case of the shared Dockerfile-parser corpus (buildkit's
//! `frontend/dockerfile/parser` test files) through berth's parser. See
//! `shared/conformance/dockerfile-parser/README.md`.

mod common;

use berth_dockerfile::parse;
use common::Report;
use std::path::Path;

fn case_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Positive cases: the dump must equal `result` byte for byte.
#[test]
fn positive_cases_dump_identically() {
    let Some(root) = common::corpus("dockerfile-parser") else {
        return;
    };
    let mut report = Report::default();
    for dir in case_dirs(&root.join("buildkit/testfiles")) {
        let text = std::fs::read(dir.join("Dockerfile")).expect("read Dockerfile");
        let expected = std::fs::read_to_string(dir.join("result")).expect("read result");
        let text = String::from_utf8(text).expect("corpus Dockerfiles are UTF-8");
        match parse(&text, "Dockerfile") {
            Ok(ast) => {
                let got = ast.dump() + "\n";
                report.check(got == expected, || {
                    format!(
                        "{}: dump differs\n--- expected\n{expected}--- got\n{got}",
                        name(&dir)
                    )
                });
            }
            Err(e) => report.check(false, || format!("{}: unexpected error: {e}", name(&dir))),
        }
    }
    report.finish("buildkit/testfiles");
}

/// Negative cases must fail to parse, for the reason the corpus README gives.
#[test]
fn negative_cases_fail() {
    let Some(root) = common::corpus("dockerfile-parser") else {
        return;
    };
    let mut report = Report::default();
    for dir in case_dirs(&root.join("buildkit/testfiles-negative")) {
        let text = std::fs::read_to_string(dir.join("Dockerfile")).expect("read Dockerfile");
        let res = parse(&text, "Dockerfile");
        let expected = match name(&dir).as_str() {
            "empty_dockerfile" | "only_comments" => "file with no instructions",
            "env_no_value" => "ENV must have two arguments",
            "shykes-nested-json" => "arrays must be comprised of strings only",
            _ => "",
        };
        report.check(
            matches!(&res, Err(e) if e.to_string().contains(expected)),
            || {
                format!(
                    "{}: expected an error containing {expected:?}, got {res:?}",
                    name(&dir)
                )
            },
        );
    }
    report.finish("buildkit/testfiles-negative");
}

/// testfile-line: AST lines 5..31, children (5,5), (11,12), (17,31).
#[test]
fn line_numbers() {
    let Some(root) = common::corpus("dockerfile-parser") else {
        return;
    };
    let text = std::fs::read_to_string(root.join("buildkit/testfile-line/Dockerfile"))
        .expect("read Dockerfile");
    let ast = parse(&text, "Dockerfile").expect("testfile-line parses");
    let mut report = Report::default();
    report.check((ast.start_line, ast.end_line) == (5, 31), || {
        format!("AST lines {:?}", (ast.start_line, ast.end_line))
    });
    let lines: Vec<(usize, usize)> = ast
        .children
        .iter()
        .map(|c| (c.start_line, c.end_line))
        .collect();
    report.check(lines == vec![(5, 5), (11, 12), (17, 31)], || {
        format!("children lines {lines:?}")
    });
    report.finish("buildkit/testfile-line");
}

/// moby-legacy: the README marks both informative. Current buildkit behaviour is
/// asserted instead of the old `result` files, with the reason.
#[test]
fn moby_legacy_cases_follow_current_buildkit() {
    let Some(root) = common::corpus("dockerfile-parser") else {
        return;
    };
    let mut report = Report::default();
    let read = |case: &str| {
        std::fs::read_to_string(root.join("moby-legacy").join(case).join("Dockerfile"))
            .expect("read")
    };
    // Reverted in moby 2016: the empty line no longer ends the continuation.
    let dump = parse(&read("empty-line-after-escape"), "Dockerfile").map(|a| a.dump());
    report.check(
        dump.as_deref() == Ok("(from \"busybox\")\n(run \"foo bar\")"),
        || format!("empty-line-after-escape: {dump:?}"),
    );
    // buildkit trims leading blanks before looking for a directive, so the
    // indented `#escape` IS a directive there and the backtick continues the
    // line; the moby result (not a directive) does not hold any more.
    let dump = parse(&read("escape_whitespace"), "Dockerfile").map(|a| a.dump());
    report.check(
        dump.as_deref() == Ok("(from \"image\")\n(env \"foo\" \"ENV bar baz\" \"\")"),
        || format!("escape_whitespace: {dump:?}"),
    );
    report.finish("moby-legacy");
}
