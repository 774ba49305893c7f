//! Go `text/template` semantics as docker users meet them: one table of
//! (template, data, expected output), one of templates that must fail and how.

use super::*;
use serde_json::json;

fn data() -> Json {
    json!({
        "ID": "abc123", "Names": "web", "State": "running", "Size": 1024, "Ratio": 0.5,
        "Running": true, "Paused": false, "Empty": "", "Zero": 0, "Nil": null,
        "Config": {
            "Cmd": ["sh", "-c", "echo hi"],
            "Labels": {"k": "v", "a.b": "dotted"},
            "Env": [],
        },
        "NetworkSettings": {"Networks": {
            "zeta": {"IPAddress": "10.0.1.2"},
            "alpha": {"IPAddress": "10.0.0.2"},
        }},
        "Mounts": [{"Source": "/a", "RW": true}, {"Source": "/b", "RW": false}],
    })
}

const CASES: &[(&str, &str)] = &[
    // Fields, dot, root.
    ("{{.ID}}", "abc123"),
    ("{{ .Config.Labels.k }}", "v"),
    ("{{.Size}} {{.Ratio}}", "1024 0.5"),
    ("{{.Running}}", "true"),
    ("{{.Nil}}", "<no value>"),
    ("{{.Config.Cmd}}", "[sh -c echo hi]"),
    ("{{.Config.Labels}}", "map[a.b:dotted k:v]"),
    ("{{with .Config}}{{$.ID}}{{end}}", "abc123"),
    // Variables.
    ("{{$x := .Names}}{{$x}}", "web"),
    ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
    ("{{$c := .Config}}{{$c.Labels.k}}", "v"),
    // range over lists and maps (maps in sorted key order), with else and variables.
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", "10.0.0.2 10.0.1.2 "),
    ("{{range $n, $v := .NetworkSettings.Networks}}{{$n}}={{$v.IPAddress}};{{end}}", "alpha=10.0.0.2;zeta=10.0.1.2;"),
    ("{{range $i, $a := .Config.Cmd}}{{$i}}:{{$a}} {{end}}", "0:sh 1:-c 2:echo hi "),
    ("{{range .Config.Env}}x{{else}}none{{end}}", "none"),
    ("{{range .Mounts}}{{if .RW}}{{.Source}}{{end}}{{end}}", "/a"),
    ("{{range .Config.Cmd}}{{if eq . \"-c\"}}{{break}}{{end}}{{.}}{{end}}", "sh"),
    ("{{range .Config.Cmd}}{{if eq . \"-c\"}}{{continue}}{{end}}{{.}},{{end}}", "sh,echo hi,"),
    // if / else if / else with Go's truthiness.
    ("{{if .Running}}up{{end}}", "up"),
    ("{{if .Paused}}p{{else}}not{{end}}", "not"),
    ("{{if .Empty}}a{{else if .Zero}}b{{else if .Config.Env}}c{{else}}d{{end}}", "d"),
    ("{{if .Nil}}a{{else}}b{{end}}", "b"),
    ("{{if .Config.Labels}}has{{end}}", "has"),
    ("{{if eq .State \"running\"}}up{{end}}", "up"),
    // with / else.
    ("{{with .Config.Labels.k}}[{{.}}]{{end}}", "[v]"),
    ("{{with .Empty}}x{{else}}empty{{end}}", "empty"),
    ("{{with .Empty}}x{{else with .Names}}{{.}}{{end}}", "web"),
    // Pipes and parenthesised sub-expressions.
    ("{{.Names | upper}}", "WEB"),
    ("{{.Names | printf \"%s!\" | len}}", "4"),
    ("{{(index .Config.Cmd 2) | upper}}", "ECHO HI"),
    ("{{printf \"%d-%s\" (len .Config.Cmd) (lower \"X\")}}", "3-x"),
    // Literals.
    ("{{\"a\\tb\"}}|{{`r\\t`}}|{{'a'}}|{{1.5}}|{{-3}}|{{0x10}}|{{true}}", "a\tb|r\\t|97|1.5|-3|16|true"),
    // Trim markers and comments.
    ("a  {{- .Names -}}  \n b", "awebb"),
    ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
    // Functions docker adds.
    ("{{json .Config.Labels}}", "{\"a.b\":\"dotted\",\"k\":\"v\"}"),
    ("{{json .Nil}}|{{json \"<&>\"}}", "null|\"<&>\""),
    ("{{join .Config.Cmd \",\"}}", "sh,-c,echo hi"),
    ("{{join .Config.Env \",\"}}|{{join .Nil \",\"}}", "|"),
    ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
    ("{{index (split \"a:b\" \":\") 1}}", "b"),
    ("{{title \"hello wide-world\"}}", "Hello Wide-World"),
    ("{{upper .Names}} {{lower \"ABC\"}}", "WEB abc"),
    ("{{pad .Names 2 1}}|", "  web |"),
    ("{{truncate .ID 3}}|{{truncate \"ab\" 5}}", "abc|ab"),
    // Go's builtins.
    ("{{len .Config.Cmd}} {{len .Config.Labels}} {{len .Names}}", "3 2 3"),
    ("{{index .Config.Labels \"a.b\"}}", "dotted"),
    ("{{index .Config.Cmd 0}}", "sh"),
    // docker's typed map[string]string gives "" for a missing key, nil or not.
    ("{{index .Config.Labels \"missing\"}}|{{index .Nil \"k\"}}", "|"),
    ("{{index .NetworkSettings.Networks \"none\"}}", "<no value>"),
    ("{{index . \"Config\" \"Cmd\" 1}}|{{index .Names}}", "-c|web"),
    ("{{slice .ID 1 3}} {{slice .Config.Cmd 1}}", "bc [-c echo hi]"),
    ("{{print \"a\" 1 2 \"b\"}}", "a1 2b"),
    ("{{println \"a\" 1}}", "a 1\n"),
    ("{{printf \"%s|%d|%v|%q|%-6s|%5s|%05d|%.2f|%x|%t\" .Names .Size .Config.Cmd .ID \"ab\" \"cd\" 42 .Ratio 255 .Running}}",
     "web|1024|[sh -c echo hi]|\"abc123\"|ab    |   cd|00042|0.50|ff|true"),
    ("{{printf \"%s\"}}", "%!s(MISSING)"),
    ("{{eq .Size 1024}} {{ne .Names \"web\"}} {{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge \"b\" \"a\"}}", "true false true true false true"),
    ("{{eq .State \"created\" \"running\"}}", "true"),
    ("{{and .Running .Names}} {{and .Running .Empty}}|{{or .Empty .Names}} {{not .Paused}}", "web |web true"),
    ("{{if and .Running (not .Paused)}}ok{{end}}", "ok"),
];

