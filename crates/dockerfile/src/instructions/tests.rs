//! Unit tests of typed instructions: every instruction, flags, errors with
//! positions, expansion.

use super::*;
use crate::lexer::{EnvList, Lexer};

fn stages(text: &str) -> (Vec<MetaArg>, Vec<Stage>) {
    let ast = crate::parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
    parse_stages(&ast).unwrap_or_else(|e| panic!("{e}"))
}

fn commands(body: &str) -> Vec<Instruction> {
    let (_, stages) = stages(&format!("FROM scratch\n{body}"));
    stages
        .into_iter()
        .flat_map(|s| s.commands)
        .map(|c| c.instruction)
        .collect()
}

fn one(body: &str) -> Instruction {
    commands(body).remove(0)
}

fn error(text: &str) -> InstructionError {
    let ast = crate::parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
    parse_stages(&ast).expect_err("expected an instruction error")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn stages_and_meta_args() {
    let (metas, stages) = stages(
        "ARG A=1 B\n# build the app\n# builder compiles things\nFROM --platform=$BUILDPLATFORM golang AS Builder\nRUN make\nFROM alpine\nCOPY --from=builder /out /out\n",
    );
    assert_eq!(metas.len(), 1);
    assert_eq!(
        metas[0].args[0],
        ArgDecl {
            key: "A".into(),
            value: Some("1".into()),
            comment: String::new()
        }
    );
    assert_eq!(metas[0].args[1].value, None);
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].name.as_deref(), Some("builder"));
    assert_eq!(stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(stages[0].comment, "compiles things");
    assert_eq!(stages[0].location.start_line, 4);
    assert_eq!(stages[1].name, None);
    assert_eq!(stages[1].commands[0].location.start_line, 7);
}

#[test]
fn run_forms_mounts_network() {
    let Instruction::Run(run) = one("RUN --mount=type=cache,target=/c --network=none make all")
    else {
        panic!()
    };
    assert_eq!(run.command, CommandForm::Shell("make all".into()));
    assert_eq!(run.network, Network::None);
    assert_eq!(
        run.mounts,
        vec![MountSpec {
            raw: "type=cache,target=/c".into()
        }]
    );
    assert_eq!(run.flags_used, s(&["mount", "network"]));
    let Instruction::Run(run) = one("RUN [\"echo\", \"hi\"]") else {
        panic!()
    };
    assert_eq!(run.command, CommandForm::Exec(s(&["echo", "hi"])));
    let Instruction::Run(run) = one("RUN <<EOF\necho hi\nEOF") else {
        panic!()
    };
    assert_eq!(run.command, CommandForm::Shell("<<EOF".into()));
    assert_eq!(run.heredocs[0].content, "echo hi\n");
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one("CMD echo hi"),
        Instruction::Cmd(CommandForm::Shell("echo hi".into()))
    );
    assert_eq!(
        one("CMD"),
        Instruction::Cmd(CommandForm::Shell(String::new()))
    );
    assert_eq!(
        one("ENTRYPOINT []"),
        Instruction::Entrypoint(CommandForm::Exec(vec![]))
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]"),
        Instruction::Shell(s(&["/bin/bash", "-c"]))
    );
}

#[test]
fn env_label_arg_expose_volume() {
    assert_eq!(
        one("ENV a=1 b=\"2 3\""),
        Instruction::Env(vec![
            KeyValue {
                key: "a".into(),
                value: "1".into(),
                no_delim: false
            },
            KeyValue {
                key: "b".into(),
                value: "\"2 3\"".into(),
                no_delim: false
            },
        ])
    );
    assert_eq!(
        one("ENV a b c"),
        Instruction::Env(vec![KeyValue {
            key: "a".into(),
            value: "b c".into(),
            no_delim: true
        }])
    );
    assert_eq!(
        one("LABEL x=y"),
        Instruction::Label(vec![KeyValue {
            key: "x".into(),
            value: "y".into(),
            no_delim: false
        }])
    );
    let Instruction::Arg(args) = one("ARG x y=1 z=") else {
        panic!()
    };
    assert_eq!(
        args.iter()
            .map(|a| (a.key.as_str(), a.value.as_deref()))
            .collect::<Vec<_>>(),
        vec![("x", None), ("y", Some("1")), ("z", Some(""))]
    );
    assert_eq!(
        one("EXPOSE 9000 5000/udp 80"),
        Instruction::Expose(s(&["5000/udp", "80", "9000"]))
    );
    assert_eq!(
        one("VOLUME [\"/a\", \"/b\"]"),
        Instruction::Volume(s(&["/a", "/b"]))
    );
    assert_eq!(one("VOLUME /a /b"), Instruction::Volume(s(&["/a", "/b"])));
}

