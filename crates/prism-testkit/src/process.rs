//! Child processes of the control plane: spawning them so the kernel kills them with us, noticing
//! when one dies early, and stopping them (SIGTERM, short wait, SIGKILL).
//!
//! Every child is started as `setpriv --pdeathsig KILL -- <binary> ...`. PR_SET_PDEATHSIG fires
//! when the *thread* that forked the child exits, not the process, so all forks happen on one
//! spawner thread that lives as long as the process (its channel's sender sits in a static and is
//! never dropped). Short-lived tokio workers never fork. This module does not know what the
//! processes are; `components` builds their command lines.

use std::{
    ffi::OsString,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, OnceLock, mpsc},
    thread,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};

use crate::Error;

/// The util-linux tool that sets the parent-death signal and then execs the real binary.
const SETPRIV: &str = "setpriv";
/// How long a stopping process gets between SIGTERM and SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
/// How many log lines an early-exit error quotes.
const LOG_TAIL_LINES: usize = 40;
/// How much of the end of a log file is read to find those lines.
const LOG_TAIL_BYTES: u64 = 64 * 1024;
const EXIT_POLL: Duration = Duration::from_millis(20);

type SpawnReply = mpsc::Sender<std::io::Result<Child>>;

static SPAWNER: OnceLock<Mutex<mpsc::Sender<(Command, SpawnReply)>>> = OnceLock::new();

/// Returns the sender of the process-wide spawner thread, starting the thread on first use.
fn spawner() -> Result<&'static Mutex<mpsc::Sender<(Command, SpawnReply)>>, Error> {
    if let Some(sender) = SPAWNER.get() {
        return Ok(sender);
    }
    let (tx, rx) = mpsc::channel::<(Command, SpawnReply)>();
    // Two callers may race here; the loser's thread sees its channel close and exits at once,
    // before it ever forks, so it can never take children with it.
    thread::Builder::new()
        .name("prism-testkit-spawner".into())
        .spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
        })
        .map_err(Error::StartSpawner)?;
    Ok(SPAWNER.get_or_init(|| Mutex::new(tx)))
}

/// What to run and where its output goes.
#[derive(Clone, Debug)]
pub(crate) struct ProcessSpec {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    pub log: PathBuf,
}

/// A running child that is killed when this value is dropped.
#[derive(Debug)]
pub(crate) struct ManagedProcess {
    spec: ProcessSpec,
    child: Child,
}

impl ManagedProcess {
    /// Spawns the process on the spawner thread, with stdout and stderr appended to its log.
    pub(crate) fn spawn(spec: ProcessSpec) -> Result<Self, Error> {
        let spawn_error =
            |source| Error::SpawnProcess { name: spec.name.to_owned(), program: spec.program.clone(), source };
        let log = File::options().create(true).append(true).open(&spec.log).map_err(Error::write_file(&spec.log))?;
        let log_err = log.try_clone().map_err(Error::write_file(&spec.log))?;
        let mut command = Command::new(SETPRIV);
        command
            .arg("--pdeathsig")
            .arg("KILL")
            .arg("--")
            .arg(&spec.program)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let (reply_tx, reply_rx) = mpsc::channel();
        let sent = spawner()?
            .lock()
            .map_err(|_| spawn_error(std::io::Error::other("spawner lock poisoned")))?
            .send((command, reply_tx));
        sent.map_err(|_| spawn_error(std::io::Error::other("spawner thread is gone")))?;
        let child = reply_rx
            .recv()
            .map_err(|_| spawn_error(std::io::Error::other("spawner thread dropped the request")))?
            .map_err(spawn_error)?;
        tracing::debug!(name = spec.name, pid = child.id(), log = %spec.log.display(), "spawned");
        Ok(Self { spec, child })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.spec.name
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the tail of the log if the process has exited.
    pub(crate) fn ensure_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::ProcessExited {
                name: self.spec.name.to_owned(),
                status,
                log: self.spec.log.clone(),
                tail: log_tail(&self.spec.log),
            }),
            // try_wait only fails if the child was already reaped, which we never do elsewhere.
            Err(e) => {
                tracing::warn!(name = self.spec.name, error = %e, "cannot poll process");
                Ok(())
            }
        }
    }

    fn send_term(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = Pid::from_child(&self.child);
            if let Err(e) = kill_process(pid, Signal::TERM) {
                tracing::debug!(name = self.spec.name, error = %e, "SIGTERM failed");
            }
        }
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    fn kill_and_reap(&mut self) {
        if !self.exited() {
            tracing::warn!(name = self.spec.name, "did not stop after SIGTERM; sending SIGKILL");
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Blocks the calling thread.
    pub(crate) fn stop(mut self, grace: Duration) {
        stop_all(std::slice::from_mut(&mut self), grace);
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        // Normal paths stop processes gracefully first; this is the last line of defence.
        if !self.exited() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Stops all processes together: SIGTERM to each, one shared wait of up to `grace`, then
/// SIGKILL to whatever is left. Blocks the calling thread.
pub(crate) fn stop_all(procs: &mut [ManagedProcess], grace: Duration) {
    for p in procs.iter_mut() {
        p.send_term();
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter_mut().any(|p| !p.exited()) {
        thread::sleep(EXIT_POLL);
    }
    for p in procs.iter_mut() {
        p.kill_and_reap();
        tracing::debug!(name = p.name(), "stopped");
    }
}

/// The last lines of a log file, or a note saying why they cannot be shown.
pub(crate) fn log_tail(path: &Path) -> String {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("<cannot open log: {e}>"),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > LOG_TAIL_BYTES {
        let _ = file.seek(SeekFrom::Start(len - LOG_TAIL_BYTES));
    }
    let mut bytes = Vec::new();
    if let Err(e) = file.read_to_end(&mut bytes) {
        return format!("<cannot read log: {e}>");
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// Whether a process with this pid exists and started at `start_time` (clock ticks after boot,
/// field 22 of /proc/<pid>/stat), which tells a live owner from a recycled pid.
pub(crate) fn process_alive(pid: u32, start_time: Option<u64>) -> bool {
    match (proc_start_time(pid), start_time) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(actual), Some(expected)) => actual == expected,
    }
}

/// Start time of a process in clock ticks after boot, from /proc/<pid>/stat.
pub(crate) fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces; fields after the last
    // ')' start at field 3, so start time (field 22) is the 20th of them.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}
