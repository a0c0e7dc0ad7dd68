//! The `prism-operator` binary run as a child process.

use std::process::{Child, Command, Stdio};

/// A `prism-operator run` child process, killed on drop.
pub struct Proc {
    child: Child,
    pub metrics: u16,
    pub health: u16,
}

impl Proc {
    pub fn start(kubeconfig: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::spawn(kubeconfig, args, envs, Stdio::null())
    }

    /// Like [`Proc::start`], appending its log (stderr) to `log`.
    pub fn start_logging(
        kubeconfig: &std::path::Path,
        args: &[&str],
        envs: &[(&str, &str)],
        log: &std::path::Path,
    ) -> Self {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open the operator log");
        Self::spawn(kubeconfig, args, envs, Stdio::from(file))
    }

    fn spawn(kubeconfig: &std::path::Path, args: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Self {
        let (metrics, health) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_prism-operator"))
            .arg("run")
            .args(["--metrics-bind-address", &format!("127.0.0.1:{metrics}")])
            .args(["--health-probe-bind-address", &format!("127.0.0.1:{health}")])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("LOG_LEVEL", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start prism-operator");
        Self { child, metrics, health }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([&format!("-{signal}"), &self.pid().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    /// How it exited, once it has.
    pub fn exit_status(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    /// SIGKILL, and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// GET `path` from 127.0.0.1:`port` (HTTP/1.0): the status code and the body.
pub async fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.map_err(|e| e.to_string())?;
    let code = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("no status line")?;
    Ok((code, out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}
