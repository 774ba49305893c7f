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
    for (start, end) in clean_file_mappings(&smaps) {
        // SAFETY: the range is a whole mapping of ours holding only clean file pages;
        // dropping them changes no data (see the module comment).
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            // Without this, every page faulted back in brings up to 15 neighbours
            // with it ("fault-around"), and the loop's few code pages become a MB.
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_RANDOM);
        }
    }
}

/// (start, end) of file-backed mappings with no anonymous pages and no dirty pages.
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
        if matches!(
            key,
            "Anonymous:" | "Private_Dirty:" | "Shared_Dirty:" | "Swap:"
        ) && value != "0"
        {
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
    fn releasing_keeps_the_process_working() {
        release_startup_memory();
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        assert!(
            format!("{:?}", std::fs::read_to_string("/proc/self/status").is_ok()).contains("true")
        );
    }
}
