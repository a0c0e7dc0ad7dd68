//! CPU time from `/proc`: of processes (utime + stime of `/proc/<pid>/stat`) and of the whole
//! machine (`/proc/stat`), sampled at the two ends of a window.

use std::time::Instant;

use anyhow::Context as _;

/// User plus system CPU time of a process so far, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> { Ok(fields.get(i).context("short stat")?.parse::<f64>()?) };
    // utime and stime are fields 14 and 15, i.e. indices 11 and 12 after the state field.
    Ok((ticks(11)? + ticks(12)?) / clock_ticks())
}

/// (busy, total) CPU seconds of the whole machine so far (all CPUs).
fn machine() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else { return (0.0, 0.0) };
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: f64 = v.iter().take(8).sum();
    // idle and iowait are the 4th and 5th.
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    ((total - idle) / clock_ticks(), total / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux unless configured otherwise).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU times at one moment.
#[derive(Clone, Debug)]
pub struct Sample {
    at: Instant,
    machine: (f64, f64),
    procs: Vec<f64>,
}

impl Sample {
    /// Samples the machine and each process of `pids` (a process that is gone counts 0).
    pub fn take(pids: &[u32]) -> Self {
        Self {
            at: Instant::now(),
            machine: machine(),
            procs: pids.iter().map(|p| cpu_seconds(*p).unwrap_or(0.0)).collect(),
        }
    }

    /// What happened between `self` and the later sample `end`.
    pub fn until(&self, end: &Self) -> Usage {
        let busy = end.machine.0 - self.machine.0;
        let total = end.machine.1 - self.machine.1;
        Usage {
            wall: (end.at - self.at).as_secs_f64(),
            machine_busy: if total > 0.0 { 100.0 * busy / total } else { 0.0 },
            procs: self.procs.iter().zip(&end.procs).map(|(a, b)| b - a).collect(),
        }
    }
}

/// CPU use over a window.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    /// Seconds.
    pub wall: f64,
    /// Percent of all CPUs busy (any process, including other users of the machine).
    pub machine_busy: f64,
    /// CPU seconds of each sampled process, in the order given.
    pub procs: Vec<f64>,
}
