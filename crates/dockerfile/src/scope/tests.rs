//! Unit tests of ARG/ENV scoping.

use super::*;
use crate::instructions::parse_stages;

struct Build {
    lexer: Lexer,
    global: GlobalScope,
    stages: Vec<Stage>,
}

fn build(text: &str, build_args: &[(&str, &str)]) -> Build {
    let ast = crate::parse(text, "Dockerfile").unwrap();
    let (metas, stages) = parse_stages(&ast).unwrap();
    let lexer = Lexer::new(ast.escape);
    let amd = Platform::new("linux", "amd64", "");
    let arm = Platform::new("linux", "arm", "v7");
    let mut global = GlobalScope::new(build_args.iter().map(|(k, v)| (*k, *v)), &amd, &arm);
    for m in &metas {
        global.declare(&lexer, m).unwrap();
    }
    Build {
        lexer,
        global,
        stages,
    }
}

/// Dispatches stage `i`; returns its scope and the variables each command used.
fn run_stage(b: &mut Build, i: usize) -> (StageScope, Vec<BTreeSet<String>>) {
    let mut scope = StageScope::new(EnvList::from_strings(["PATH=/bin"]));
    let mut used = Vec::new();
    for cmd in &mut b.stages[i].commands {
        used.push(scope.dispatch(&b.lexer, cmd, &b.global).unwrap());
    }
    (scope, used)
}

#[test]
fn meta_args_only_reach_from_lines() {
    let mut b = build(
        "ARG TAG=3.19\nARG IMG=alpine:$TAG\nFROM $IMG\nRUN echo $TAG\nARG TAG\nRUN echo $TAG\n",
        &[],
    );
    let from = b.global.expand_from(&b.lexer, &b.stages[0]).unwrap();
    assert_eq!(from.base_name, "alpine:3.19");
    assert_eq!(from.used, ["IMG".to_string()].into_iter().collect());
    let (scope, used) = run_stage(&mut b, 0);
    assert!(used[0].is_empty(), "RUN is not expanded by the builder");
    assert_eq!(
        scope.env().get("TAG"),
        Some("3.19"),
        "re-declared ARG inherits the global value"
    );
}

#[test]
fn build_args_beat_defaults_and_are_tracked() {
    let mut b = build(
        "ARG V=1\nFROM scratch\nARG V\nARG W=dflt\nARG X\nENV E=$V-$W\n",
        &[("V", "9"), ("W", "8"), ("UNUSED", "x")],
    );
    let (scope, _) = run_stage(&mut b, 0);
    assert_eq!(scope.env().get("E"), Some("9-8"));
    assert_eq!(
        scope.env().get("X"),
        None,
        "ARG without value and without build arg stays unset"
    );
    assert_eq!(
        scope.build_args_in_use(),
        vec![
            ("V".to_string(), "9".to_string()),
            ("W".to_string(), "8".to_string())
        ]
    );
    assert_eq!(
        b.global.unconsumed_build_args(&[&scope]),
        vec!["UNUSED".to_string()]
    );
    assert_eq!(
        scope.image_env().to_strings(),
        vec!["PATH=/bin", "E=9-8"],
        "ARGs stay out of the image env"
    );
}

#[test]
fn env_overrides_arg_and_defaults_see_stage_env() {
    let mut b = build(
        "FROM scratch\nARG A=arg\nENV A=env\nENV B=$A\nARG C=${A}-c\nCOPY $C /\n",
        &[],
    );
    let (scope, used) = run_stage(&mut b, 0);
    assert_eq!(scope.env().get("B"), Some("env"));
    assert_eq!(scope.env().get("C"), Some("env-c"));
    assert_eq!(used[4], ["C".to_string()].into_iter().collect());
    assert_eq!(
        scope.args_used(&used[4]),
        ["C".to_string()].into_iter().collect()
    );
    assert_eq!(
        scope.build_args_in_use(),
        vec![
            ("A".to_string(), "env".to_string()),
            ("C".to_string(), "env-c".to_string())
        ]
    );
}

#[test]
fn platform_args() {
    let mut b = build("FROM --platform=$BUILDPLATFORM x-$TARGETARCH\nARG TARGETPLATFORM TARGETVARIANT BUILDOS\nENV T=$TARGETPLATFORM V=$TARGETVARIANT O=$BUILDOS\n", &[]);
    let from = b.global.expand_from(&b.lexer, &b.stages[0]).unwrap();
    assert_eq!(
        (from.base_name.as_str(), from.platform.as_deref()),
        ("x-arm", Some("linux/amd64"))
    );
    let (scope, _) = run_stage(&mut b, 0);
    assert_eq!(scope.env().get("T"), Some("linux/arm/v7"));
    assert_eq!(scope.env().get("V"), Some("v7"));
    assert_eq!(scope.env().get("O"), Some("linux"));
    let b = build("FROM x-$TARGETARCH\n", &[("TARGETARCH", "riscv64")]);
    assert_eq!(
        b.global
            .expand_from(&b.lexer, &b.stages[0])
            .unwrap()
            .base_name,
        "x-riscv64"
    );
}

#[test]
fn undeclared_platform_arg_is_empty_in_stage() {
    let mut b = build("FROM scratch\nENV T=\"[$TARGETARCH]\"\n", &[]);
    let (scope, _) = run_stage(&mut b, 0);
    assert_eq!(scope.env().get("T"), Some("[]"));
}

#[test]
fn errors_are_located() {
    let b = build("ARG IMG\nFROM $IMG\n", &[]);
    let e = b.global.expand_from(&b.lexer, &b.stages[0]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Dockerfile:2:1: base name ($IMG) should not be blank"),
        "{e}"
    );
    let mut b = build("FROM scratch\nARG X=\"${Y:?needs Y}\"\n", &[]);
    let cmd = &mut b.stages[0].commands[0];
    let e = StageScope::default()
        .dispatch(&b.lexer, cmd, &b.global)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:2:1: failed to process \"\\\"${Y:?needs Y}\\\"\": Y: needs Y"
    );
}

#[test]
fn platforms_parse_and_format() {
    assert_eq!(
        Platform::parse("linux/arm/v7").unwrap().to_string(),
        "linux/arm/v7"
    );
    assert_eq!(
        Platform::parse("linux/aarch64").unwrap().to_string(),
        "linux/arm64"
    );
    assert_eq!(
        Platform::parse("linux/arm64/v8").unwrap().to_string(),
        "linux/arm64"
    );
    assert_eq!(
        Platform::parse("Linux/x86_64").unwrap().to_string(),
        "linux/amd64"
    );
    assert!(Platform::parse("linux").is_err());
    assert!(!Platform::host().architecture.is_empty());
}

#[test]
fn redeclared_arg_keeps_its_place_and_proxies_are_predefined() {
    let mut b = build(
        "FROM scratch\nARG A=1\nARG B=2\nARG A=3\n",
        &[("HTTP_PROXY", "http://p:3128"), ("no_proxy", "x")],
    );
    let (scope, _) = run_stage(&mut b, 0);
    assert_eq!(
        scope.build_args_in_use(),
        vec![
            ("A".to_string(), "3".to_string()),
            ("B".to_string(), "2".to_string())
        ]
    );
    assert!(b.global.unconsumed_build_args(&[&scope]).is_empty());
    assert_eq!(b.global.proxy_env().len(), 2);
}
