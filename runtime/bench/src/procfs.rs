//! Process CPU time and RSS from Linux `/proc`, and the signature-verification calibration.

use hanok_types::{Hash, SecretKey};
use std::time::{Duration, Instant};

/// Clock ticks per second of the `/proc/<pid>/stat` times: `USER_HZ`, which the kernel fixes
/// at 100 for user space on every architecture Linux supports today.
const TICKS_PER_SEC: f64 = 100.0;

/// Which process to watch: `/proc/self` or `/proc/<pid>`.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    root: String,
}

/// CPU seconds (user + system) of a process, and of each live thread whose name starts with a
/// prefix, at an instant.
#[derive(Debug, Clone)]
pub(crate) struct CpuSample {
    pub at: Instant,
    pub total_s: f64,
    /// (thread id, CPU seconds) of the prefixed threads.
    pub prefixed: Vec<(u64, f64)>,
}

impl Proc {
    pub fn this() -> Proc {
        Proc {
            root: "/proc/self".into(),
        }
    }

    pub fn pid(pid: u32) -> Proc {
        Proc {
            root: format!("/proc/{pid}"),
        }
    }

    /// Whether the process exists and `/proc` is readable.
    pub fn available(&self) -> bool {
        std::fs::metadata(format!("{}/stat", self.root)).is_ok()
    }

    /// Resident set size in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("{}/status", self.root)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// CPU time of the whole process (threads that exited included) and of its live threads
    /// named `prefix*`.
    pub fn cpu(&self, prefix: &str) -> Option<CpuSample> {
        let at = Instant::now();
        let total_s = stat_cpu_secs(&std::fs::read_to_string(format!("{}/stat", self.root)).ok()?)?;
        let mut prefixed = Vec::new();
        if let Ok(tasks) = std::fs::read_dir(format!("{}/task", self.root)) {
            for t in tasks.flatten() {
                let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
                    continue;
                };
                let p = t.path();
                let named = std::fs::read_to_string(p.join("comm"))
                    .map(|c| c.trim_end().starts_with(prefix))
                    .unwrap_or(false);
                if named {
                    if let Some(s) = std::fs::read_to_string(p.join("stat"))
                        .ok()
                        .as_deref()
                        .and_then(stat_cpu_secs)
                    {
                        prefixed.push((tid, s));
                    }
                }
            }
        }
        Some(CpuSample {
            at,
            total_s,
            prefixed,
        })
    }
}

/// utime + stime of a `stat` line, in seconds. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn stat_cpu_secs(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime(14) stime(15).
    let utime: f64 = f.nth(11)?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// CPU use between two samples, in percent of one core (200 = two cores busy): the whole
/// process, and the prefixed threads alive at the second sample (a thread that exited in
/// between is not counted; one born in between counts from zero).
pub(crate) fn cpu_percent(a: &CpuSample, b: &CpuSample) -> (f64, f64) {
    let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    let prefixed: f64 = b
        .prefixed
        .iter()
        .map(|(tid, later)| {
            let earlier = a
                .prefixed
                .iter()
                .find(|(t, _)| t == tid)
                .map_or(0.0, |(_, s)| *s);
            (later - earlier).max(0.0)
        })
        .sum();
    (
        100.0 * (b.total_s - a.total_s).max(0.0) / wall,
        100.0 * prefixed / wall,
    )
}

/// How many signature verifications one core does per second: a fixed low-S signature over a
/// fixed prehash, verified exactly as the node's stateless check does
/// ([`hanok_types::PublicKey::verify_prehash`]), in a loop on the calling thread for `length`.
pub(crate) fn verify_per_sec(length: Duration) -> f64 {
    let key = SecretKey::from_seed(b"hanok-bench/calibration");
    let public = key.public_key();
    let prehash = Hash::sha256(b"hanok bench calibration message");
    let sig = key.sign_prehash(&prehash);
    let start = Instant::now();
    let mut n: u64 = 0;
    let mut ok = true;
    while start.elapsed() < length || n == 0 {
        for _ in 0..32 {
            ok &= public
                .verify_prehash(std::hint::black_box(&prehash), std::hint::black_box(&sig))
                .is_ok();
        }
        n += 32;
    }
    let secs = start.elapsed().as_secs_f64();
    if !ok {
        return 0.0;
    }
    n as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_the_name() {
        let line = "42 (tokio runtime) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 2 3";
        assert_eq!(stat_cpu_secs(line), Some(3.0));
    }

    #[test]
    fn this_process_is_readable() {
        let p = Proc::this();
        assert!(p.available());
        assert!(p.rss_mib().is_some_and(|r| r > 0.0));
        assert!(p.cpu("").is_some());
    }

    #[test]
    fn calibration_verifies() {
        assert!(verify_per_sec(Duration::from_millis(20)) > 0.0);
    }
}
