//! Any word through the shell lexer in every mode. The first byte picks the
//! escape token and the raw/skip options; the rest is the word.
#![no_main]

use berth_dockerfile::lexer::{EnvList, Lexer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let word = String::from_utf8_lossy(rest);
    let escape = if mode & 1 == 0 { '\\' } else { '`' };
    let lexer = Lexer::new(escape)
        .raw_quotes(mode & 2 != 0)
        .raw_escapes(mode & 4 != 0)
        .skip_process_quotes(mode & 8 != 0)
        .skip_unset_env(mode & 16 != 0);
    let env = EnvList::from_strings(["A=a b", "EMPTY=", "P=/x/*/y?", "N=\n\n"]);
    let _ = lexer.process(&word, &env);
    let _ = berth_dockerfile::heredoc::parse_heredoc(&word);
});
