//! The scaling figure: on a small control plane of its own with the real autoscalers
//! (metrics-server, KEDA), the README's HPA example under a simulated CPU load: how long from a
//! load change to the first replica change and to the settled count, up and down, and what the
//! operator wrote during the whole cycle (only status writes are expected, never the Deployment's
//! replicas or the HPA).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};
use prism_api::v1alpha1::PrismPattern;
use prism_testkit::{ControlPlane, ControlPlaneOptions, Load, Usage};
use serde_json::json;

use crate::{
    audit::AuditLog,
    cluster,
    operator::{Launch, Operator},
    report::{Figure, Target},
    run::Plan,
};

const NS: &str = "bench-scaling";
const NAME: &str = "producer-kafka-events";
/// 75 % of the 500m request is 375m a pod: 1300m in total settles at 4 replicas, 100m at the
/// minimum of 2.
const HIGH_MILLIS: u64 = 1300;
const LOW_MILLIS: u64 = 100;
const UP: i32 = 4;
const DOWN: i32 = 2;
/// The example's scale-down window is 300 s; the bench uses 15 s to keep the cycle short.
const SCALE_DOWN_WINDOW_SECS: i32 = 15;
const WAIT: Duration = Duration::from_secs(300);

/// Runs one scale cycle and returns its figures.
pub async fn scaling(plan: &Plan) -> anyhow::Result<Vec<Figure>> {
    let cp = ControlPlane::start(ControlPlaneOptions {
        autoscalers: true,
        start_timeout: Duration::from_secs(300),
        ..Default::default()
    })
    .await?;
    let result = cycle(&cp, plan).await;
    cp.stop().await;
    result
}

async fn cycle(cp: &ControlPlane, plan: &Plan) -> anyhow::Result<Vec<Figure>> {
    let client = cp.client().await?;
    cluster::install_crds(&client).await?;
    cluster::namespace(&client, NS).await?;
    let namespaces = [NS.to_owned()];
    let op = Operator::start(Launch {
        binary: &plan.operator,
        kubeconfig: cp.kubeconfig_path(),
        namespaces: &namespaces,
        user_agent: "prism-operator-bench/scaling".to_owned(),
        log_file: plan.logs.join("operator-scaling.log"),
        log_level: &plan.operator_log_level,
    })
    .await?;
    let sample = include_str!("../../../config/samples/prismpattern_hpa_example.yaml");
    let mut pattern: PrismPattern = serde_saphyr::from_str(sample).context("the HPA sample")?;
    pattern.metadata.namespace = Some(NS.to_owned());
    let behavior = serde_json::from_value(json!({
        "scaleDown": {"stabilizationWindowSeconds": SCALE_DOWN_WINDOW_SECS}, "scaleUp": {"stabilizationWindowSeconds": 0}
    }))?;
    pattern.spec.autoscaling.as_mut().context("the sample autoscales")?.behavior = Some(behavior);
    Api::<PrismPattern>::namespaced(client.clone(), NS).create(&Default::default(), &pattern).await?;
    let selector = format!("prism.io/pattern-instance={NAME}");
    let load = Load::start(client.clone(), NS, &selector, Usage::total(Some(LOW_MILLIS), None));
    settled(&client, DOWN).await?;
    autoscaling_ready(&client).await?;

    let audit = AuditLog::new(cp.audit_log_path());
    let from = audit.offset()?;
    load.set(Usage::total(Some(HIGH_MILLIS), None));
    let up_first = first_change(&client, DOWN).await?;
    let up_settled = up_first + settled(&client, UP).await?;
    load.set(Usage::total(Some(LOW_MILLIS), None));
    let down_first = first_change(&client, UP).await?;
    let down_settled = down_first + settled(&client, DOWN).await?;
    // The cycle ends when the pattern's status shows it.
    status_shows(&client, DOWN).await?;
    let requests = audit.requests(&op.user_agent, from, audit.offset()?)?;
    drop(load);
    op.stop().await?;

    let writes = requests.writes();
    let other: u64 = requests
        .writes_by_resource
        .iter()
        .filter(|(k, _)| !k.ends_with("prismpatterns/status") && !k.contains("events"))
        .map(|(_, v)| *v)
        .sum();
    let note = format!(
        "README HPA example, CPU 75 % of 500m; total load {LOW_MILLIS}m -> {HIGH_MILLIS}m -> {LOW_MILLIS}m; \
         HPA sync 15 s, metrics-server resolution 10 s, scale-down window {SCALE_DOWN_WINDOW_SECS} s"
    );
    let secs = |d: Duration| (d.as_secs_f64() * 10.0).round() / 10.0;
    Ok(vec![
        Figure::new("scaling_up_first_replica_change", secs(up_first), "s", 1).note(note),
        Figure::new("scaling_up_settled", secs(up_settled), "s", 1).note(format!("{DOWN} -> {UP} replicas, all ready")),
        Figure::new("scaling_down_first_replica_change", secs(down_first), "s", 1)
            .note("includes the scale-down window"),
        Figure::new("scaling_down_settled", secs(down_settled), "s", 1).note(format!("{UP} -> {DOWN} replicas")),
        Figure::new("scaling_cycle_operator_writes", writes as f64, "writes", 1)
            .note(format!("status writes and Events over the whole cycle: {:?}", requests.writes_by_resource)),
        Figure::new("scaling_cycle_operator_writes_not_status", other as f64, "writes", 1)
            .target(Target::AtMost(0.0))
            .note("writes other than the pattern's status and Events (replicas, HPA): never"),
    ])
}

/// Time until the Deployment asks for a count other than `from`.
async fn first_change(client: &Client, from: i32) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    loop {
        let d = api.get(NAME).await?;
        if d.spec.and_then(|s| s.replicas).is_some_and(|r| r != from) {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < WAIT, "the HPA did not change {from} replicas within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Time until the Deployment asks for and has `want` ready replicas.
async fn settled(client: &Client, want: i32) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    loop {
        if let Some(d) = api.get_opt(NAME).await? {
            let ready = d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
            if d.spec.and_then(|s| s.replicas) == Some(want) && ready == want {
                return Ok(started.elapsed());
            }
        }
        anyhow::ensure!(started.elapsed() < WAIT, "not at {want} ready replicas within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Until the pattern's status reports `want` desired and available replicas.
async fn status_shows(client: &Client, want: i32) -> anyhow::Result<()> {
    let started = Instant::now();
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), NS);
    loop {
        let s = api.get(NAME).await?.status.unwrap_or_default();
        if s.desired_replicas == Some(want) && s.available_replicas == Some(want) {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < WAIT, "status not at {want} replicas within {WAIT:?}: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn autoscaling_ready(client: &Client) -> anyhow::Result<()> {
    let started = Instant::now();
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), NS);
    loop {
        let p = api.get(NAME).await?;
        let ready =
            p.status.iter().flat_map(|s| &s.conditions).any(|c| c.type_ == "AutoscalingReady" && c.status == "True");
        if ready {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < WAIT, "AutoscalingReady not True within {WAIT:?}: {:?}", p.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
