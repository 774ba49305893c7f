//! The monitor's attach clients and the container's input queue: everything the
//! monitor writes to someone else, written without ever blocking.
//!
//! Each client has its own bounded queue of encoded frames, filled by the output
//! pump and emptied when its socket is writable. What happens when a client does
//! not keep up depends on who it is:
//!
//! * A **viewer** (`berth attach`, `start -a` on a running container) never slows
//!   the container. Once [`OUTPUT_BOUND`] bytes wait for it, further output frames
//!   are dropped for it alone (whole frames, so what it gets still decodes): it
//!   loses its own output, as a docker attach stream that falls behind does, while
//!   the log and every other client get everything. It stays attached, so its input
//!   and its resizes still work once it reads again.
//! * The **foreground** client (the one `run`/`start -a` started the container
//!   for) is the container's stdout, as with docker: `berth run IMG tar c / | gzip`
//!   must not lose a byte. When its queue is full the monitor stops reading the
//!   container's output until it catches up, so the container waits on its writes
//!   as it would writing into any pipe. Signals, `stop`, `rm -f` and other clients
//!   are still served meanwhile. Once the container is gone the rest is delivered
//!   at the client's pace, but a client that takes nothing for a minute loses it
//!   ([`deliver_rest`]), so no monitor outlives its container for long.
//!
//! Input from clients goes through [`StdinQueue`], bounded too: while it is full
//! the monitor stops reading clients (they wait on their writes), so a container
//! that never reads its stdin or its terminal costs neither memory nor CPU.

use crate::attach::{Frame, FrameBuffer};
use nix::errno::Errno;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;

/// Output bytes that may wait for one client (beyond its socket buffer). Allocated
/// only while a client lags, given back as it catches up.
pub const OUTPUT_BOUND: usize = 256 * 1024;

/// Input bytes that may wait for the container to read them.
pub const STDIN_BOUND: usize = 64 * 1024;

/// An encoded frame, shared by every client it is queued for.
pub type Encoded = Rc<[u8]>;

pub struct Client {
    stream: UnixStream,
    pub frames: FrameBuffer,
    queue: VecDeque<Encoded>,
    /// Bytes of the front frame already written.
    sent: usize,
    /// Bytes queued and not yet written.
    queued: usize,
    foreground: bool,
    /// Gone (hung up, or a write failed): removed after the current poll round, so
    /// that indices handed out for this round stay valid.
    pub dead: bool,
}

