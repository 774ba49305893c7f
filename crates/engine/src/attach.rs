//! The attach protocol between the CLI and a container's monitor over a unix socket.
//! Frames are `[kind: u8][len: u32 BE][payload]`.

use std::io::{self, Read, Write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// client → monitor
    Stdin(Vec<u8>),
    StdinEof,
    Resize {
        rows: u16,
        cols: u16,
    },
    Signal(i32),
    /// monitor → client
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(i32),
    Error(String),
}

const MAX_FRAME: u32 = 1 << 20;

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, Vec<u8>) = match self {
            Frame::Stdin(d) => (0, d.clone()),
            Frame::StdinEof => (1, vec![]),
            Frame::Resize { rows, cols } => (2, [rows.to_be_bytes(), cols.to_be_bytes()].concat()),
            Frame::Signal(s) => (3, s.to_be_bytes().to_vec()),
            Frame::Stdout(d) => (4, d.clone()),
            Frame::Stderr(d) => (5, d.clone()),
            Frame::Exit(c) => (6, c.to_be_bytes().to_vec()),
            Frame::Error(m) => (7, m.as_bytes().to_vec()),
        };
        let mut out = Vec::with_capacity(payload.len() + 5);
        out.push(kind);
        out.extend((payload.len() as u32).to_be_bytes());
        out.extend(payload);
        out
    }

    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.encode())
    }

    /// Reads one frame; `Ok(None)` at a clean end of stream.
    pub fn read_from(r: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut head = [0u8; 5];
        match r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "attach frame too large",
            ));
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload)?;
        Self::decode(head[0], payload).map(Some)
    }

    fn decode(kind: u8, p: Vec<u8>) -> io::Result<Frame> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed attach frame");
        let int = |p: &[u8]| -> io::Result<i32> {
            Ok(i32::from_be_bytes(p.try_into().map_err(|_| bad())?))
        };
        Ok(match kind {
            0 => Frame::Stdin(p),
            1 => Frame::StdinEof,
            2 if p.len() == 4 => Frame::Resize {
                rows: u16::from_be_bytes([p[0], p[1]]),
                cols: u16::from_be_bytes([p[2], p[3]]),
            },
            3 => Frame::Signal(int(&p)?),
            4 => Frame::Stdout(p),
            5 => Frame::Stderr(p),
            6 => Frame::Exit(int(&p)?),
            7 => Frame::Error(String::from_utf8_lossy(&p).into_owned()),
            _ => return Err(bad()),
        })
    }
}

/// Incremental decoder for a non-blocking stream: feed bytes, take whole frames.
#[derive(Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
}

impl FrameBuffer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "attach frame too large",
            ));
        }
        let total = 5 + len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        let kind = self.buf[0];
        let payload = self.buf[5..total].to_vec();
        self.buf.drain(..total);
        Frame::decode(kind, payload).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            Frame::Stdin(b"abc".to_vec()),
            Frame::StdinEof,
            Frame::Resize { rows: 24, cols: 80 },
            Frame::Signal(2),
            Frame::Stdout(b"out".to_vec()),
            Frame::Stderr(vec![]),
            Frame::Exit(-1),
            Frame::Error("boom".into()),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.encode()).collect();
        let mut r = &bytes[..];
        for f in &frames {
            assert_eq!(Frame::read_from(&mut r).unwrap().as_ref(), Some(f));
        }
        assert_eq!(Frame::read_from(&mut r).unwrap(), None);
        let mut fb = FrameBuffer::default();
        for chunk in bytes.chunks(3) {
            fb.push(chunk);
        }
        for f in &frames {
            assert_eq!(fb.next_frame().unwrap().as_ref(), Some(f));
        }
    }
}
