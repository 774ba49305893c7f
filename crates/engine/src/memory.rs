//! Gives back the memory a monitor only needed to start its container, and what
//! its event loop touched since it last slept.
//!
//! A monitor is the whole berth binary (SQLite, libcontainer, clap…), but once the
//! container runs it only polls, logs and serves attach. Pages of file mappings that
//! were never written are identical to the file, so dropping them with
//! MADV_DONTNEED is safe: touching them again faults them back in from the page
//! cache. Mappings with any anonymous (copied-on-write) page are left alone, since
//! dropping those would lose data.
//!
//! The drop and the sleep are one step ([`IdleMemory::poll`]): whatever code runs
//! between them faults back in, and the kernel maps 64 kB around each faulting page
//! (fault-around, which `MADV_RANDOM` does not stop). A release followed by ordinary
//! Rust and libc calls on the way to `poll(2)` left about a dozen such windows
//! (660–720 kB) resident; issuing the `madvise` calls and the `poll` from one small
//! function with raw system calls leaves one.

use std::cell::Cell;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollTimeout};

/// How often a busy monitor gives memory back, at most.
const RELEASE_EVERY: Duration = Duration::from_secs(1);

/// Paces the monitor's releases: an idle monitor gives back what it touched and
/// then sleeps with no timeout of its own; a busy one releases at most once a
/// second, after a burst rather than during it.
/// (Cells: the loop polls with its pollfds still borrowing the rest of its state.)
pub struct IdleMemory {
    last: Cell<Instant>,
    due: Cell<bool>,
}

impl IdleMemory {
    /// Counts from now: a container that exits within the first second never pays
    /// for a release whose pages would only fault back in for its teardown.
    pub fn new() -> Self {
        IdleMemory {
            last: Cell::new(Instant::now()),
            due: Cell::new(false),
        }
    }

    /// Releases at the next sleep, however recent the last release.
    pub fn release_soon(&self) {
        self.due.set(true);
    }

    /// Whether the next [`IdleMemory::poll`] starts with a release.
    pub fn release_is_due(&self) -> bool {
        self.due.get() || self.last.get().elapsed() >= RELEASE_EVERY
    }

    /// `poll(2)` on `fds` for at most `timeout` (None: until an fd is ready). When a
    /// release is due the sleep starts with it; otherwise it is cut short at the
    /// moment one falls due (returning 0, like a timeout), so the caller's loop
    /// comes round and releases before sleeping on.
    pub fn poll(&self, fds: &mut [PollFd], timeout: Option<Duration>) -> nix::Result<i32> {
        let since = self.last.get().elapsed();
        if !self.release_is_due() {
            let until_due = RELEASE_EVERY.saturating_sub(since);
            let wait = timeout.map_or(until_due, |t| t.min(until_due));
            return nix::poll::poll(fds, timeout_of(Some(wait)));
        }
        self.due.set(false);
        self.last.set(Instant::now());
        let ranges = prepare_release();
        let timeout = i32::from(timeout_of(timeout));
        // PollFd is repr(transparent) over libc::pollfd.
        let ret = unsafe {
            // SAFETY: the ranges are clean file mappings (see `clean_file_mappings`),
            // found just now by this thread; `fds` is a live slice of pollfds.
            drop_pages_and_poll(&ranges, fds.as_mut_ptr().cast(), fds.len(), timeout)
        };
        match ret {
            r if r < 0 => Err(nix::errno::Errno::from_raw(-r as i32)),
            r => Ok(r as i32),
        }
    }
}

impl Default for IdleMemory {
    fn default() -> Self {
        Self::new()
    }
}

/// Milliseconds for poll(2), rounded up so a due time is not missed by a hair.
fn timeout_of(timeout: Option<Duration>) -> PollTimeout {
    match timeout {
        None => PollTimeout::NONE,
        Some(t) => {
            let ms = t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Gives back the free heap and the dead stack, and returns the file mappings to
/// drop (all of which the caller must drop with nothing in between that writes them).
fn prepare_release() -> Vec<(usize, usize)> {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Vec::new();
    };
    release_dead_stack(&smaps);
    clean_file_mappings(&smaps)
}

/// `madvise(MADV_DONTNEED)` on each range, then `poll(2)`, with no call into code
/// that the drop may have just unmapped: only this function's own page faults
/// back in before the sleep. Returns poll's result or a negated errno.
///
/// # Safety
/// Each range must be a mapping whose pages may be dropped (clean file pages), and
/// `fds`/`nfds` a valid pollfd array.
#[inline(never)]
unsafe fn drop_pages_and_poll(
    ranges: &[(usize, usize)],
    fds: *mut libc::pollfd,
    nfds: usize,
    timeout_ms: i32,
) -> isize {
    for &(start, end) in ranges {
        // SAFETY: per the function's contract.
        unsafe {
            syscall3(
                libc::SYS_madvise,
                start,
                end.wrapping_sub(start),
                libc::MADV_DONTNEED as usize,
            )
        };
    }
    // SAFETY: poll(2) on the caller's pollfd array.
    unsafe {
        syscall3(
            libc::SYS_poll,
            fds as usize,
            nfds,
            timeout_ms as isize as usize,
        )
    }
}

/// A raw three-argument system call, inlined into its caller so no call into
/// other code (which a drop may have just unmapped) happens around it.
///
/// # Safety
/// As the system call `nr` requires of its arguments.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn syscall3(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller's; `syscall` clobbers only rcx and r11 besides rax.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Elsewhere, through libc's `syscall` (a call into code the drop may have just
/// unmapped: a window or two more stays resident). Returns a negated errno on
/// failure, as the raw call does.
///
/// # Safety
/// As the x86_64 version.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn syscall3(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: the caller's.
    match unsafe { libc::syscall(nr, a, b, c) } {
        -1 => {
            -(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINTR) as isize)
        }
        n => n as isize,
    }
}

