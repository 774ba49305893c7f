//! Gives back the memory a monitor only needed to start its container, and what
//! its event loop touched since it last slept.
//!
//! A monitor is the whole berth binary (SQLite, libcontainer, clap…), but once the
//! container runs it only polls, logs and serves attach. Pages of file mappings that
//! were never written are identical to the file, so dropping them with
//! MADV_DONTNEED is safe: touching them again faults them back in from the page
//! cache. Mappings with any anonymous (copied-on-write) page are left alone, since
//! dropping those would lose data. This keeps a monitor's resident set near what its
//! event loop really uses.

pub fn release_startup_memory() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    release_dead_stack(&smaps);
    for (start, end) in clean_file_mappings(&smaps) {
        // SAFETY: the range is a whole file mapping with no page of its own (nothing
        // copied on write or swapped); dropping it changes no data (module comment).
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
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
