//! One AST node to one typed instruction (buildkit's `instructions/parse.go`).

use super::duration::parse_go_duration;
use super::error::{InstructionError, InstructionErrorKind as Kind};
use super::flags::{FlagError, Flags, Kind as F};
use super::*;
use crate::ast::Node;
use crate::heredoc::{chomp, parse_heredoc};
use std::sync::Arc;

/// A FROM starts a stage; everything else is a command.
pub(crate) enum Parsed {
    Stage(Stage),
    Command(Command),
}

/// The known instructions, for "did you mean".
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Context of one node: its arguments and where it is.
struct Req<'a> {
    node: &'a Node,
    name: String,
    args: Vec<String>,
    location: Location,
}

impl Req<'_> {
    fn err(&self, kind: Kind) -> InstructionError {
        InstructionError {
            location: Box::new(self.location.clone()),
            kind,
        }
    }

    fn flags(&self, accepted: &[(&'static str, F)]) -> Result<Flags, InstructionError> {
        Flags::parse(self.node, &self.name, accepted).map_err(|e| self.flag_err(e))
    }

    fn flag_err(&self, (position, kind): FlagError) -> InstructionError {
        InstructionError {
            location: Box::new(Location {
                position,
                ..self.location.clone()
            }),
            kind,
        }
    }

    fn no_flags(&self) -> Result<(), InstructionError> {
        self.flags(&[]).map(|_| ())
    }

    fn exactly_one(&self) -> Result<String, InstructionError> {
        match self.args.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(self.err(Kind::ExactlyOneArgument(self.name.clone()))),
        }
    }

    fn command_form(&self, args: &[String]) -> CommandForm {
        if self.node.json {
            CommandForm::Exec(args.to_vec())
        } else {
            CommandForm::Shell(args.join(" "))
        }
    }
}

/// Types one instruction node (also used for ONBUILD triggers by builders).
pub fn parse_command(node: &Node, file: &str) -> Result<Instruction, InstructionError> {
    match parse_node(node, &Arc::from(file))? {
        Parsed::Command(c) => Ok(c.instruction),
        Parsed::Stage(s) => {
            let kind = Kind::OnbuildTrigger("FROM".to_string());
            Err(InstructionError {
                location: Box::new(s.location),
                kind,
            })
        }
    }
}

pub(crate) fn parse_node(node: &Node, file: &Arc<str>) -> Result<Parsed, InstructionError> {
    let location = Location {
        file: file.clone(),
        start_line: node.start_line,
        end_line: node.end_line,
        position: node.position,
    };
    let req = Req {
        node,
        name: node.keyword.to_uppercase(),
        args: node.arg_values(),
        location,
    };
    let instruction = match node.name().as_str() {
        "from" => return parse_from(&req).map(Parsed::Stage),
        "add" => Instruction::Add(parse_add(&req)?),
        "arg" => Instruction::Arg(parse_arg(&req)?),
        "cmd" => {
            req.no_flags()?;
            Instruction::Cmd(req.command_form(&req.args))
        }
        "copy" => Instruction::Copy(parse_copy(&req)?),
        "entrypoint" => {
            req.no_flags()?;
            Instruction::Entrypoint(req.command_form(&req.args))
        }
        "env" => Instruction::Env(parse_kvps(&req)?),
        "expose" => Instruction::Expose(parse_expose(&req)?),
        "healthcheck" => Instruction::Healthcheck(parse_healthcheck(&req)?),
        "label" => Instruction::Label(parse_kvps(&req)?),
        "maintainer" => {
            let m = req.exactly_one()?;
            req.no_flags()?;
            Instruction::Maintainer(m)
        }
        "onbuild" => Instruction::Onbuild(parse_onbuild(&req)?),
        "run" => Instruction::Run(parse_run(&req)?),
        "shell" => Instruction::Shell(parse_shell(&req)?),
        "stopsignal" => Instruction::StopSignal(one_no_flags(&req)?),
        "user" => Instruction::User(one_no_flags(&req)?),
        "volume" => Instruction::Volume(parse_volume(&req)?),
        "workdir" => Instruction::Workdir(one_no_flags(&req)?),
        _ => return Err(req.err(unknown_instruction(&node.keyword))),
    };
    let code = node.original.trim().to_string();
    Ok(Parsed::Command(Command {
        keyword: node.keyword.clone(),
        code,
        location: req.location,
        instruction,
    }))
}

