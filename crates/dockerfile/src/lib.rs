//! berth-dockerfile: the Dockerfile front end, pure (no I/O, no other berth
//! crate), modelled on buildkit's `frontend/dockerfile` packages so that berth
//! reads Dockerfiles exactly as `docker build` does.
//!
//! * [`parse`] turns text into an [`ast::Ast`] like buildkit's parser: parser
//!   directives (`# escape=`, `# syntax=`, `# check=`), comments, line
//!   continuations, exec (JSON) vs shell form with docker's fallback rules,
//!   heredocs, instruction flags. [`ast::Ast::dump`] is byte-identical to
//!   buildkit's `Node.Dump()`, which the conformance corpus checks.
//! * [`instructions::parse_stages`] types the AST into meta ARGs and
//!   [`instructions::Stage`]s of [`instructions::Command`]s, checking flags
//!   and arguments as buildkit does.
//! * [`lexer::Lexer`] is buildkit's shell-word expansion (`ProcessWord`,
//!   `ProcessWords`), [`scope`] the ARG/ENV scoping with the platform ARGs.
//!
//! The example is compiled, not run (the workspace links statically, which
//! rustdoc's test binaries cannot); `scope`'s unit tests run the same flow.
//!
//! ```no_run
//! use berth_dockerfile::{instructions, lexer::Lexer, parse, scope};
//!
//! let ast = parse("ARG BASE=alpine\nFROM $BASE\nENV GREETING=hi\nRUN echo $GREETING\n", "Dockerfile")?;
//! let (metas, stages) = instructions::parse_stages(&ast)?;
//! let lexer = Lexer::new(ast.escape);
//! let host = scope::Platform::host();
//! let mut global = scope::GlobalScope::new(Vec::<(String, String)>::new(), &host, &host);
//! for meta in &metas {
//!     global.declare(&lexer, meta)?;
//! }
//! assert_eq!(global.expand_from(&lexer, &stages[0])?.base_name, "alpine");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Departures from buildkit are listed where they happen: the module docs of
//! [`instructions`] (stricter flag checks, refused flags), [`directives`]
//! (leading blanks), the JSON notes on [`ast::Node::json`], and the Unicode
//! approximations of the internal `go` module.

pub mod ast;
pub mod directives;
pub mod error;
mod go;
pub mod heredoc;
pub mod instructions;
pub mod lexer;
mod line_parsers;
mod lines;
mod parser;
mod pattern;
pub mod scope;

pub use ast::{Arg, Ast, Node};
pub use error::{ParseError, ParseErrorKind, Position};
pub use parser::{parse, parse_bytes};