#[test]
fn copy_and_add_flags_and_heredocs() {
    let Instruction::Copy(c) = one(
        "COPY --from=build --chown=1:2 --chmod=644 --link --exclude=*.md --exclude=.git a b /dst/",
    ) else {
        panic!()
    };
    assert_eq!(
        (
            c.from.as_deref(),
            c.chown.as_deref(),
            c.chmod.as_deref(),
            c.link
        ),
        (Some("build"), Some("1:2"), Some("644"), true)
    );
    assert_eq!(
        (c.sources, c.dest, c.exclude),
        (s(&["a", "b"]), "/dst/".to_string(), s(&["*.md", ".git"]))
    );
    let Instruction::Copy(c) = one("COPY <<-EOF <<'RAW' /etc/\n\tchomped\nEOF\n$NOT\nRAW") else {
        panic!()
    };
    assert_eq!(
        c.contents,
        vec![
            SourceContent {
                path: "EOF".into(),
                data: "chomped\n".into(),
                expand: true
            },
            SourceContent {
                path: "RAW".into(),
                data: "$NOT\n".into(),
                expand: false
            },
        ]
    );
    let Instruction::Add(a) = one("ADD --checksum=sha256:abc --unpack=false https://x/y.tgz /y")
    else {
        panic!()
    };
    assert_eq!(
        (a.checksum.as_deref(), a.unpack, a.sources),
        (Some("sha256:abc"), Some(false), s(&["https://x/y.tgz"]))
    );
}

#[test]
fn healthcheck_and_onbuild() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    let Instruction::Healthcheck(Healthcheck::Cmd(h)) =
        one("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0s --retries=3 CMD curl -f http://localhost/")
    else {
        panic!()
    };
    assert_eq!(
        (h.interval, h.timeout, h.start_period),
        (
            Some(Duration::from_secs(5)),
            Some(Duration::from_secs(90)),
            None
        )
    );
    assert_eq!(
        (h.retries, h.test()),
        (3, s(&["CMD-SHELL", "curl -f http://localhost/"]))
    );
    let Instruction::Healthcheck(Healthcheck::Cmd(h)) = one("HEALTHCHECK CMD [\"/check\", \"-q\"]")
    else {
        panic!()
    };
    assert_eq!(h.test(), s(&["CMD", "/check", "-q"]));
    assert_eq!(
        one("ONBUILD RUN <<EOF\necho hi\nEOF"),
        Instruction::Onbuild(Onbuild {
            trigger: "RUN".into(),
            expression: "RUN <<EOF\necho hi\nEOF".into()
        })
    );
    assert_eq!(
        one("onbuild  copy . /app"),
        Instruction::Onbuild(Onbuild {
            trigger: "COPY".into(),
            expression: "copy . /app".into()
        })
    );
}

#[test]
fn errors_have_positions_and_say_what_to_do() {
    let e = error("FROM a\n  FORM b\n");
    assert_eq!(
        e.to_string(),
        "Dockerfile:2:3: unknown instruction: FORM (did you mean FROM?)"
    );
    let e = error("FROM a\nCOPY --from=x \\\n     --chwon=1 a b\n");
    assert_eq!(e.location.position, crate::Position::new(3, 6));
    assert_eq!(e.to_string(), "Dockerfile:3:6: Unknown flag: chwon (COPY accepts --chown, --from, --chmod, --link, --exclude, --parents)");
    let e = error("FROM a\nRUN --privileged true\n");
    assert!(e.to_string().contains("Unknown flag: privileged"), "{e}");
    let e = error("FROM a\nADD --keep-git-dir https://github.com/x/y.git /src\n");
    assert!(
        e.to_string()
            .starts_with("Dockerfile:2:5: ADD --keep-git-dir is not supported by berth"),
        "{e}"
    );
    let e = error("RUN true\nFROM a\n");
    assert_eq!(e.to_string(), "Dockerfile:1:1: no build stage in current context (add a FROM before RUN; only ARG may come before the first FROM)");
    assert_eq!(
        error("FROM a AS 1x\n").kind,
        InstructionErrorKind::InvalidStageName("1x".into())
    );
    assert_eq!(
        error("FROM a b\n").kind,
        InstructionErrorKind::FromArguments
    );
    assert_eq!(
        error("FROM a\nSHELL /bin/sh -c\n").kind,
        InstructionErrorKind::ShellNotJson
    );
    assert_eq!(
        error("FROM a\nONBUILD ONBUILD RUN x\n").kind,
        InstructionErrorKind::OnbuildChain
    );
    assert_eq!(
        error("FROM a\nONBUILD FROM b\n").kind,
        InstructionErrorKind::OnbuildTrigger("FROM".into())
    );
    assert_eq!(
        error("FROM a\nCOPY x\n").kind,
        InstructionErrorKind::NoDestination("COPY".into())
    );
    assert_eq!(
        error("FROM a\nCOPY a <<EOF\nx\nEOF\n").kind,
        InstructionErrorKind::HeredocDestination("COPY".into())
    );
    assert_eq!(
        error("FROM a\nWORKDIR\n").kind,
        InstructionErrorKind::ExactlyOneArgument("WORKDIR".into())
    );
    assert_eq!(
        error("FROM a\nENV\n").kind,
        InstructionErrorKind::AtLeastOneArgument("ENV".into())
    );
    assert_eq!(
        error("FROM a\nARG =x\n").kind,
        InstructionErrorKind::BlankName("ARG".into())
    );
    assert_eq!(
        error("FROM a\nVOLUME [\"\"]\n").kind,
        InstructionErrorKind::EmptyVolume
    );
    assert_eq!(
        error("FROM a\nRUN --network=bridge x\n").kind,
        InstructionErrorKind::InvalidNetwork("bridge".into())
    );
    assert_eq!(
        error("FROM a\nSTOPSIGNAL --now TERM\n").kind.to_string(),
        "Unknown flag: now (STOPSIGNAL takes no flags)"
    );
}

