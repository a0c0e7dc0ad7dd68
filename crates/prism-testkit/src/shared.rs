//! The control plane shared by all tests of one test binary. Started lazily on first use, on a
//! dedicated thread with its own runtime (libtest gives every `#[tokio::test]` its own runtime,
//! and the first one may end while others still use the control plane). Never stopped
//! explicitly: static destructors do not run at exit, so the kernel kills the components when the
//! test process ends (parent-death signal) and the next run removes the data directory.

use std::sync::OnceLock;

use crate::{ControlPlane, ControlPlaneOptions, Error};

static SHARED: OnceLock<Result<ControlPlane, Error>> = OnceLock::new();

/// The shared control plane, or the error its start failed with (every caller sees the same).
pub async fn try_shared() -> Result<&'static ControlPlane, &'static Error> {
    if let Some(started) = SHARED.get() {
        return started.as_ref();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("prism-testkit-shared".into()).spawn(move || {
        // Blocks while another thread is starting it, then returns that result.
        let _ = tx.send(SHARED.get_or_init(start_on_own_runtime));
    });
    if let Err(e) = spawned {
        return SHARED.get_or_init(|| Err(Error::StartSharedRuntime(e))).as_ref();
    }
    match rx.await {
        Ok(started) => started.as_ref(),
        Err(_) => panic!("the thread starting the shared control plane panicked"),
    }
}

/// The shared control plane. Panics with the start error, which is what a test wants.
pub async fn shared() -> &'static ControlPlane {
    match try_shared().await {
        Ok(cp) => cp,
        Err(e) => panic!("the shared control plane failed to start: {}", error_chain(e)),
    }
}

fn start_on_own_runtime() -> Result<ControlPlane, Error> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::StartSharedRuntime)?;
    runtime.block_on(ControlPlane::start(ControlPlaneOptions::default()))
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
