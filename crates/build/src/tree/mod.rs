//! File trees: reading sources without leaving them ([`read`]) and writing
//! into a snapshot root without leaving it ([`write`]).

pub mod read;
pub mod write;
