//! Watching autoscalers work: the Deployment's replica count over time and what the pattern's
//! status says about it.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};
use prism_api::v1alpha1::PrismPattern;

use super::Operator;

/// Scaling takes several autoscaler periods (HPA sync 15 s, metrics-server 10 s, KEDA polling).
pub const SCALE_WAIT: Duration = Duration::from_secs(240);

/// The shared control plane with metrics-server and KEDA, the CRDs, a fresh namespace and the
/// operator watching it.
pub async fn setup() -> (&'static prism_testkit::ControlPlane, Client, String, prism_testkit::NamespaceGuard, Operator)
{
    prism_testkit::init_test_tracing();
    let cp = prism_testkit::shared_autoscaled().await;
    let (client, ns, guard, operator) = super::operator_in_new_namespace(cp).await;
    (cp, client, ns, guard, operator)
}

/// How a scale went, from the moment the load or backlog changed.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    /// Until the Deployment's replica count first changed (the autoscaler's first decision).
    pub first_change: Option<Duration>,
    /// Until it asked for and ran the wanted count.
    pub settled: Duration,
}

impl std::fmt::Display for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self.first_change.map_or("-".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
        write!(f, "first change {first}, settled {:.1}s", self.settled.as_secs_f64())
    }
}

/// Waits until the Deployment asks for and runs `want` replicas, timing it from now.
pub async fn replicas_become(client: &Client, ns: &str, name: &str, want: i32) -> Timeline {
    let started = Instant::now();
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let mut initial: Option<Option<i32>> = None;
    let mut first_change = None;
    prism_testkit::wait_until(&format!("{name} at {want} replicas"), SCALE_WAIT, async || {
        let d = api.get(name).await.map_err(|e| e.to_string())?;
        let spec = d.spec.as_ref().and_then(|s| s.replicas);
        if *initial.get_or_insert(spec) != spec && first_change.is_none() {
            first_change = Some(started.elapsed());
        }
        let ready = d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
        if spec == Some(want) && ready == want { Ok(()) } else { Err(format!("spec {spec:?}, ready {ready}")) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let timeline = Timeline { first_change, settled: started.elapsed() };
    eprintln!("{name}: {want} replicas: {timeline}");
    timeline
}

/// The pattern's status once it reports `replicas` desired, current and available, and its
/// `AutoscalingReady` condition is `auto` (`True`/`False`).
pub async fn pattern_reports(client: &Client, ns: &str, name: &str, replicas: i32, auto: &str) -> PrismPattern {
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    prism_testkit::wait_until(&format!("{name} status at {replicas} replicas"), super::WAIT, async || {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        let c = s.conditions.iter().find(|c| c.type_ == "AutoscalingReady");
        let ok = s.desired_replicas == Some(replicas)
            && s.replicas == Some(replicas)
            && s.available_replicas == Some(replicas)
            && c.is_some_and(|c| c.status == auto);
        if ok { Ok(p) } else { Err(format!("{s:?}")) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The pattern once its `AutoscalingReady` condition has `reason`.
pub async fn autoscaling_reason(client: &Client, ns: &str, name: &str, reason: &str) -> PrismPattern {
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    prism_testkit::wait_until(&format!("{name} AutoscalingReady reason {reason}"), super::WAIT, async || {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let found = condition_of(&p, "AutoscalingReady");
        if found.as_ref().is_some_and(|c| c.1 == reason) { Ok(p) } else { Err(format!("{found:?}")) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// (status, reason, message) of the pattern's condition `type_`.
pub fn condition(p: &PrismPattern, type_: &str) -> (String, String, String) {
    condition_of(p, type_).expect("condition")
}

fn condition_of(p: &PrismPattern, type_: &str) -> Option<(String, String, String)> {
    let c = p.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}
