//! The operator rides out an API server outage in the middle of a rollout: with the local API
//! server stopped for 60 s the operator neither exits nor spins (its watches back off), a change
//! made right after the API server returns is reconciled within 10 s, and the rest of the rollout
//! completes. Also: a cluster without the Prism CRDs is
//! refused at startup with a clear error. (Its own control plane: it stops the API server.)

mod support;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use prism_testkit::{ControlPlane, ControlPlaneOptions};
use serde_json::json;

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("comm").1.split_whitespace().collect();
    (fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime")) / 100.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_outage_is_ridden_out() {
    let mut cp = ControlPlane::start(ControlPlaneOptions::default()).await.expect("control plane");
    let client = cp.client().await.expect("client");

    // Without CRDs the operator refuses to start, saying what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_prism-operator"))
        .args(["run", "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0"])
        .env("KUBECONFIG", cp.kubeconfig_path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("the Prism CRDs are not installed"), "{err}");

    support::install_crds(&client).await;
    let ns = "outage";
    cp.kubectl().args(["create", "namespace", ns]).output().expect("kubectl");
    let mut op = support::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_prism-operator"))
            .args(["run", "--namespaces", ns])
            .args(["--metrics-bind-address", &format!("127.0.0.1:{}", free_port())])
            .args(["--health-probe-bind-address", &format!("127.0.0.1:{}", free_port())])
            .env("KUBECONFIG", cp.kubeconfig_path())
            // The default filter (kube-client's per-request error lines off), plus kube-runtime's
            // debug lines for the log tail printed when the test fails.
            .env("LOG_LEVEL", "info,kube_runtime=debug")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(cp.data_dir().join("operator.log")).map_or_else(|_| Stdio::null(), Stdio::from),
            )
            .spawn()
            .expect("start operator"),
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pattern = |name: &str| {
        json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name, "namespace": ns},
            "spec": {"pattern": "keyvalue", "backend": "memstore"}})
    };
    support::create(&client, ns, &pattern("before")).await;
    support::eventually("Deployment before the outage", async || {
        deployments.get_opt("before").await.map_err(|e| e.to_string())?.ok_or("absent".to_owned())
    })
    .await;
    // Mid-rollout: 30 patterns created and the API server stopped at once, while the operator
    // is reconciling them.
    const ROLLOUT: usize = 30;
    for i in 0..ROLLOUT {
        support::create(&client, ns, &pattern(&format!("rollout-{i:02}"))).await;
    }
    let count = async || {
        let list = deployments.list(&Default::default()).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(
            list.items.iter().filter(|d| d.metadata.name.as_deref().is_some_and(|n| n.starts_with("rollout-"))).count(),
        )
    };
    let at_stop = count().await.expect("list Deployments");

    let log_path = cp.data_dir().join("operator.log");
    let log_len = || std::fs::read_to_string(&log_path).map(|l| l.len()).unwrap_or(0);
    let before_outage = log_len();
    let cpu_before = cpu_seconds(op.0.id());
    cp.stop_apiserver().await;
    tokio::time::sleep(Duration::from_secs(60)).await; // the outage itself: nothing to poll
    assert!(op.0.try_wait().expect("try_wait").is_none(), "the operator exited during the outage");
    let cpu = cpu_seconds(op.0.id()) - cpu_before;
    println!("operator CPU during a 60 s API server outage: {cpu:.2} s");
    assert!(cpu < 3.0, "the operator spun during the outage: {cpu:.2} CPU seconds in 60 s");
    // Quiet: each watch (about twenty) says once that it is failing (and kube-client once that
    // its connection closed), a reconcile caught by the outage retries on its backoff, nothing
    // logs at ERROR and nothing on every watch retry: under one line a second in all.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let outage_log = log.get(before_outage..).unwrap_or_default();
    let errors = outage_log.lines().filter(|l| l.contains("ERROR")).count();
    let failing = outage_log.lines().filter(|l| l.contains("watch failing")).count();
    let warnings = outage_log.lines().filter(|l| l.contains("WARN")).count();
    println!("log lines during the 60 s outage: {errors} ERROR, {warnings} WARN ({failing} 'watch failing')");
    assert_eq!(errors, 0, "ERROR lines during the outage:\n{outage_log}");
    assert!(
        (1..=30).contains(&failing) && warnings < 60,
        "{warnings} WARN lines in 60 s ({failing} 'watch failing'):\n{outage_log}"
    );

    cp.start_apiserver().await.expect("restart API server");
    let client = cp.client().await.expect("client");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    support::create(&client, ns, &pattern("after")).await;
    let created = Instant::now();
    let waited = prism_testkit::wait_until("Deployment after the outage", Duration::from_secs(10), async || {
        deployments.get_opt("after").await.map_err(|e| e.to_string())?.ok_or("absent".to_owned())
    })
    .await;
    println!("change after the outage reconciled in {} ms", created.elapsed().as_millis());
    let rollout = support::eventually("the whole rollout after the outage", async || {
        let n = count().await?;
        (n == ROLLOUT).then_some(()).ok_or(format!("{n} of {ROLLOUT} Deployments"))
    });
    rollout.await;
    println!(
        "rollout of {ROLLOUT}: {at_stop} Deployments when the API server stopped, all {ROLLOUT} after it returned"
    );
    if waited.is_err() {
        let log = std::fs::read_to_string(cp.data_dir().join("operator.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        println!("operator log tail:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    waited.expect("reconciled within 10 s of the API server's return");
    let recovered = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(recovered.contains("watch recovered"), "the watches say they recovered");
    drop(op);
    cp.stop().await;
}
