//! The control plane shared by all tests of one test binary. Started lazily on first use, on a
//! dedicated thread with its own runtime (libtest gives every `#[tokio::test]` its own runtime,
//! and the first one may end while others still use the control plane). Never stopped
//! explicitly: static destructors do not run at exit, so the kernel kills the components when the
//! test process ends (parent-death signal) and the next run removes the data directory.

use std::sync::OnceLock;

use crate::{ControlPlane, ControlPlaneOptions, Error};

type Shared = OnceLock<Result<ControlPlane, Error>>;

static SHARED: Shared = OnceLock::new();
static SHARED_AUTOSCALED: Shared = OnceLock::new();

/// The shared control plane, or the error its start failed with (every caller sees the same).
pub async fn try_shared() -> Result<&'static ControlPlane, &'static Error> {
    get_or_start(&SHARED, false).await
}

/// The shared control plane. Panics with the start error, which is what a test wants.
pub async fn shared() -> &'static ControlPlane {
    unwrap_started(try_shared().await)
}

/// The shared control plane with the real autoscalers (metrics-server and KEDA with its
/// webhooks; [`ControlPlaneOptions::autoscalers`]). Panics with the start error.
pub async fn shared_autoscaled() -> &'static ControlPlane {
    unwrap_started(get_or_start(&SHARED_AUTOSCALED, true).await)
}

fn unwrap_started(started: Result<&'static ControlPlane, &'static Error>) -> &'static ControlPlane {
    match started {
        Ok(cp) => cp,
        Err(e) => panic!("the shared control plane failed to start: {}", error_chain(e)),
    }
}

async fn get_or_start(cell: &'static Shared, autoscalers: bool) -> Result<&'static ControlPlane, &'static Error> {
    if let Some(started) = cell.get() {
        return started.as_ref();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("prism-testkit-shared".into()).spawn(move || {
        // Blocks while another thread is starting it, then returns that result.
        let _ = tx.send(cell.get_or_init(|| start_on_own_runtime(autoscalers)));
    });
    if let Err(e) = spawned {
        return cell.get_or_init(|| Err(Error::StartSharedRuntime(e))).as_ref();
    }
    match rx.await {
        Ok(started) => started.as_ref(),
        Err(_) => panic!("the thread starting the shared control plane panicked"),
    }
}

fn start_on_own_runtime(autoscalers: bool) -> Result<ControlPlane, Error> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::StartSharedRuntime)?;
    runtime.block_on(ControlPlane::start(ControlPlaneOptions { autoscalers, ..ControlPlaneOptions::default() }))
}

/// The error and all its sources, one per line.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}
