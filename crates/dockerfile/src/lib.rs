//! placeholder
pub mod directives;
pub mod error;
mod go;
pub mod lexer;
mod lines;
mod pattern;