#[test]
fn healthcheck_errors() {
    assert_eq!(
        error("FROM a\nHEALTHCHECK\n").kind,
        InstructionErrorKind::AtLeastOneArgument("HEALTHCHECK".into())
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK NONE x\n").kind,
        InstructionErrorKind::HealthcheckNoneArguments
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --retries=3 NONE\n").kind,
        InstructionErrorKind::HealthcheckNoneFlags("retries".into())
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK CMD\n").kind,
        InstructionErrorKind::HealthcheckMissingCommand
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK CONNECT TCP 7000\n").kind,
        InstructionErrorKind::HealthcheckType("CONNECT".into())
    );
    assert_eq!(
        error("FROM a\nHEALTHCHECK --interval=1us CMD x\n").kind,
        InstructionErrorKind::DurationTooShort("interval".into())
    );
    assert!(matches!(
        error("FROM a\nHEALTHCHECK --timeout=5 CMD x\n").kind,
        InstructionErrorKind::InvalidDuration { .. }
    ));
    assert_eq!(
        error("FROM a\nHEALTHCHECK --retries=-1 CMD x\n").kind,
        InstructionErrorKind::InvalidRetries("-1".into())
    );
}

#[test]
fn mount_errors_point_at_the_flag() {
    let e = error("FROM a\nRUN --network=none --mount=type=ssh true\n");
    assert_eq!(e.location.position, crate::Position::new(2, 20));
    assert_eq!(e.kind, InstructionErrorKind::Mount(MountError::Ssh));
    assert!(e.to_string().contains("no SSH agent forwarding"), "{e}");
}

#[test]
fn expansion_of_each_instruction() {
    let ast = crate::parse(
        "FROM a\nCOPY --chown=$U --from=$S ${SRC:-x} $DST\nENV K_$U=\"v $DST\"\nEXPOSE $PORTS\nWORKDIR ${DST%/}\nRUN --mount=type=cache,target=$DST true\nCOPY <<EOF <<'RAW' /x\n$U '$U'\nEOF\n$U\nRAW\n",
        "Dockerfile",
    )
    .unwrap();
    let (_, mut stages) = parse_stages(&ast).unwrap();
    let env = EnvList::from_strings(["U=me", "S=builder", "DST=/app/", "PORTS=80 443/udp"]);
    let lexer = Lexer::new('\\');
    let mut used = Vec::new();
    for cmd in &mut stages[0].commands {
        used.push(cmd.expand(&lexer, &env).unwrap());
    }
    let cmds: Vec<&Instruction> = stages[0].commands.iter().map(|c| &c.instruction).collect();
    let Instruction::Copy(c) = cmds[0] else {
        panic!()
    };
    assert_eq!(
        (
            c.chown.as_deref(),
            c.from.as_deref(),
            c.sources.clone(),
            c.dest.as_str()
        ),
        (Some("me"), Some("builder"), s(&["x"]), "/app/")
    );
    assert_eq!(
        used[0],
        ["DST", "S", "U"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(
        cmds[1],
        &Instruction::Env(vec![KeyValue {
            key: "K_me".into(),
            value: "v /app/".into(),
            no_delim: false
        }])
    );
    assert_eq!(cmds[2], &Instruction::Expose(s(&["80", "443/udp"])));
    assert_eq!(cmds[3], &Instruction::Workdir("/app".into()));
    let Instruction::Run(r) = cmds[4] else {
        panic!()
    };
    assert_eq!(r.resolved_mounts[0].target.as_deref(), Some("/app/"));
    let Instruction::Copy(c) = cmds[5] else {
        panic!()
    };
    assert_eq!(c.contents[0].data, "me 'me'\n");
    assert_eq!(c.contents[1].data, "$U\n");
}

#[test]
fn expansion_errors_are_located() {
    let ast = crate::parse("FROM a\nWORKDIR ${NOPE:?set it}\n", "Df").unwrap();
    let (_, mut stages) = parse_stages(&ast).unwrap();
    let e = stages[0].commands[0]
        .expand(&Lexer::new('\\'), &EnvList::new())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Df:2:1: failed to process \"${NOPE:?set it}\": NOPE: set it"
    );
}
