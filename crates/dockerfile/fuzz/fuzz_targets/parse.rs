//! Any bytes through the whole front end: parse, dump, type, scope, expand.
//! Errors are fine; panics, hangs and unbounded memory are bugs.
#![no_main]

use berth_dockerfile::instructions::parse_stages;
use berth_dockerfile::lexer::{EnvList, Lexer};
use berth_dockerfile::scope::{GlobalScope, Platform, StageScope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ast) = berth_dockerfile::parse_bytes(data, "Dockerfile") else {
        return;
    };
    let _ = ast.dump();
    let Ok((metas, mut stages)) = parse_stages(&ast) else {
        return;
    };
    let lexer = Lexer::new(ast.escape);
    let platform = Platform::new("linux", "amd64", "");
    let mut global = GlobalScope::new([("A", "1"), ("TARGETARCH", "arm64")], &platform, &platform);
    for meta in &metas {
        let _ = global.declare(&lexer, meta);
    }
    for stage in &mut stages {
        let _ = global.expand_from(&lexer, stage);
        let mut scope = StageScope::new(EnvList::from_strings(["PATH=/bin"]));
        for cmd in &mut stage.commands {
            let _ = scope.dispatch(&lexer, cmd, &global);
        }
        let _ = scope.build_args_in_use();
    }
});
