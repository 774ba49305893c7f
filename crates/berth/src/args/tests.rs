//! Unit tests of the command line: clap's consistency check and how docker's flag forms parse.

use super::*;
use clap::CommandFactory;

#[test]
fn cli_is_consistent() {
    Cli::command().debug_assert();
}

fn run_args(argv: &[&str]) -> RunArgs {
    let mut full = vec!["berth", "run"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Run(r) => r,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn booleans_take_optional_values() {
    assert!(run_args(&["--privileged", "img"]).create.privileged);
    assert!(run_args(&["--privileged=true", "img"]).create.privileged);
    assert!(!run_args(&["--privileged=false", "img"]).create.privileged);
    let r = run_args(&["-it", "--rm", "img", "sh"]);
    assert!(r.create.interactive && r.create.tty && r.create.rm);
    let r = run_args(&["-dit", "img"]);
    assert!(r.detach && r.create.interactive && r.create.tty);
}

#[test]
fn flags_after_image_belong_to_the_command() {
    let r = run_args(&["--rm", "img", "--privileged", "-d"]);
    assert!(!r.create.privileged && !r.detach);
    assert_eq!(
        r.create.image_and_command,
        vec!["img", "--privileged", "-d"]
    );
    assert_eq!(
        run_args(&["-h", "box", "img"]).create.hostname.as_deref(),
        Some("box")
    );
}

#[test]
fn pull_policy_is_typed_and_checked() {
    let pull = |argv: &[&str]| {
        let mut full = vec!["berth", "create"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).map(|c| c.command) {
            Ok(Command::Create(c)) => Ok(c.pull),
            Ok(other) => panic!("parsed as {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    };
    assert_eq!(pull(&["img"]), Ok(PullPolicy::Missing));
    assert_eq!(pull(&["--pull", "always", "img"]), Ok(PullPolicy::Always));
    assert_eq!(pull(&["--pull=never", "img"]), Ok(PullPolicy::Never));
    let err = pull(&["--pull", "sometimes", "img"]).unwrap_err();
    assert!(
        err.contains("possible values: missing, always, never"),
        "{err}"
    );
}

#[test]
fn commit_pauses_unless_told_not_to() {
    let parse = |argv: &[&str]| {
        let mut full = vec!["berth", "commit"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Commit(c) => c,
            other => panic!("parsed as {other:?}"),
        }
    };
    assert!(parse(&["c"]).pause);
    assert!(!parse(&["--pause=false", "c"]).pause);
    assert!(!parse(&["-p=false", "c", "img:1"]).pause);
    let c = parse(&[
        "-c",
        "ENV X=1",
        "-c",
        "CMD [\"sh\"]",
        "-m",
        "msg",
        "-a",
        "me",
        "c",
        "i",
    ]);
    assert_eq!(c.change, vec!["ENV X=1", "CMD [\"sh\"]"]);
    assert_eq!(
        (
            c.message.as_deref(),
            c.author.as_deref(),
            c.reference.as_deref()
        ),
        (Some("msg"), Some("me"), Some("i"))
    );
}

#[test]
fn unknown_flag_is_an_error() {
    assert!(Cli::try_parse_from(["berth", "run", "--bogus", "img"]).is_err());
}
