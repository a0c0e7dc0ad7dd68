//! Waiting for readiness without fixed sleeps: poll a probe until it passes or a deadline
//! expires, checking on every round that no component has died (so a crash is reported at once,
//! with its log, instead of as a timeout).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::{Api, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;

const POLL: Duration = Duration::from_millis(100);
/// etcd's health endpoint answers with this when it can serve requests.
const ETCD_HEALTHY: &str = "\"health\":\"true\"";

/// Calls `probe` until it returns `Ok`, failing with the last `Err` text once `deadline` passes.
/// `alive` runs before each probe and aborts the wait with its error.
pub(crate) async fn poll_until<T>(
    what: &str,
    deadline: Instant,
    alive: &mut dyn FnMut() -> Result<(), Error>,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> Result<T, Error> {
    let started = Instant::now();
    loop {
        alive()?;
        let last = match probe().await {
            Ok(value) => {
                tracing::debug!(what, elapsed = ?started.elapsed(), "ready");
                return Ok(value);
            }
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(Error::WaitTimeout { what: what.to_owned(), timeout: started.elapsed(), last });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `probe` every 100 ms until it returns `Ok(value)`; after `timeout` fails with
/// [`Error::WaitTimeout`] quoting the probe's last `Err` text. The way to wait in tests: no fixed
/// sleeps, and a failure says what was last seen.
pub async fn wait_until<T>(
    what: &str,
    timeout: Duration,
    probe: impl AsyncFnMut() -> Result<T, String>,
) -> Result<T, Error> {
    poll_until(what, Instant::now() + timeout, &mut || Ok(()), probe).await
}

/// etcd's `/health` over plain HTTP on its client port.
pub(crate) async fn probe_etcd(port: u16) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("connect: {e}"))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await.map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(|e| format!("read: {e}"))?;
    if response.contains(ETCD_HEALTHY) { Ok(()) } else { Err(response.lines().last().unwrap_or_default().to_owned()) }
}

/// The apiserver's `/readyz` (all post-start hooks done, etcd reachable).
pub(crate) async fn probe_apiserver(client: &Client) -> Result<(), String> {
    let request = http::Request::get("/readyz").body(Vec::new()).map_err(|e| e.to_string())?;
    match client.request_text(request).await {
        Ok(body) if body.trim() == "ok" => Ok(()),
        Ok(body) => Err(body),
        Err(e) => Err(e.to_string()),
    }
}

/// The `default` ServiceAccount of a namespace, which the controller-manager creates: its
/// presence proves the controller-manager runs and can write.
pub(crate) async fn probe_default_service_account(client: &Client, namespace: &str) -> Result<(), String> {
    match Api::<ServiceAccount>::namespaced(client.clone(), namespace).get_opt("default").await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("no ServiceAccount default in namespace {namespace} yet")),
        Err(e) => Err(e.to_string()),
    }
}