#[test]
fn renders_go_template_features() {
    let d = data();
    for (tpl, want) in CASES {
        match render(tpl, &d) {
            Ok(got) => assert_eq!(&got, want, "template {tpl:?}"),
            Err(e) => panic!("template {tpl:?} failed: {e}"),
        }
    }
}

/// (template, the whole error Go-style where the position is certain, else a part of it).
const ERRORS: &[(&str, &str)] = &[
    // Execution: what failed and, when the name occurs once, where.
    ("{{.Nope}}", "template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\""),
    ("x\n  {{.Config.Nope}}", "template: :2:4: executing \"\" at <.Config.Nope>: map has no entry for key \"Nope\""),
    ("{{.ID.Sub}}", "template: :1:2: executing \"\" at <.ID.Sub>: can't evaluate field Sub in type string"),
    ("{{.Names | bogus}}", "template: :1:11: executing \"\" at <bogus>: function \"bogus\" not defined"),
    ("{{$y}}", "template: :1:2: executing \"\" at <$y>: undefined variable \"$y\""),
    ("{{upper .Size}}", "template: :1:2: executing \"\" at <upper>: upper: wrong type for value; expected string; got int"),
    ("{{join .Names \",\"}}", "join: wrong type for value; expected []string; got string"),
    ("{{join .Config.Cmd}}", "at <join>: wrong number of args for join: want 2 got 1"),
    ("{{index .Config.Cmd 9}}", "at <index>: error calling index: index out of range: 9"),
    ("{{lt .Names 3}}", "incompatible types for comparison"),
    ("{{range .Size}}{{end}}{{range .Running}}{{end}}", "range"),
    // Same name twice: no position rather than a guess.
    ("{{.Config.X}}{{.X}}", "template: executing \"\": map has no entry for key \"X\""),
    // Syntax: Go's `template: :LINE:COL:`.
    ("{{.ID", "template: :1:5: unclosed action"),
    ("{{ .ID }", "template: :1:7: unexpected character"),
    ("{{\"open}}", "unterminated"),
    ("{{if}}x{{end}}", "template: :1:"),
    ("a{{end}}b", "template: :1:1: unexpected {{end}}"),
    ("{{else}}", "template: :1:0: unexpected {{else}}"),
    ("{{if .Running}}up", "template: :1:0: unexpected EOF"),
    ("{{range .Mounts}}{{if .RW}}x{{end}}", "template: :1:0: unexpected EOF: this {{range}} has no {{end}}"),
    ("{{if .A}}a{{else}}b{{else}}c{{end}}", "template: :1:"),
    ("{{break}}", "template: :1:0: {{break}} outside {{range}}"),
];

#[test]
fn errors_say_what_and_where() {
    let d = data();
    for (tpl, want) in ERRORS {
        match render(tpl, &d) {
            Ok(out) => panic!("template {tpl:?} rendered {out:?}, want an error with {want:?}"),
            Err(e) => assert!(
                e.to_string().contains(want),
                "template {tpl:?}: error {e:?} ({e}) lacks {want:?}"
            ),
        }
    }
}

#[test]
fn a_parsed_template_runs_over_many_rows() {
    let t = Template::parse("{{.Names}}:{{if eq .State \"running\"}}up{{end}}").unwrap();
    let rows = [
        json!({"Names": "a", "State": "running"}),
        json!({"Names": "b", "State": "exited"}),
    ];
    let out: Vec<String> = rows.iter().map(|r| t.execute(r).unwrap()).collect();
    assert_eq!(out, ["a:up", "b:"]);
}

#[test]
fn docker_escapes_expand_between_actions_only() {
    assert_eq!(
        expand_docker_escapes("{{.A}}\\t{{.B}}\\n"),
        "{{.A}}\t{{.B}}\n"
    );
    assert_eq!(
        expand_docker_escapes("{{join .C \"\\n\"}}\\t{{\"}}\\t\"}}"),
        "{{join .C \"\\n\"}}\t{{\"}}\\t\"}}"
    );
    let d = json!({"C": ["a", "b"]});
    assert_eq!(
        render(&expand_docker_escapes("{{join .C \"\\n\"}}"), &d).unwrap(),
        "a\nb"
    );
}