fn one_no_flags(req: &Req) -> Result<String, InstructionError> {
    let one = req.exactly_one()?;
    req.no_flags()?;
    Ok(one)
}

fn unknown_instruction(keyword: &str) -> Kind {
    let name = keyword.to_uppercase();
    let suggestion = INSTRUCTIONS
        .iter()
        .map(|i| (edit_distance(&name, i), *i))
        .filter(|(d, _)| *d <= 2 && name.len() > 2)
        .min()
        .map(|(_, i)| i.to_string());
    Kind::UnknownInstruction { name, suggestion }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

fn parse_from(req: &Req) -> Result<Stage, InstructionError> {
    let name = match req.args.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = crate::go::to_lower(name);
            if !valid_stage_name(&lower) {
                return Err(req.err(Kind::InvalidStageName(name.clone())));
            }
            Some(lower)
        }
        [_] => None,
        _ => return Err(req.err(Kind::FromArguments)),
    };
    let flags = req.flags(&[("platform", F::String)])?;
    let comment = name
        .as_deref()
        .map(|n| comment_for(&req.node.prev_comment, n))
        .unwrap_or_default();
    Ok(Stage {
        name,
        base_name: req.args[0].clone(),
        platform: flags.string("platform"),
        code: req.node.original.trim().to_string(),
        location: req.location.clone(),
        comment,
        commands: Vec::new(),
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// buildkit's `getComment`: a comment line `name text` describes `name`.
fn comment_for(comments: &[String], name: &str) -> String {
    let prefix = format!("{name} ");
    comments
        .iter()
        .find_map(|c| c.strip_prefix(&prefix))
        .unwrap_or_default()
        .to_string()
}

fn parse_kvps(req: &Req) -> Result<Vec<KeyValue>, InstructionError> {
    req.no_flags()?;
    if req.args.is_empty() {
        return Err(req.err(Kind::AtLeastOneArgument(req.name.clone())));
    }
    if !req.args.len().is_multiple_of(3) {
        return Err(req.err(Kind::TooManyArguments(req.name.clone())));
    }
    req.args
        .chunks(3)
        .map(|kv| {
            if kv[0].is_empty() {
                return Err(req.err(Kind::BlankName(req.name.clone())));
            }
            Ok(KeyValue {
                key: kv[0].clone(),
                value: kv[1].clone(),
                no_delim: kv[2].is_empty(),
            })
        })
        .collect()
}

fn parse_arg(req: &Req) -> Result<Vec<ArgDecl>, InstructionError> {
    if req.args.is_empty() {
        return Err(req.err(Kind::AtLeastOneArgument("ARG".into())));
    }
    req.no_flags()?;
    req.args
        .iter()
        .map(|arg| {
            let (key, value) = match arg.split_once('=') {
                Some(("", _)) => return Err(req.err(Kind::BlankName("ARG".into()))),
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let comment = comment_for(&req.node.prev_comment, &key);
            Ok(ArgDecl {
                key,
                value,
                comment,
            })
        })
        .collect()
}

/// Sources (paths and heredocs) and destination of COPY/ADD.
fn sources_and_dest(
    req: &Req,
) -> Result<(Vec<String>, Vec<SourceContent>, String), InstructionError> {
    let (dest, srcs) = req
        .args
        .split_last()
        .expect("checked: at least two arguments");
    if matches!(parse_heredoc(dest), Ok(Some(_))) {
        return Err(req.err(Kind::HeredocDestination(req.name.clone())));
    }
    let mut paths = Vec::new();
    let mut contents = Vec::new();
    for src in srcs {
        let Ok(Some(doc)) = parse_heredoc(src) else {
            paths.push(src.clone());
            continue;
        };
        let body = req
            .node
            .heredocs
            .iter()
            .rev()
            .find(|h| h.name == doc.name)
            .map(|h| h.content.clone());
        let body = body.unwrap_or_default();
        let data = if doc.chomp { chomp(&body) } else { body };
        contents.push(SourceContent {
            path: doc.name,
            data,
            expand: doc.expand,
        });
    }
    Ok((paths, contents, dest.clone()))
}

const KEEP_GIT_DIR: &str =
    "berth does not fetch git sources; clone the repository into the build context and COPY it";
const PARENTS: &str =
    "copying with parent directories is not implemented; COPY each directory to its destination";

fn parse_add(req: &Req) -> Result<Add, InstructionError> {
    if req.args.len() < 2 {
        return Err(req.err(Kind::NoDestination("ADD".into())));
    }
    let flags = req.flags(&[
        ("chown", F::String),
        ("chmod", F::String),
        ("link", F::Bool),
        ("keep-git-dir", F::Bool),
        ("checksum", F::String),
        ("exclude", F::Strings),
        ("unpack", F::Bool),
    ])?;
    if flags.used("keep-git-dir") {
        return Err(unsupported(req, "keep-git-dir", KEEP_GIT_DIR));
    }
    let (sources, contents, dest) = sources_and_dest(req)?;
    Ok(Add {
        sources,
        contents,
        dest,
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        checksum: flags.string("checksum"),
        exclude: flags.strings("exclude"),
        unpack: flags.opt_bool("unpack"),
    })
}

fn unsupported(req: &Req, flag: &str, reason: &'static str) -> InstructionError {
    let at = req
        .node
        .flags
        .iter()
        .find(|f| f.text.trim_start_matches('-').starts_with(flag));
    let position = at.map(|f| f.position).unwrap_or(req.location.position);
    let kind = Kind::UnsupportedFlag {
        instruction: req.name.clone(),
        flag: flag.to_string(),
        reason,
    };
    InstructionError {
        location: Box::new(Location {
            position,
            ..req.location.clone()
        }),
        kind,
    }
}

fn parse_copy(req: &Req) -> Result<Copy, InstructionError> {
    if req.args.len() < 2 {
        return Err(req.err(Kind::NoDestination("COPY".into())));
    }
    let flags = req.flags(&[
        ("chown", F::String),
        ("from", F::String),
        ("chmod", F::String),
        ("link", F::Bool),
        ("exclude", F::Strings),
        ("parents", F::Bool),
    ])?;
    if flags.used("parents") {
        return Err(unsupported(req, "parents", PARENTS));
    }
    let (sources, contents, dest) = sources_and_dest(req)?;
    Ok(Copy {
        sources,
        contents,
        dest,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        exclude: flags.strings("exclude"),
    })
}

fn parse_onbuild(req: &Req) -> Result<Onbuild, InstructionError> {
    if req.args.is_empty() {
        return Err(req.err(Kind::AtLeastOneArgument("ONBUILD".into())));
    }
    req.no_flags()?;
    let trigger = req.args[0].trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err(req.err(Kind::OnbuildChain)),
        "MAINTAINER" | "FROM" => return Err(req.err(Kind::OnbuildTrigger(trigger))),
        t if !INSTRUCTIONS.contains(&t) => return Err(req.err(unknown_instruction(t))),
        _ => {}
    }
    // The original line without the ONBUILD keyword (case-insensitive).
    let original = req
        .node
        .original
        .trim_start_matches(crate::go::is_regexp_space);
    let mut expression = match original.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => original[7..]
            .trim_start_matches(crate::go::is_regexp_space)
            .to_string(),
        _ => original.to_string(),
    };
    for doc in &req.node.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    Ok(Onbuild {
        trigger,
        expression,
    })
}

fn parse_run(req: &Req) -> Result<Run, InstructionError> {
    let flags = req.flags(&[
        ("mount", F::Strings),
        ("network", F::String),
        ("security", F::String),
        ("device", F::Strings),
    ])?;
    if flags.used("security") {
        return Err(unsupported(
            req,
            "security",
            "berth runs build steps with the default security profile only",
        ));
    }
    if flags.used("device") {
        return Err(unsupported(
            req,
            "device",
            "CDI devices are not available to build steps",
        ));
    }
    let network = match flags.string("network").as_deref() {
        None | Some("default") => Network::Default,
        Some("none") => Network::None,
        Some("host") => Network::Host,
        Some(other) => return Err(req.err(Kind::InvalidNetwork(other.to_string()))),
    };
    let mounts: Vec<MountSpec> = flags
        .strings("mount")
        .into_iter()
        .map(|raw| MountSpec { raw })
        .collect();
    for m in &mounts {
        m.validate().map_err(|e| {
            let at = req
                .node
                .flags
                .iter()
                .find(|f| f.text.ends_with(&m.raw))
                .map(|f| f.position);
            InstructionError {
                location: Box::new(Location {
                    position: at.unwrap_or(req.location.position),
                    ..req.location.clone()
                }),
                kind: Kind::Mount(e),
            }
        })?;
    }
    Ok(Run {
        command: req.command_form(&req.args),
        heredocs: req.node.heredocs.clone(),
        mounts,
        resolved_mounts: Vec::new(),
        network,
        flags_used: flags.names(),
    })
}

fn parse_expose(req: &Req) -> Result<Vec<String>, InstructionError> {
    if req.args.is_empty() {
        return Err(req.err(Kind::AtLeastOneArgument("EXPOSE".into())));
    }
    req.no_flags()?;
    let mut ports = req.args.clone();
    ports.sort();
    Ok(ports)
}

fn parse_volume(req: &Req) -> Result<Vec<String>, InstructionError> {
    if req.args.is_empty() {
        return Err(req.err(Kind::AtLeastOneArgument("VOLUME".into())));
    }
    req.no_flags()?;
    req.args
        .iter()
        .map(|v| match v.trim() {
            "" => Err(req.err(Kind::EmptyVolume)),
            v => Ok(v.to_string()),
        })
        .collect()
}

fn parse_shell(req: &Req) -> Result<Vec<String>, InstructionError> {
    req.no_flags()?;
    if req.args.is_empty() {
        return Err(req.err(Kind::AtLeastOneArgument("SHELL".into())));
    }
    if !req.node.json {
        return Err(req.err(Kind::ShellNotJson));
    }
    Ok(req.args.clone())
}

const HEALTH_FLAGS: &[(&str, F)] = &[
    ("interval", F::String),
    ("timeout", F::String),
    ("start-period", F::String),
    ("start-interval", F::String),
    ("retries", F::String),
];

fn parse_healthcheck(req: &Req) -> Result<Healthcheck, InstructionError> {
    let Some((typ, rest)) = req.args.split_first() else {
        return Err(req.err(Kind::AtLeastOneArgument("HEALTHCHECK".into())));
    };
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err(req.err(Kind::HealthcheckNoneArguments));
        }
        if let Some(flag) = req.node.flags.first() {
            let name = flag
                .text
                .trim_start_matches('-')
                .split('=')
                .next()
                .unwrap_or_default()
                .to_string();
            return Err(req.flag_err((flag.position, Kind::HealthcheckNoneFlags(name))));
        }
        return Ok(Healthcheck::None);
    }
    let flags = req.flags(HEALTH_FLAGS)?;
    if typ != "CMD" {
        return Err(req.err(Kind::HealthcheckType(typ)));
    }
    if rest.is_empty() {
        return Err(req.err(Kind::HealthcheckMissingCommand));
    }
    let duration = |name: &str| interval(req, &flags, name);
    Ok(Healthcheck::Cmd(HealthConfig {
        command: req.command_form(rest),
        interval: duration("interval")?,
        timeout: duration("timeout")?,
        start_period: duration("start-period")?,
        start_interval: duration("start-interval")?,
        retries: retries(req, flags.string("retries"))?,
    }))
}

/// buildkit's `parseOptInterval`: empty or zero is unset, below 1ms an error.
fn interval(req: &Req, flags: &Flags, name: &str) -> Result<Option<Duration>, InstructionError> {
    let Some(value) = flags.string(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let nanos = parse_go_duration(&value).map_err(|reason| {
        req.err(Kind::InvalidDuration {
            flag: name.to_string(),
            value: value.clone(),
            reason,
        })
    })?;
    if nanos == 0 {
        return Ok(None);
    }
    if nanos < 1_000_000 {
        return Err(req.err(Kind::DurationTooShort(name.to_string())));
    }
    Ok(Some(Duration::from_nanos(nanos as u64)))
}

/// Go's `strconv.ParseInt(v, 10, 32)`, then not negative.
fn retries(req: &Req, value: Option<String>) -> Result<u32, InstructionError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    let digits = value.strip_prefix('+').unwrap_or(&value);
    match digits.parse::<i32>() {
        Ok(n) if n >= 0 && !digits.starts_with('+') => Ok(n as u32),
        _ => Err(req.err(Kind::InvalidRetries(value))),
    }
}
