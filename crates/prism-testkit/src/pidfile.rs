//! Pid files for `prism-cluster`: which process owns a running cluster, whether it is still
//! alive (pid plus start time, so a recycled pid is not mistaken for it), and asking it to stop.

use std::{fs, io, path::Path};

use rustix::process::{Pid, Signal, kill_process};

use crate::{
    Error,
    process::{proc_start_time, process_alive},
};

/// A process identity as stored in a pid file: `<pid> <start time in clock ticks>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidFile {
    pub pid: u32,
    pub start_time: Option<u64>,
}

impl PidFile {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self { pid, start_time: proc_start_time(pid) }
    }

    /// Reads a pid file; `Ok(None)` if there is none or it is not ours to understand.
    pub fn read(path: &Path) -> Result<Option<Self>, Error> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::ReadFile { path: path.to_path_buf(), source });
            }
        };
        let mut fields = text.split_whitespace();
        let Some(pid) = fields.next().and_then(|p| p.parse().ok()) else {
            return Ok(None);
        };
        let start_time = fields.next().and_then(|s| s.parse().ok());
        Ok(Some(Self { pid, start_time }))
    }

    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = match self.start_time {
            Some(start) => format!("{} {start}\n", self.pid),
            None => format!("{}\n", self.pid),
        };
        fs::write(path, text).map_err(Error::write_file(path))
    }

    /// Whether the process this file names still runs.
    pub fn is_running(&self) -> bool {
        process_alive(self.pid, self.start_time)
    }

    /// Sends SIGTERM to the process.
    pub fn terminate(&self) -> io::Result<()> {
        let raw = i32::try_from(self.pid).map_err(io::Error::other)?;
        let pid = Pid::from_raw(raw).ok_or_else(|| io::Error::other("pid 0"))?;
        kill_process(pid, Signal::TERM).map_err(io::Error::from)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sees_itself_running() {
        let dir = std::env::temp_dir().join(format!("prism-pidfile-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pid");
        let me = PidFile::current();
        me.write(&path).unwrap();
        let read = PidFile::read(&path).unwrap().unwrap();
        assert_eq!(read, me);
        assert!(read.is_running());
        let recycled = PidFile { start_time: me.start_time.map(|s| s + 1), ..me };
        assert!(!recycled.is_running());
        fs::remove_dir_all(&dir).unwrap();
    }
}
