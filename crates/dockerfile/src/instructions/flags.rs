//! Instruction flags (`--name`, `--name=value`), checked like buildkit's
//! `BFlags`: unknown flags are errors, bool flags take no value or
//! `true`/`false`, string flags need `=value`, list flags may repeat.

use super::error::InstructionErrorKind;
use crate::ast::Node;
use crate::error::Position;
use std::collections::BTreeMap;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    String,
    Strings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Bool(bool),
    String(String),
    Strings(Vec<String>),
}

/// The flags given to one instruction, checked against what it accepts.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<&'static str, Value>,
}

/// A flag error and the position of the offending flag.
pub(crate) type FlagError = (Position, InstructionErrorKind);

impl Flags {
    /// Parses the flags of `node`; `accepted` lists (name, kind).
    pub(crate) fn parse(
        node: &Node,
        instruction: &str,
        accepted: &[(&'static str, Kind)],
    ) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        for flag in &node.flags {
            let at = flag.position;
            // The parser only produces words starting with `--`.
            let text = flag.text.strip_prefix("--").unwrap_or(&flag.text);
            let (name, value) = match text.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (text, None),
            };
            let Some(&(key, kind)) = accepted.iter().find(|(n, _)| *n == name) else {
                let accepted = accepted.iter().map(|(n, _)| *n).collect();
                let kind = InstructionErrorKind::UnknownFlag {
                    instruction: instruction.to_string(),
                    flag: name.to_string(),
                    accepted,
                };
                return Err((at, kind));
            };
            if kind != Kind::Strings && flags.values.contains_key(key) {
                return Err((at, InstructionErrorKind::DuplicateFlag(name.to_string())));
            }
            let parsed = match (kind, value) {
                (Kind::Bool, None) => Value::Bool(true),
                (Kind::Bool, Some("")) => {
                    return Err((at, InstructionErrorKind::MissingFlagValue(name.to_string())))
                }
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => {
                        let kind = InstructionErrorKind::InvalidBool {
                            flag: name.to_string(),
                            value: v.to_string(),
                        };
                        return Err((at, kind));
                    }
                },
                (_, None) => {
                    return Err((at, InstructionErrorKind::MissingFlagValue(name.to_string())))
                }
                (Kind::String, Some(v)) => Value::String(v.to_string()),
                (Kind::Strings, Some(v)) => {
                    let mut list = match flags.values.remove(key) {
                        Some(Value::Strings(list)) => list,
                        _ => Vec::new(),
                    };
                    list.push(v.to_string());
                    Value::Strings(list)
                }
            };
            flags.values.insert(key, parsed);
        }
        Ok(flags)
    }

    /// A string flag's value, if given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        match self.values.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A bool flag (false when absent).
    pub(crate) fn bool(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Bool(true)))
    }

    /// A bool flag, `None` when absent.
    pub(crate) fn opt_bool(&self, name: &str) -> Option<bool> {
        match self.values.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// A repeatable flag's values.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(Value::Strings(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    /// Whether the flag was given at all.
    pub(crate) fn used(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Names of the flags given, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.values.keys().map(|k| k.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Flag;

    fn node(flags: &[&str]) -> Node {
        let flags = flags
            .iter()
            .map(|f| Flag {
                text: f.to_string(),
                position: Position::new(1, 5),
            })
            .collect();
        Node {
            keyword: "COPY".into(),
            flags,
            ..Node::default()
        }
    }

    const ACCEPTED: &[(&str, Kind)] = &[
        ("link", Kind::Bool),
        ("from", Kind::String),
        ("exclude", Kind::Strings),
    ];

    fn parse(flags: &[&str]) -> Result<Flags, InstructionErrorKind> {
        Flags::parse(&node(flags), "COPY", ACCEPTED).map_err(|(_, k)| k)
    }

    #[test]
    fn kinds() {
        let f = parse(&["--link", "--from=a", "--exclude=x", "--exclude=y"]).unwrap();
        assert!(f.bool("link"));
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert_eq!(f.strings("exclude"), vec!["x", "y"]);
        assert!(!parse(&["--link=FALSE"]).unwrap().bool("link"));
        assert_eq!(
            parse(&["--from="]).unwrap().string("from").as_deref(),
            Some("")
        );
    }

    #[test]
    fn errors() {
        let unknown = parse(&["--chmod=1"]).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "Unknown flag: chmod (COPY accepts --link, --from, --exclude)"
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            InstructionErrorKind::MissingFlagValue("from".into())
        );
        assert_eq!(
            parse(&["--link="]).unwrap_err(),
            InstructionErrorKind::MissingFlagValue("link".into())
        );
        assert!(matches!(
            parse(&["--link=yes"]).unwrap_err(),
            InstructionErrorKind::InvalidBool { .. }
        ));
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            InstructionErrorKind::DuplicateFlag("from".into())
        );
        let none = Flags::parse(&node(&["--x"]), "ENV", &[]).unwrap_err().1;
        assert_eq!(none.to_string(), "Unknown flag: x (ENV takes no flags)");
    }
}
