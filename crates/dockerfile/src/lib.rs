//! placeholder
pub mod ast;
pub mod directives;
pub mod error;
mod go;
pub mod heredoc;
pub mod lexer;
mod line_parsers;
mod lines;
mod parser;
mod pattern;

pub use parser::{parse, parse_bytes};