/// Starting a container runs deep call chains (libcontainer, SQLite); the stack
/// pages below the current frame hold only dead frames now. Dropping them (with a
/// generous margin under our own frame) returns them; they come back zeroed if the
/// stack grows again. The margin covers what runs below this frame while it
/// works (the madvise call: well under a page) many times over; the 64 kB margin
/// it replaces kept about 12 kB more of an idle monitor resident (issue 11).
fn release_dead_stack(smaps: &str) {
    const MARGIN: usize = 16 * 1024;
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    let Some(start) = smaps
        .lines()
        .find(|l| l.ends_with("[stack]"))
        .and_then(|l| {
            let (s, _) = l.split_whitespace().next()?.split_once('-')?;
            usize::from_str_radix(s, 16).ok()
        })
    else {
        return;
    };
    let end = (sp.saturating_sub(MARGIN)) & !4095;
    if end > start {
        // SAFETY: [start, end) lies in our stack mapping well below the live frames.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// (start, end) of file-backed mappings with no anonymous or swapped pages.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize, bool)> = None; // (start, end, eligible)
    let finish = |c: Option<(usize, usize, bool)>, out: &mut Vec<(usize, usize)>| {
        if let Some((s, e, true)) = c {
            out.push((s, e));
        }
    };
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((s, e)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            finish(current.take(), &mut out);
            let path = line.split_whitespace().nth(5).unwrap_or("");
            let (Ok(s), Ok(e)) = (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16))
            else {
                continue;
            };
            current = Some((s, e, path.starts_with('/')));
            continue;
        }
        let mut parts = line.split_whitespace();
        let (key, value) = (parts.next().unwrap_or(""), parts.next().unwrap_or("0"));
        // Only copied-on-write (anonymous) or swapped pages hold data of ours. A
        // dirty page-cache page (a binary just written by the linker) is the file's:
        // unmapping it loses nothing.
        if matches!(key, "Anonymous:" | "Swap:") && value != "0" {
            if let Some(c) = current.as_mut() {
                c.2 = false;
            }
        }
    }
    finish(current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::PollFlags;
    use std::os::fd::AsFd;

    #[test]
    fn a_release_then_sleep_wakes_for_input_and_code_still_runs() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let memory = IdleMemory::new();
        memory.release_soon();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            nix::unistd::write(&w, b"x").unwrap();
        });
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        assert_eq!(memory.poll(&mut fds, None), Ok(1));
        assert!(fds[0].revents().unwrap().contains(PollFlags::POLLIN));
        writer.join().unwrap();
        // The dropped code and read-only data fault back in.
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
    }

    #[test]
    fn a_sleep_before_the_next_release_is_due_ends_when_it_falls_due() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let memory = IdleMemory::new();
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        let start = Instant::now();
        // No fd ready and no timeout of the caller's: back at the due time, so
        // the caller's loop releases before it sleeps for good.
        assert_eq!(memory.poll(&mut fds, None), Ok(0));
        assert!(start.elapsed() >= RELEASE_EVERY - Duration::from_millis(5));
        // Due now: the release sleeps with the caller's timeout.
        assert_eq!(
            memory.poll(&mut fds, Some(Duration::from_millis(10))),
            Ok(0)
        );
    }

    /// A release without the sleep, to see the process go on working after it.
    fn release_startup_memory() {
        for (start, end) in prepare_release() {
            // SAFETY: a whole file mapping with no page of its own (nothing copied on
            // write or swapped); dropping it changes no data (module comment).
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }

    #[test]
    fn only_clean_file_mappings_qualify() {
        let smaps = "\
55e8a98ba000-55e8a98bc000 r-xp 00000000 fd:00 123 /usr/bin/berth
Rss:                   8 kB
Anonymous:             0 kB
Private_Dirty:         0 kB
55e8a98bc000-55e8a98be000 rw-p 00002000 fd:00 123 /usr/bin/berth
Anonymous:             8 kB
Private_Dirty:         8 kB
7ffe4ec00000-7ffe4ec02000 rw-p 00000000 00:00 0 [heap]
Anonymous:             0 kB
VmFlags: rd wr mr mw me ac
";
        assert_eq!(
            clean_file_mappings(smaps),
            vec![(0x55e8a98ba000, 0x55e8a98bc000)]
        );
    }

    #[test]
    fn finds_this_binary_and_keeps_working_after_release() {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        assert!(
            !clean_file_mappings(&smaps).is_empty(),
            "the test binary's code is a clean file mapping"
        );
        release_startup_memory();
        // Code and data come back on demand.
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        assert!(std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .contains("VmRSS"));
    }
}
