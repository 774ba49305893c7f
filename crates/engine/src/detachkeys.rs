//! `--detach-keys`: the key sequence that detaches an attached terminal from a
//! container (docker's default ctrl-p,ctrl-q), and the filter that watches the
//! caller's keystrokes for it. Keys that start the sequence are held back until it
//! is complete (detach) or broken (they go to the container after all), as
//! docker's escape proxy does.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid --detach-keys {0:?}: give comma-separated keys, each a single character or ctrl-<value> with <value> one of a-z, @, ^, [, \\, ], _ (e.g. ctrl-p,ctrl-q)")]
pub struct DetachKeysError(String);

/// docker's default sequence.
pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// Parses docker's notation: `ctrl-p,ctrl-q`, `ctrl-a,x`.
pub fn parse(spec: &str) -> Result<Vec<u8>, DetachKeysError> {
    let bad = || DetachKeysError(spec.into());
    let mut out = Vec::new();
    for key in spec.split(',') {
        let key = key.trim();
        let byte = match key.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let c = c.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => return Err(bad()),
                }
            }
            Some(_) => return Err(bad()),
            None if key.len() == 1 && key.is_ascii() => key.as_bytes()[0],
            None => return Err(bad()),
        };
        out.push(byte);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Watches input for the sequence.
#[derive(Debug, Clone)]
pub struct DetachFilter {
    keys: Vec<u8>,
    held: Vec<u8>,
}

/// What a chunk of input amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Bytes to send on (maybe none, while a sequence may be under way).
    Forward(Vec<u8>),
    /// The sequence was typed; `Vec` is what came before it in this chunk.
    Detach(Vec<u8>),
}

impl DetachFilter {
    pub fn new(keys: Vec<u8>) -> Self {
        DetachFilter { keys, held: vec![] }
    }

    pub fn feed(&mut self, data: &[u8]) -> Filtered {
        let mut out = Vec::new();
        for &b in data {
            if b == self.keys[self.held.len()] {
                self.held.push(b);
                if self.held.len() == self.keys.len() {
                    self.held.clear();
                    return Filtered::Detach(out);
                }
                continue;
            }
            // The sequence broke: what was held goes on, and this byte may start
            // a new one.
            out.append(&mut self.held);
            if b == self.keys[0] {
                self.held.push(b);
            } else {
                out.push(b);
            }
        }
        Filtered::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation_is_dockers() {
        assert_eq!(parse(DEFAULT).unwrap(), vec![16, 17]);
        assert_eq!(parse("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse("ctrl-@,ctrl-_").unwrap(), vec![0, 31]);
        for bad in ["", "ctrl-", "ctrl-1", "abc", "ctrl-p,,"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sequence_is_held_then_detaches_or_flows_on() {
        let mut f = DetachFilter::new(vec![16, 17]);
        assert_eq!(f.feed(b"ab\x10"), Filtered::Forward(b"ab".to_vec()));
        assert_eq!(f.feed(b"\x11zz"), Filtered::Detach(vec![]));
        let mut f = DetachFilter::new(vec![16, 17]);
        assert_eq!(f.feed(b"\x10x"), Filtered::Forward(b"\x10x".to_vec()));
        assert_eq!(f.feed(b"\x10\x10\x11"), Filtered::Detach(b"\x10".to_vec()));
    }
}
