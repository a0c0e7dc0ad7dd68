//! Figures beside their targets: the JSON results file, the Markdown table (stdout and
//! `docs/performance.md`), and the facts about the machine and versions that go with them.

use std::{fmt::Write as _, path::Path};

use anyhow::Context as _;
use serde_json::{Value, json};

/// A figure's target. The bench reports misses; it never fails because of one.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    AtMost(f64),
    Below(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Self::AtMost(t) => value <= t,
            Self::Below(t) => value < t,
        }
    }

    fn text(self) -> String {
        match self {
            Self::AtMost(0.0) => "0".to_owned(),
            Self::AtMost(t) => format!("<= {}", num(t)),
            Self::Below(t) => format!("< {}", num(t)),
        }
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub target: Option<Target>,
    /// Number of PrismPatterns the figure was measured at.
    pub n: usize,
    /// What a reader needs to read the figure right (window length, sample count, ...).
    pub note: String,
}

impl Figure {
    pub fn new(name: &str, value: f64, unit: &'static str, n: usize) -> Self {
        Self { name: name.to_owned(), value, unit, target: None, n, note: String::new() }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    fn met(&self) -> Option<bool> {
        self.target.map(|t| t.met(self.value))
    }

    fn json(&self, mode: &str) -> Value {
        json!({
            "name": self.name, "value": round(self.value), "unit": self.unit,
            "target": self.target.map(Target::text), "met": self.met(),
            "n": self.n, "mode": mode, "note": self.note,
        })
    }
}

/// The machine and software a run measured.
#[derive(Clone, Debug)]
pub struct Context {
    pub mode: String,
    pub date: String,
    pub cpus: usize,
    pub memory: String,
    pub cpu_model: String,
    pub load_before: String,
    pub load_after: String,
    pub versions: Vec<(String, String)>,
    pub duration_secs: f64,
    pub command: String,
}

impl Context {
    /// Reads nproc, memory, CPU model and load average from the kernel.
    pub fn machine(mode: &str, command: String) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_owned())
        };
        let memory = field(&read("/proc/meminfo"), "MemTotal")
            .and_then(|kb| kb.trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or_else(|| "unknown".to_owned(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
        Self {
            mode: mode.to_owned(),
            date: k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string(),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory,
            cpu_model: field(&read("/proc/cpuinfo"), "model name").unwrap_or_else(|| "unknown".to_owned()),
            load_before: loadavg(),
            load_after: String::new(),
            versions: Vec::new(),
            duration_secs: 0.0,
            command,
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The Markdown table of figures.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::from("| Figure | N | Value | Target | Met | Note |\n|---|---:|---:|---|---|---|\n");
    for f in figures {
        let met = match f.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let target = f.target.map(Target::text).unwrap_or_default();
        let _ =
            writeln!(out, "| {} | {} | {} {} | {} | {} | {} |", f.name, f.n, num(f.value), f.unit, target, met, f.note);
    }
    out
}

/// Writes the JSON results file.
pub fn write_json(
    path: &Path,
    ctx: &Context,
    figures: &[Figure],
    diagnostics: &[Figure],
    extra: Value,
) -> anyhow::Result<()> {
    let doc = json!({
        "mode": ctx.mode, "date": ctx.date, "duration_seconds": round(ctx.duration_secs),
        "machine": {"cpus": ctx.cpus, "memory": ctx.memory, "cpu_model": ctx.cpu_model,
            "load_before": ctx.load_before, "load_after": ctx.load_after},
        "versions": ctx.versions.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "figures": figures.iter().map(|f| f.json(&ctx.mode)).collect::<Vec<_>>(),
        "diagnostics": diagnostics.iter().map(|f| f.json(&ctx.mode)).collect::<Vec<_>>(),
        "details": extra,
    });
    write(path, &(serde_json::to_string_pretty(&doc)? + "\n"))
}

/// Writes `docs/performance.md`: the table, the machine, the versions, how to reproduce, and
/// `details` (Markdown the caller prepared: request breakdowns and method notes).
pub fn write_markdown(path: &Path, ctx: &Context, figures: &[Figure], details: &str) -> anyhow::Result<()> {
    let mut md = String::new();
    let _ = write!(
        md,
        "# Performance\n\n\
         Generated by `prism-bench` (`crates/prism-bench`) on {date}, **{mode} mode**, in {minutes:.1} minutes. \
         Do not edit by hand: run the bench again.\n\n\
         The bench starts its own local control plane (etcd, kube-apiserver, kube-controller-manager, \
         kube-scheduler, kwok) and runs the real `prism-operator` binary against it. The machine is shared \
         and noisy, so the converge and latency targets are ratios against the API server's own floors \
         measured in the same run. A missed target is reported, it does not fail the run.\n\n\
         ## Results\n\n{table}\n",
        date = ctx.date,
        mode = ctx.mode,
        minutes = ctx.duration_secs / 60.0,
        table = table(figures),
    );
    md.push_str(details);
    let _ = write!(
        md,
        "\n## Machine\n\n\
         | | |\n|---|---|\n| CPUs (nproc) | {} |\n| Memory | {} |\n| CPU model | {} |\n\
         | Load average before / after (1, 5, 15 min) | {} / {} |\n",
        ctx.cpus, ctx.memory, ctx.cpu_model, ctx.load_before, ctx.load_after
    );
    md.push_str("\n## Versions\n\n| | |\n|---|---|\n");
    for (k, v) in &ctx.versions {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = write!(
        md,
        "\n## Reproduce\n\n\
         ```bash\nmake bench         # full mode (N = 100, 1,000 and 5,000; 60 s steady-state window)\n\
         make bench-quick   # CI mode (N = 100 and 1,000; 20 s steady-state window)\n```\n\n\
         Both build the operator and the bench with `cargo build --release` first (they honour \
         `CARGO_TARGET_DIR`) and write `target/bench/results.json` and this file. This run: `{}`.\n",
        ctx.command
    );
    write(path, &md)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// A number with at most 3 significant decimals.
pub fn num(v: f64) -> String {
    let r = round(v);
    if r.fract() == 0.0 && r.abs() < 1e15 { format!("{}", r as i64) } else { format!("{r}") }
}

fn round(v: f64) -> f64 {
    let scale = if v.abs() >= 100.0 {
        10.0
    } else if v.abs() >= 1.0 {
        100.0
    } else {
        1000.0
    };
    (v * scale).round() / scale
}