impl Client {
    /// Takes an accepted connection; its socket becomes non-blocking.
    pub fn new(stream: UnixStream, foreground: bool) -> Self {
        // Without it the client is still served, only a stalled one could block
        // the monitor; set_nonblocking on a fresh socket does not fail in practice.
        let dead = stream.set_nonblocking(true).is_err();
        Client {
            stream,
            frames: FrameBuffer::default(),
            queue: VecDeque::new(),
            sent: 0,
            queued: 0,
            foreground,
            dead,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// Whether output waits for the socket to become writable.
    pub fn wants_write(&self) -> bool {
        !self.dead && self.queued > 0
    }

    /// A foreground client that is a full queue behind: the container must wait.
    pub fn holds_back_output(&self) -> bool {
        self.foreground && !self.dead && self.queued >= OUTPUT_BOUND
    }

    /// Queues an output frame (dropped for a viewer that is too far behind) and
    /// writes what the socket takes now.
    pub fn send_output(&mut self, frame: &Encoded) {
        if self.dead || (!self.foreground && self.queued + frame.len() > OUTPUT_BOUND) {
            return;
        }
        self.push(frame.clone());
    }

    /// Queues a control frame (exit code, error) whatever the bound: it is small
    /// and the last thing the client needs.
    pub fn send_control(&mut self, frame: &Frame) {
        if !self.dead {
            self.push(frame.encode().into());
        }
    }

    fn push(&mut self, frame: Encoded) {
        self.queued += frame.len();
        self.queue.push_back(frame);
        self.flush();
    }

    /// Writes queued frames until the socket would block; a failed write marks the
    /// client dead.
    pub fn flush(&mut self) {
        while let Some(front) = self.queue.front() {
            if self.dead {
                break;
            }
            match self.stream.write(&front[self.sent..]) {
                Ok(n) => {
                    self.sent += n;
                    self.queued -= n;
                    if self.sent == front.len() {
                        self.queue.pop_front();
                        self.sent = 0;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
        if self.dead || self.queue.is_empty() {
            // Give a lagging client's memory back once it caught up.
            self.queue = VecDeque::new();
            self.queued = 0;
            self.sent = 0;
        }
    }

    /// Reads what the client sent into its frame buffer; false when it went away.
    pub fn receive(&mut self) -> bool {
        let mut buf = [0u8; 16384];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(len) => {
                    self.frames.push(&buf[..len]);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// After the container exited: whether output (at least the exit frame) still
    /// waits for a client that is owed all of it.
    pub fn owed(&self) -> bool {
        self.foreground && self.wants_write()
    }
}

/// How long a foreground client may take nothing once its container is gone.
const STALLED_AFTER_MS: u16 = 60_000;

/// The container's exit is recorded and only a foreground client is still owed
/// its last output: deliver it at that client's pace, until it is all written or
/// the client goes away. Nothing else depends on the monitor any more. A client
/// that takes nothing for `STALLED_AFTER_MS` loses the rest: the monitor does not
/// outlive its container (after `rm -f`, say) for a reader that never reads.
pub fn deliver_rest(mut clients: Vec<Client>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        clients.retain(Client::owed);
        if clients.is_empty() {
            return;
        }
        let mut fds: Vec<PollFd> = clients
            .iter()
            .map(|c| PollFd::new(c.fd(), PollFlags::POLLOUT))
            .collect();
        match poll(&mut fds, PollTimeout::from(STALLED_AFTER_MS)) {
            Ok(0) => return,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
        drop(fds);
        for c in &mut clients {
            c.flush();
        }
    }
}

/// Input for the container's stdin pipe or terminal, written as it takes it.
#[derive(Default)]
pub struct StdinQueue {
    buf: VecDeque<u8>,
    /// A client ended its input: close the stdin pipe once the queue is written.
    pub eof: bool,
}

/// Where queued input goes.
pub enum StdinTarget<'a> {
    /// The pty master (non-blocking, owned by the monitor's `Io`).
    Pty(RawFd),
    Pipe(&'a std::fs::File),
}

/// What writing queued input came to.
#[derive(Debug, PartialEq, Eq)]
pub enum StdinWritten {
    /// Written what it took; the rest (if any) waits for writability.
    Pending,
    /// Everything written, and the input ended: close the pipe.
    Ended,
    /// The container's input is gone (its reader closed it): drop the queue.
    Broken,
}

impl StdinQueue {
    /// Whether the monitor should stop reading clients until the container reads.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= STDIN_BOUND
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend(data);
    }

    /// Writes queued input until the target would block.
    pub fn write_to(&mut self, target: StdinTarget) -> StdinWritten {
        while !self.buf.is_empty() {
            let (front, _) = self.buf.as_slices();
            let res = match &target {
                // SAFETY: the pty master stays open while the caller's `Io` holds it.
                StdinTarget::Pty(fd) => {
                    nix::unistd::write(unsafe { BorrowedFd::borrow_raw(*fd) }, front)
                }
                StdinTarget::Pipe(f) => nix::unistd::write(f.as_fd(), front),
            };
            match res {
                // A terminal whose output is stopped takes nothing: wait for the
                // next writable report rather than trying again at once.
                Ok(0) => return StdinWritten::Pending,
                Ok(n) => {
                    self.buf.drain(..n);
                }
                Err(Errno::EAGAIN) => return StdinWritten::Pending,
                Err(Errno::EINTR) => {}
                Err(_) => {
                    self.buf = VecDeque::new();
                    return StdinWritten::Broken;
                }
            }
        }
        self.buf = VecDeque::new();
        match self.eof {
            true => StdinWritten::Ended,
            false => StdinWritten::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(peer: &mut UnixStream) -> Vec<u8> {
        peer.set_nonblocking(true).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = peer.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    }

    fn frames_in(bytes: &[u8]) -> Vec<Frame> {
        let mut fb = FrameBuffer::default();
        fb.push(bytes);
        std::iter::from_fn(|| fb.next_frame().unwrap()).collect()
    }

    fn chunk(i: u8) -> Encoded {
        Frame::Stdout(vec![i; 8192]).encode().into()
    }

    #[test]
    fn a_viewer_that_does_not_read_loses_only_output_beyond_its_bound() {
        let (mine, mut peer) = UnixStream::pair().unwrap();
        let mut c = Client::new(mine, false);
        for i in 0..255u8 {
            c.send_output(&chunk(i));
        }
        assert!(!c.dead);
        assert!(c.queued <= OUTPUT_BOUND, "queued {}", c.queued);
        assert!(!c.holds_back_output());
        c.send_control(&Frame::Exit(3));
        // Whatever arrives is whole frames in order, then the exit.
        let mut got = Vec::new();
        while c.wants_write() {
            got.extend(drain(&mut peer));
            c.flush();
        }
        got.extend(drain(&mut peer));
        let frames = frames_in(&got);
        assert_eq!(frames.last(), Some(&Frame::Exit(3)));
        let firsts: Vec<u8> = frames[..frames.len() - 1]
            .iter()
            .map(|f| match f {
                Frame::Stdout(d) => d[0],
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert!(firsts.windows(2).all(|w| w[0] < w[1]));
        assert!(firsts.len() < 255, "nothing was dropped");
    }

    #[test]
    fn a_foreground_client_keeps_everything_and_holds_the_output_back() {
        let (mine, mut peer) = UnixStream::pair().unwrap();
        let mut c = Client::new(mine, true);
        let mut sent = 0;
        while !c.holds_back_output() {
            c.send_output(&chunk(sent as u8));
            sent += 1;
        }
        let mut got = Vec::new();
        while c.wants_write() {
            got.extend(drain(&mut peer));
            c.flush();
        }
        got.extend(drain(&mut peer));
        assert_eq!(frames_in(&got).len(), sent);
        assert!(!c.holds_back_output());
    }

    #[test]
    fn a_client_that_hung_up_is_marked_dead_not_removed() {
        let (mine, peer) = UnixStream::pair().unwrap();
        let mut c = Client::new(mine, false);
        drop(peer);
        c.send_output(&chunk(1));
        assert!(c.dead);
        assert!(!c.wants_write());
        assert!(!c.receive());
    }

    #[test]
    fn stdin_waits_for_a_reader_without_growing_past_its_bound() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let w = std::fs::File::from(w);
        crate::spawn::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&w));
        let mut q = StdinQueue::default();
        let mut fed = 0;
        while !q.is_full() {
            q.push(&[b'x'; 4096]);
            fed += 4096;
            assert_eq!(q.write_to(StdinTarget::Pipe(&w)), StdinWritten::Pending);
        }
        // The pipe holds 64 KiB, the queue its bound: then the feeder must wait.
        assert!(fed >= 64 * 1024 + STDIN_BOUND);
        q.eof = true;
        // The container reads: everything arrives, then the queue says "close".
        let mut r = std::fs::File::from(r);
        let mut buf = vec![0u8; 65536];
        let mut read = 0;
        let end = loop {
            read += r.read(&mut buf).unwrap();
            match q.write_to(StdinTarget::Pipe(&w)) {
                StdinWritten::Pending => continue,
                other => break other,
            }
        };
        assert_eq!(end, StdinWritten::Ended);
        drop(w);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(read + rest.len(), fed);
    }

    #[test]
    fn stdin_to_a_closed_reader_is_dropped() {
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        let w = std::fs::File::from(w);
        let mut q = StdinQueue::default();
        q.push(b"lost");
        assert_eq!(q.write_to(StdinTarget::Pipe(&w)), StdinWritten::Broken);
        assert!(q.is_empty());
    }
}
