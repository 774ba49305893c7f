//! Unit tests of the lexer: the cases of buildkit's lex_test.go table tests that
//! are not in the shared conformance data files, and berth-specific checks.

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// (input, env, expected result or None for an error, matched, unmatched)
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

const FOO_BAR: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];

const CASES: &[Case] = &[
    ("x", &[("DUMMY", "dummy")], Some("x"), &[], &[]),
    (
        "x ${UNUSED}",
        &[("DUMMY", "dummy")],
        Some("x "),
        &[],
        &["UNUSED"],
    ),
    ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
    (
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        FOO_BAR,
        Some("xxx  ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        FOO_BAR,
        Some("xxx bbb ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ("${FOO:-}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
    (
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        FOO_BAR,
        Some("aaa bbb "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        FOO_BAR,
        Some("aaa  "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ("${FOO?aaa}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${BAR?bbb}", FOO_BAR, Some(""), &["BAR"], &[]),
    ("${BAZ?ccc}", FOO_BAR, None, &[], &[]),
    ("${FOO:?aaa}", FOO_BAR, Some("xxx"), &["FOO"], &[]),
    ("${BAR:?bbb}", FOO_BAR, None, &[], &[]),
    ("${BAZ:?ccc}", FOO_BAR, None, &[], &[]),
    ("${BAZ:?}", FOO_BAR, None, &[], &[]),
    ("${FOO=aaa}", FOO_BAR, None, &[], &[]),
    ("${FOO=:aaa}", FOO_BAR, None, &[], &[]),
    ("${FOO=}", &[], None, &[], &[]),
    (
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &[("FOO", "()[]{}^$.*?|\\x")],
        Some("x"),
        &["FOO"],
        &[],
    ),
    (
        "${FOO%%\\**}",
        &[("FOO", "xx**")],
        Some("xx"),
        &["FOO"],
        &[],
    ),
    ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y"), &["FOO"], &[]),
    ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        Some("xyy"),
        &["FOO", "BAR"],
        &[],
    ),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy"), &["FOO"], &[]),
    ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
    (
        "${ABC:-.}${FOO%x}${ABC:-.}",
        &[("FOO", "xxyy")],
        Some(".xxyy."),
        &["FOO"],
        &["ABC"],
    ),
    (
        "${FOO%%\\**\\*}",
        &[("FOO", "a***yy*")],
        Some("a"),
        &["FOO"],
        &[],
    ),
    ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        Some("/foo.*/*.txt - /foo..*.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        Some("/tmp/bar.txt - /bar.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ],
        Some("/foo/b/c.txt - /foo/c.txt"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        Some("https://google.de"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        Some("\\/tmp\\/foo.txt"),
        &["FOO"],
        &[],
    ),
    (
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("wwxxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO//ww}", &[("FOO", "xxyy")], None, &[], &[]),
    ("${FOO//}", &[("FOO", "xxyy")], None, &[], &[]),
    ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
    ("${FOO///}", &[], Some(""), &[], &["FOO"]),
];

#[test]
fn buildkit_table_cases() {
    let lex = Lexer::new('\\');
    for (input, vars, expected, matched, unmatched) in CASES {
        let res = lex.process(input, &env(vars));
        match expected {
            None => assert!(res.is_err(), "{input}: expected an error, got {res:?}"),
            Some(want) => {
                let got = res.unwrap_or_else(|e| panic!("{input}: {e}"));
                assert_eq!(got.result, *want, "{input}");
                assert_eq!(got.matched, set(matched), "{input} matched");
                assert_eq!(got.unmatched, set(unmatched), "{input} unmatched");
            }
        }
    }
}

#[test]
fn platform_release_name() {
    let lex = Lexer::new('\\');
    let e = env(&[
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm"),
        ("TARGETVARIANT", "v7"),
    ]);
    let w =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    assert_eq!(
        lex.process_word(w, &e).unwrap(),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    let e = env(&[
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "amd64"),
    ]);
    assert_eq!(
        lex.process_word(w, &e).unwrap(),
        "something-v1.2.3.linux-amd64.tar.gz"
    );
}

#[test]
fn mandatory_messages() {
    let lex = Lexer::new('\\');
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    let set_env = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty_env = env(&[("VAR", ""), ("ARG", "x")]);
    let unset_env = env(&[("ARG", "x")]);
    assert_eq!(lex.process_word(no_empty, &set_env).unwrap(), "plain");
    let err = lex.process_word(no_empty, &empty_env).unwrap_err();
    assert!(err.to_string().contains("VAR: message herex"), "{err}");
    assert!(lex
        .process_word(no_empty, &unset_env)
        .unwrap_err()
        .to_string()
        .contains("message herex"));
    assert_eq!(lex.process_word(no_unset, &set_env).unwrap(), "plain");
    assert_eq!(lex.process_word(no_unset, &empty_env).unwrap(), "");
    assert!(lex
        .process_word(no_unset, &unset_env)
        .unwrap_err()
        .to_string()
        .contains("message herex"));
    let err = lex.process_word("${X?}", &unset_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to process \"${X?}\": X: is not allowed to be unset"
    );
}

#[test]
fn colon_with_pattern_operator_is_refused() {
    let lex = Lexer::new('\\');
    let err = lex
        .process_word("${FOO:#x}", &env(&[("FOO", "xy")]))
        .unwrap_err();
    assert_eq!(err.kind, LexErrorKind::UnsupportedModifier(":#".into()));
}

#[test]
fn backtick_escape_token() {
    let lex = Lexer::new('`');
    let e = env(&[("A", "1")]);
    assert_eq!(lex.process_word("a`$A\\b", &e).unwrap(), "a$A\\b");
    assert_eq!(lex.process_word("\"x`\"y\"", &e).unwrap(), "x\"y");
    assert_eq!(lex.process_word("C:\\dir\\$A", &e).unwrap(), "C:\\dir\\1");
}

#[test]
fn raw_modes_keep_quotes_and_escapes() {
    let e = EnvList::new();
    let lex = Lexer::new('\\')
        .raw_quotes(true)
        .raw_escapes(true)
        .skip_unset_env(true);
    assert_eq!(
        lex.process_words("RUN <<'EOF' \"a b\" x\\ y $U ${V:-w}", &e)
            .unwrap(),
        vec!["RUN", "<<'EOF'", "\"a b\"", "x\\ y", "$U", "${V:-w}"]
    );
    let lex = Lexer::new('\\').skip_process_quotes(true);
    assert_eq!(
        lex.process_word("echo '$A' \"\\$A\"", &EnvList::from_strings(["A=1"]))
            .unwrap(),
        "echo '1' \"$A\""
    );
}

#[test]
fn heredoc_marker_keeps_following_blanks() {
    let lex = Lexer::new('\\');
    let e = EnvList::new();
    assert_eq!(
        lex.process_words("RUN <<  EOF > foo", &e).unwrap(),
        vec!["RUN", "<<  EOF", ">", "foo"]
    );
    assert_eq!(lex.process_words("a<b", &e).unwrap(), vec!["a<b"]);
    assert_eq!(lex.process_word("a <<  b", &e).unwrap(), "a <<  b");
}

#[test]
fn byte_order_mark_and_errors() {
    let lex = Lexer::new('\\');
    let e = EnvList::new();
    assert_eq!(lex.process_word("\u{feff}abc", &e).unwrap(), "abc");
    assert_eq!(
        lex.process_word("${a", &e).unwrap_err().kind,
        LexErrorKind::MissingBrace
    );
    assert_eq!(
        lex.process_word("${a:-'b}", &e).unwrap_err().kind,
        LexErrorKind::MissingBrace
    );
    assert_eq!(
        lex.process_word("${a/b", &e).unwrap_err().kind,
        LexErrorKind::MissingSlash
    );
    assert_eq!(
        lex.process_word("${}", &e).unwrap_err().kind,
        LexErrorKind::BadSubstitution
    );
    assert_eq!(
        lex.process_word("'a", &e).unwrap_err().kind,
        LexErrorKind::UnterminatedSingleQuote
    );
    assert!(matches!(
        lex.process_word("${A#\\x}", &EnvList::from_strings(["A=1"]))
            .unwrap_err()
            .kind,
        LexErrorKind::InvalidPattern { .. }
    ));
}

#[test]
fn words_split_only_unquoted_expansions() {
    let lex = Lexer::new('\\');
    let e = EnvList::from_strings(["S=a  b"]);
    assert_eq!(
        lex.process_words("x${S}y \"${S}\"", &e).unwrap(),
        vec!["xa", "by", "a  b"]
    );
    assert_eq!(lex.process_words("a \"\" b", &e).unwrap(), vec!["a", "b"]);
}

#[test]
fn env_list_semantics() {
    let mut e = EnvList::from_strings(["A=1", "B", "A=2"]);
    assert_eq!(Env::get(&e, "A"), Some("2"));
    assert_eq!(Env::get(&e, "B"), Some(""));
    e.set("C", "3");
    e.remove("B");
    assert_eq!(e.to_strings(), vec!["A=2", "C=3"]);
}
