//! Lifecycle of private control planes (these tests run at the same time, so they also prove that
//! several control planes can run side by side): an apiserver restart keeps data, and no process
//! outlives its control plane, whether it is stopped, dropped by a panicking test, or its test
//! process is killed.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use prism_testkit::{ControlPlane, ControlPlaneOptions, NodeSpec, wait_until};

const WAIT: Duration = Duration::from_secs(30);
/// Set in the child process of `killed_test_process_takes_its_components_along`: where the child
/// writes the pids of its components once its control plane is up.
const CHILD_PID_FILE_ENV: &str = "PRISM_TESTKIT_LIFECYCLE_CHILD_PIDS";
const CHILD_TEST: &str = "killed_test_process_takes_its_components_along";

/// One node is enough here and starts faster than the default six.
fn small_options() -> ControlPlaneOptions {
    ControlPlaneOptions {
        nodes: vec![NodeSpec::new("kwok-solo-0").in_zone("us-east-1", "us-east-1a")],
        ..ControlPlaneOptions::default()
    }
}

/// Whether a process exists and is not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(')').next().map(|rest| rest.trim_start().to_owned()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

async fn wait_all_gone(pids: &[u32]) {
    wait_until("component processes to exit", WAIT, async || {
        let left: Vec<u32> = pids.iter().copied().filter(|p| running(*p)).collect();
        if left.is_empty() { Ok(()) } else { Err(format!("still running: {left:?}")) }
    })
    .await
    .unwrap();
}

fn pids_of(cp: &ControlPlane) -> Vec<u32> {
    let pids: Vec<u32> = cp.process_ids().into_iter().map(|(_, pid)| pid).collect();
    assert_eq!(pids.len(), 5, "{:?}", cp.process_ids());
    pids
}

#[tokio::test]
async fn apiserver_restart_keeps_data_and_stop_removes_everything() {
    prism_testkit::init_test_tracing();
    let mut cp = ControlPlane::start(small_options()).await.unwrap();
    let config_maps = Api::<ConfigMap>::namespaced(cp.client().await.unwrap(), "default");
    let marker = ConfigMap {
        metadata: ObjectMeta { name: Some("survives-restart".into()), ..ObjectMeta::default() },
        data: Some([("k".to_owned(), "v".to_owned())].into()),
        ..ConfigMap::default()
    };
    config_maps.create(&PostParams::default(), &marker).await.unwrap();
    let url = cp.apiserver_url().to_owned();

    cp.stop_apiserver().await;
    let outage = cp.client().await.unwrap();
    assert!(Api::<ConfigMap>::namespaced(outage, "default").get("survives-restart").await.is_err());

    cp.start_apiserver().await.unwrap();
    assert_eq!(cp.apiserver_url(), url);
    let after = Api::<ConfigMap>::namespaced(cp.client().await.unwrap(), "default");
    let got = after.get("survives-restart").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "v");
    cp.ensure_running().unwrap();

    let pids = pids_of(&cp);
    let dir = cp.data_dir().to_path_buf();
    cp.stop().await;
    wait_all_gone(&pids).await;
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[tokio::test]
async fn panicking_test_stops_its_components() {
    prism_testkit::init_test_tracing();
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let cp = ControlPlane::start(small_options()).await.unwrap();
            tx.send((pids_of(&cp), cp.data_dir().to_path_buf())).unwrap();
            panic!("deliberate panic while the control plane runs");
        })
    })
    .join();
    assert!(outcome.is_err(), "the thread should have panicked");
    let (pids, dir) = rx.recv().unwrap();
    wait_all_gone(&pids).await;
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[tokio::test]
async fn crashing_component_fails_start_with_its_log_and_leaves_nothing_behind() {
    prism_testkit::init_test_tracing();
    let data_root = std::env::temp_dir().join(format!("prism-crash-{}", std::process::id()));
    let opts = ControlPlaneOptions {
        extra_apiserver_args: vec!["--no-such-flag=1".into()],
        data_root: data_root.clone(),
        ..small_options()
    };
    let err = ControlPlane::start(opts).await.unwrap_err();
    let text = prism_testkit::error_chain(&err);
    assert!(matches!(&err, prism_testkit::Error::ProcessExited { name, .. } if name == "kube-apiserver"), "{text}");
    assert!(text.contains("no-such-flag"), "the log tail should name the bad flag: {text}");
    // etcd, already running when the apiserver died, was stopped and the data removed.
    assert!(data_dirs(&data_root).is_empty());
    assert!(processes_mentioning(&data_root).is_empty());
    std::fs::remove_dir_all(&data_root).unwrap();
}

/// Pids of processes whose command line mentions `path` (our components get absolute paths).
fn processes_mentioning(path: &Path) -> Vec<u32> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .filter(|pid| running(*pid))
        .collect()
}

/// Parent role: runs this very test in a child process, waits for its control plane, SIGKILLs the
/// child and checks that the kernel took the components along and that the next start cleans up
/// the stale data directory. Child role (env var set): starts a control plane and waits forever.
#[tokio::test]
async fn killed_test_process_takes_its_components_along() {
    prism_testkit::init_test_tracing();
    if let Some(pid_file) = std::env::var_os(CHILD_PID_FILE_ENV) {
        return run_child(Path::new(&pid_file)).await;
    }
    let scratch = std::env::temp_dir().join(format!("prism-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let pid_file = scratch.join("pids");
    let data_root = scratch.join("data");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture"])
        .env(CHILD_PID_FILE_ENV, &pid_file)
        .env(prism_testkit::DATA_ROOT_ENV, &data_root)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pids: Vec<u32> = wait_until("the child's control plane", Duration::from_secs(180), async || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("child test exited early: {status}");
        }
        let text = std::fs::read_to_string(&pid_file).map_err(|e| e.to_string())?;
        if !text.ends_with('\n') {
            return Err("pid file incomplete".into());
        }
        Ok(text.split_whitespace().map(|p| p.parse().unwrap()).collect())
    })
    .await
    .unwrap();
    assert_eq!(pids.len(), 5);
    assert!(pids.iter().all(|p| running(*p)));

    child.kill().unwrap(); // SIGKILL: no destructor, no handler runs in the child
    child.wait().unwrap();
    wait_all_gone(&pids).await;

    let stale: Vec<PathBuf> = data_dirs(&data_root);
    assert_eq!(stale.len(), 1, "the killed run leaves its data directory: {stale:?}");
    prism_testkit::remove_stale_data_dirs(&data_root);
    assert!(data_dirs(&data_root).is_empty());
    std::fs::remove_dir_all(&scratch).unwrap();
}

fn data_dirs(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect()
}

async fn run_child(pid_file: &Path) {
    let cp = ControlPlane::start(small_options()).await.unwrap();
    let pids: Vec<String> = pids_of(&cp).iter().map(u32::to_string).collect();
    let tmp = pid_file.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", pids.join(" "))).unwrap();
    std::fs::rename(&tmp, pid_file).unwrap();
    // The parent kills us; never outlive it by much if it dies first.
    tokio::time::sleep(Duration::from_secs(300)).await;
}
