//! No input may panic the parser, the typed layer, the scopes or the lexer.
//!
//! A deterministic stand-in for the cargo-fuzz targets in `fuzz/` (which need
//! nightly): thousands of pseudo-random mutations (fixed-seed xorshift) of the
//! conformance Dockerfiles and lexer words, plus built-in seeds so the test runs
//! even without the corpus.

use berth_dockerfile::instructions::parse_stages;
use berth_dockerfile::lexer::{EnvList, Lexer};
use berth_dockerfile::scope::{GlobalScope, Platform, StageScope};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

const ROUNDS: usize = 4000;

/// Fragments that steer mutations into the interesting syntax.
const TOKENS: &[&str] = &[
    "\\\n",
    "`\n",
    "\n",
    "#",
    "# escape=`\n",
    "<<EOF\n",
    "<<-'X'\n",
    "EOF\n",
    "\"",
    "'",
    "[",
    "]",
    "[\"a\", 1]",
    "${",
    "}",
    "${A:-",
    "${A#*",
    "${A//",
    "%%",
    "$",
    "--mount=type=cache,target=",
    "--network=",
    "--from=",
    "=",
    " ",
    "\t",
    "ONBUILD ",
    "RUN ",
    "COPY ",
    "ENV ",
    "ARG ",
    "FROM ",
    "HEALTHCHECK --interval=",
    "\r\n",
    "\u{feff}",
    "é",
    "\u{0}",
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus_root() -> Option<PathBuf> {
    let root = std::env::var_os("BERTH_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    root.is_dir().then_some(root)
}

fn dockerfile_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = vec![
        b"# syntax=x\nARG A=1\nFROM --platform=$BUILDPLATFORM a:$A AS b\nRUN --mount=type=cache,target=/c <<EOF\necho\nEOF\n".to_vec(),
        b"FROM a\nCOPY <<A <<-B /d\nx\nA\n\ty\nB\nENV a=\"b c\" d=e\nHEALTHCHECK --interval=5s CMD [\"x\"]\nONBUILD RUN x\n".to_vec(),
        b"# escape=`\nFROM a\nRUN echo `\n  b\nLABEL a=b\nEXPOSE 80/tcp $P\nVOLUME [\"/a\"]\nSHELL [\"sh\"]\n".to_vec(),
    ];
    if let Some(root) = corpus_root() {
        for sub in [
            "dockerfile-parser/buildkit/testfiles",
            "dockerfile-parser/buildkit/testfiles-negative",
            "dockerfile-parser/moby-legacy",
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path().join("Dockerfile"))
                .collect();
            files.sort();
            seeds.extend(files.iter().filter_map(|f| std::fs::read(f).ok()));
        }
    }
    seeds
}

fn mutate(rng: &mut XorShift, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            1 => {
                let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(at..at, tok.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                let end = (from + rng.below(64)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let end = (at + rng.below(32)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
        }
    }
    data
}

/// The whole front end on one input; errors are fine.
fn exercise(data: &[u8]) {
    let Ok(ast) = berth_dockerfile::parse_bytes(data, "Dockerfile") else {
        return;
    };
    let _ = ast.dump();
    let Ok((metas, mut stages)) = parse_stages(&ast) else {
        return;
    };
    let lexer = Lexer::new(ast.escape);
    let platform = Platform::new("linux", "amd64", "");
    let mut global = GlobalScope::new([("A", "1")], &platform, &platform);
    for meta in &metas {
        let _ = global.declare(&lexer, meta);
    }
    for stage in &mut stages {
        let _ = global.expand_from(&lexer, stage);
        let mut scope = StageScope::new(EnvList::from_strings(["PATH=/bin"]));
        for cmd in &mut stage.commands {
            let _ = scope.dispatch(&lexer, cmd, &global);
        }
    }
}

fn escape(data: &[u8]) -> String {
    data.iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

#[test]
fn mutated_dockerfiles_never_panic() {
    let seeds = dockerfile_seeds();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..ROUNDS {
        let data = mutate(&mut rng, &seeds);
        if catch_unwind(AssertUnwindSafe(|| exercise(&data))).is_err() {
            panic!(
                "round {round}: the front end panicked on b\"{}\"",
                escape(&data)
            );
        }
    }
    println!(
        "{ROUNDS} mutated Dockerfiles from {} seeds, no panic",
        seeds.len()
    );
}

fn word_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        "${A:-x}",
        "${A/\\*/y}",
        "'a'\"b\"\\c",
        "${A%%*.}",
        "<<  EOF",
        "$1$@${#}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    if let Some(root) = corpus_root() {
        for file in ["shell-lexer/envVarTest", "shell-lexer/wordsTest"] {
            let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            seeds.extend(
                text.lines()
                    .filter_map(|l| {
                        l.split('|')
                            .nth(if file.ends_with("envVarTest") { 1 } else { 0 })
                    })
                    .map(|w| w.trim().as_bytes().to_vec()),
            );
        }
    }
    seeds
}

#[test]
fn mutated_words_never_panic() {
    let seeds = word_seeds();
    let env = EnvList::from_strings(["A=a b.c", "EMPTY=", "P=/x/*/y?", "N=\n\n"]);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for round in 0..ROUNDS {
        let data = mutate(&mut rng, &seeds);
        let word = String::from_utf8_lossy(&data);
        let mode = rng.next();
        let lexer = Lexer::new(if mode & 1 == 0 { '\\' } else { '`' })
            .raw_quotes(mode & 2 != 0)
            .raw_escapes(mode & 4 != 0)
            .skip_process_quotes(mode & 8 != 0)
            .skip_unset_env(mode & 16 != 0);
        let run = || {
            let _ = lexer.process(&word, &env);
            let _ = berth_dockerfile::heredoc::parse_heredoc(&word);
        };
        if catch_unwind(AssertUnwindSafe(run)).is_err() {
            panic!("round {round}: the lexer panicked on {word:?} (mode {mode:#x})");
        }
    }
    println!(
        "{ROUNDS} mutated words from {} seeds, no panic",
        seeds.len()
    );
}
