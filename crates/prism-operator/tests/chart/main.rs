//! The deployment manifests on the local control plane: the Helm chart (lint, render, install,
//! upgrade, uninstall, with helm built from tools/helm) and config/ (`kubectl apply -f
//! config/rbac/`, `-f config/manager/manager.yaml`, `-k config/default`, `make undeploy`). Also
//! checks that the chart's copies of the generated CRDs and RBAC rules match config/.
//!
//! helm comes from `$PRISM_HELM` (set by `make test`), else from `tools/helm/build.sh`.

#[path = "../support/mod.rs"]
mod support;

mod copies;
mod install;
mod render;

use std::{
    borrow::BorrowMut,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use prism_testkit::ControlPlane;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> String {
    repo().join("charts/prism-operator").to_string_lossy().into_owned()
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(repo().join(path.as_ref()))
        .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}

fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("parse YAML stream");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// `helm` with its caches and config in a directory of its own (no repositories are used).
fn helm(cp: Option<&ControlPlane>) -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("PRISM_HELM") {
            return PathBuf::from(path);
        }
        let out = Command::new(repo().join("tools/helm/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tools/helm/build.sh");
        assert!(out.status.success(), "tools/helm/build.sh failed");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    });
    let home = std::env::temp_dir().join(format!("prism-chart-tests-{}", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    if let Some(cp) = cp {
        cmd.arg("--kubeconfig").arg(cp.kubeconfig_path());
    }
    cmd
}

/// Runs `cmd` (feeding it `stdin`) and returns its stdout; fails the test with its stderr.
fn run(mut cmd: impl BorrowMut<Command>, stdin: Option<&str>) -> String {
    let cmd = cmd.borrow_mut();
    let mut child = cmd
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default().as_bytes()).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmd:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> Command {
    let mut cmd = cp.kubectl();
    cmd.args(args);
    cmd
}
