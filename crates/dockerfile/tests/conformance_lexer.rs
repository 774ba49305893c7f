//! Runs every line of the shared shell-lexer corpus (buildkit's `envVarTest` and
//! `wordsTest`) through berth's lexer. See `shared/conformance/shell-lexer/README.md`.

mod common;

use berth_dockerfile::lexer::{EnvList, Lexer};
use common::Report;

#[test]
fn env_var_test() {
    let Some(dir) = common::corpus("shell-lexer") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("envVarTest")).expect("read envVarTest");
    let env = EnvList::from_strings(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]);
    let lex = Lexer::new('\\');
    let mut report = Report::default();
    let mut skipped_windows = 0;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(fields.len(), 3, "envVarTest line {}: {line:?}", i + 1);
        let (platform, source, expected) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
        match platform {
            "A" | "U" => {}
            "W" => {
                skipped_windows += 1;
                continue;
            }
            other => panic!("envVarTest line {}: bad platform {other:?}", i + 1),
        }
        let got = lex.process_word(source, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(w), e) => e != "error" && w == e,
            _ => false,
        };
        report.check(ok, || {
            format!(
                "envVarTest line {}: {source:?} expected {expected:?}, got {got:?}",
                i + 1
            )
        });
    }
    println!("envVarTest: {skipped_windows} Windows-only lines not run (berth is Linux-only)");
    report.finish("envVarTest");
}

#[test]
fn words_test() {
    let Some(dir) = common::corpus("shell-lexer") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("wordsTest")).expect("read wordsTest");
    let lex = Lexer::new('\\');
    let mut env: Vec<String> = Vec::new();
    let mut report = Report::default();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            env.push(rest.trim_start_matches(' ').to_string());
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(
            fields.len(),
            2,
            "wordsTest line {}: exactly one | expected in {line:?}",
            i + 1
        );
        let input = fields[0].trim();
        let expected: Vec<&str> = fields[1].trim_start_matches(' ').split(',').collect();
        let got = match lex.process_words(input, &EnvList::from_strings(&env)) {
            Ok(words) => words,
            Err(_) => vec!["error".to_string()],
        };
        report.check(got == expected, || {
            format!(
                "wordsTest line {}: {input:?} expected {expected:?}, got {got:?}",
                i + 1
            )
        });
    }
    report.finish("wordsTest");
}
