//! A container's resource figures read from its cgroup, on either cgroup layout,
//! behind one trait (`CgroupStats`) so each layout's parsing is tested on fake
//! trees. v1: `memory`, `cpuacct`, `pids` and `blkio` hierarchies, each with the
//! container's `berth/<id>`; v2: the one `berth/<id>` directory (a system
//! container's processes are in its `container` child, counted with the rest).

use std::path::{Path, PathBuf};

/// Memory as docker shows it: usage without the inactive page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    pub usage: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
}

/// One container's cgroup, whatever the layout.
pub trait CgroupStats {
    fn memory(&self) -> Option<Memory>;
    /// CPU time used, in nanoseconds.
    fn cpu_ns(&self) -> Option<u64>;
    fn pids(&self) -> Option<u64>;
    /// (read, written) bytes on block devices.
    fn block_io(&self) -> (u64, u64);
    /// Every process in the cgroup and below it.
    fn procs(&self) -> Vec<i32>;
}

/// cgroup v1: the container's directory in each controller's hierarchy.
pub struct V1 {
    pub memory: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub pids: Option<PathBuf>,
    pub blkio: Option<PathBuf>,
}

/// cgroup v2: the container's directory.
pub struct V2 {
    pub dir: PathBuf,
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn number(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// v1 reports an unlimited cgroup as a huge page-aligned number.
const V1_UNLIMITED: u64 = 1 << 62;

impl CgroupStats for V1 {
    fn memory(&self) -> Option<Memory> {
        let dir = self.memory.as_deref()?;
        let usage = number(dir, "memory.usage_in_bytes")?;
        let inactive = read(dir, "memory.stat")
            .and_then(|s| keyed(&s, "total_inactive_file"))
            .unwrap_or(0);
        let limit = number(dir, "memory.limit_in_bytes").filter(|l| *l < V1_UNLIMITED);
        Some(Memory {
            usage: usage.saturating_sub(if inactive < usage { inactive } else { 0 }),
            limit,
        })
    }

    fn cpu_ns(&self) -> Option<u64> {
        number(self.cpuacct.as_deref()?, "cpuacct.usage")
    }

    fn pids(&self) -> Option<u64> {
        number(self.pids.as_deref()?, "pids.current")
    }

    fn block_io(&self) -> (u64, u64) {
        let Some(dir) = self.blkio.as_deref() else {
            return (0, 0);
        };
        // The throttle files count every device; the others only under CFQ/BFQ.
        [
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes",
            "blkio.io_service_bytes_recursive",
        ]
        .iter()
        .find_map(|f| read(dir, f))
        .map(|t| v1_blkio(&t))
        .unwrap_or((0, 0))
    }

    fn procs(&self) -> Vec<i32> {
        let dir = self.pids.as_deref().or(self.memory.as_deref());
        dir.map(all_procs).unwrap_or_default()
    }
}

/// `8:0 Read 4096` lines.
fn v1_blkio(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [_, op, n] = f[..] {
            let n: u64 = n.parse().unwrap_or(0);
            match op {
                "Read" => r += n,
                "Write" => w += n,
                _ => {}
            }
        }
    }
    (r, w)
}

impl CgroupStats for V2 {
    fn memory(&self) -> Option<Memory> {
        let usage = number(&self.dir, "memory.current")?;
        let inactive = read(&self.dir, "memory.stat")
            .and_then(|s| keyed(&s, "inactive_file"))
            .unwrap_or(0);
        let limit = read(&self.dir, "memory.max").and_then(|s| s.trim().parse().ok());
        Some(Memory {
            usage: usage.saturating_sub(if inactive < usage { inactive } else { 0 }),
            limit,
        })
    }

    fn cpu_ns(&self) -> Option<u64> {
        keyed(&read(&self.dir, "cpu.stat")?, "usage_usec").map(|us| us * 1000)
    }

    fn pids(&self) -> Option<u64> {
        number(&self.dir, "pids.current")
    }

    fn block_io(&self) -> (u64, u64) {
        let (mut r, mut w) = (0, 0);
        for l in read(&self.dir, "io.stat").unwrap_or_default().lines() {
            for field in l.split_whitespace().skip(1) {
                match field.split_once('=') {
                    Some(("rbytes", n)) => r += n.parse().unwrap_or(0),
                    Some(("wbytes", n)) => w += n.parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        (r, w)
    }

    fn procs(&self) -> Vec<i32> {
        all_procs(&self.dir)
    }
}

/// `cgroup.procs` of `dir` and of every cgroup below it (systemd in a container
/// makes its own), sorted.
fn all_procs(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = read(dir, "cgroup.procs")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            pids.extend(all_procs(&e.path()));
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn reads_a_v1_tree() {
        let t = tempfile::tempdir().unwrap();
        let c = |h: &str| t.path().join(h).join("berth/abc");
        write(&c("memory"), "memory.usage_in_bytes", "10485760\n");
        write(
            &c("memory"),
            "memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            &c("memory"),
            "memory.stat",
            "cache 0\ntotal_inactive_file 1048576\n",
        );
        write(&c("cpu,cpuacct"), "cpuacct.usage", "123456789\n");
        write(&c("pids"), "pids.current", "3\n");
        write(&c("pids"), "cgroup.procs", "40\n41\n");
        write(&c("pids").join("sub"), "cgroup.procs", "42\n");
        write(
            &c("blkio"),
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\n8:16 Read 1\n8:0 Total 12288\nTotal 12289\n",
        );
        let v1 = V1 {
            memory: Some(c("memory")),
            cpuacct: Some(c("cpu,cpuacct")),
            pids: Some(c("pids")),
            blkio: Some(c("blkio")),
        };
        assert_eq!(
            v1.memory(),
            Some(Memory {
                usage: 9437184,
                limit: None
            })
        );
        write(&c("memory"), "memory.limit_in_bytes", "67108864\n");
        assert_eq!(v1.memory().unwrap().limit, Some(67108864));
        assert_eq!(v1.cpu_ns(), Some(123456789));
        assert_eq!(v1.pids(), Some(3));
        assert_eq!(v1.block_io(), (4097, 8192));
        assert_eq!(v1.procs(), vec![40, 41, 42]);
        let none = V1 {
            memory: None,
            cpuacct: None,
            pids: None,
            blkio: None,
        };
        assert_eq!((none.memory(), none.block_io()), (None, (0, 0)));
    }

    #[test]
    fn reads_a_v2_tree() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("berth/abc");
        write(&dir, "memory.current", "5000000\n");
        write(&dir, "memory.max", "max\n");
        write(
            &dir,
            "memory.stat",
            "anon 1\ninactive_file 1000000\nactive_file 3\n",
        );
        write(&dir, "cpu.stat", "usage_usec 2500\nuser_usec 2000\n");
        write(&dir, "pids.current", "2\n");
        write(&dir, "cgroup.procs", "");
        write(&dir.join("container"), "cgroup.procs", "7\n9\n");
        write(
            &dir,
            "io.stat",
            "254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=2\n",
        );
        let v2 = V2 { dir: dir.clone() };
        assert_eq!(
            v2.memory(),
            Some(Memory {
                usage: 4000000,
                limit: None
            })
        );
        write(&dir, "memory.max", "268435456\n");
        assert_eq!(v2.memory().unwrap().limit, Some(268435456));
        assert_eq!(v2.cpu_ns(), Some(2_500_000));
        assert_eq!(v2.pids(), Some(2));
        assert_eq!(v2.block_io(), (101, 202));
        assert_eq!(v2.procs(), vec![7, 9]);
    }
}
