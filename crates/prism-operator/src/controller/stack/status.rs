//! Pure: the live proxy/admin Deployments and child PrismPatterns/PrismBackends -> the
//! PrismStack's status: per-component readiness, phase, and the `Ready` condition that is True
//! only when everything is ready (what `kubectl wait --for=condition=Ready` waits for).

use k8s_openapi::{api::apps::v1::Deployment, jiff::Timestamp};
use kube::ResourceExt;
use prism_api::v1alpha1::{
    BackendPhase, ChildrenStatus, ComponentStatus, PatternPhase, PrismBackend, PrismPattern, PrismStackStatus,
    StackPhase,
};

use super::validate::ValidatedStack;
use crate::conditions::Invalid;
use crate::{
    autoscaling::{self, AUTOSCALING_READY, PENDING_REASONS},
    conditions::{self, Desired, Notice},
};

/// `AutoscalingReady=False` reason while some autoscaler has not evaluated its metrics yet.
const AUTOSCALERS_PENDING: &str = "AutoscalersPending";

/// Condition type: every component is ready.
pub const READY: &str = "Ready";
/// Condition type: every placement can be honoured.
pub const PLACEMENT_VALID: &str = "PlacementValid";
/// Condition type: every backend entry could be turned into a PrismBackend.
pub const BACKENDS_VALID: &str = "BackendsValid";

/// The status the reconcile wants, before timestamps.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Phase.
    pub phase: StackPhase,
    /// Proxy readiness.
    pub proxy: ComponentStatus,
    /// Admin readiness, when enabled.
    pub admin: Option<ComponentStatus>,
    /// Patterns running.
    pub patterns: ChildrenStatus,
    /// Backends healthy.
    pub backends: ChildrenStatus,
    /// Conditions.
    pub conditions: Vec<Desired>,
}

/// The status to store for `observed` (the stored conditions keep their transition times).
pub fn next(
    stored: Option<&PrismStackStatus>,
    observed: &Observed,
    generation: Option<i64>,
    now: Timestamp,
) -> PrismStackStatus {
    let stored_conditions = stored.map(|s| s.conditions.as_slice()).unwrap_or_default();
    PrismStackStatus {
        phase: Some(observed.phase),
        observed_generation: generation,
        proxy: Some(observed.proxy.clone()),
        admin: observed.admin.clone(),
        patterns: Some(observed.patterns.clone()),
        backends: Some(observed.backends.clone()),
        conditions: conditions::merge(stored_conditions, &observed.conditions, generation, now),
    }
}

/// The Events of going from `stored` to `observed`: a Warning for each condition that turned
/// False for a reason that is not ordinary progress.
pub fn events(stored: Option<&PrismStackStatus>, observed: &Observed) -> Vec<Notice> {
    conditions::warnings(stored.map(|s| s.conditions.as_slice()).unwrap_or_default(), &observed.conditions, is_progress)
}

/// Observes the stack's children.
pub fn observe(
    v: &ValidatedStack,
    proxy: Option<&Deployment>,
    admin: Option<&Deployment>,
    patterns: &[PrismPattern],
    backends: &[PrismBackend],
    proxy_autoscaler: &autoscaling::Live,
) -> Observed {
    let proxy_status = component(proxy, v.proxy.as_ref().ok().and_then(|c| c.workload.replicas));
    let admin_status = v.admin.as_ref().map(|a| component(admin, a.as_ref().ok().and_then(|c| c.workload.replicas)));
    let running = patterns.iter().filter(|p| phase(p) == Some(PatternPhase::Running)).count();
    let patterns_status = children(running, v.patterns.len());
    let healthy = backends.iter().filter(|b| b.status.as_ref().and_then(|s| s.healthy) == Some(true)).count();
    let backends_status = children(healthy, v.backends.len() + v.problems.len());

    let placement_problems: Vec<&Invalid> =
        [v.proxy.as_ref().err(), v.admin.as_ref().and_then(|a| a.as_ref().err())].into_iter().flatten().collect();
    let placement = match placement_problems.first() {
        None => Desired::new(PLACEMENT_VALID, true, "PlacementValid", "every placement can be honoured"),
        Some(p) => Desired::new(PLACEMENT_VALID, false, p.reason, joined(&placement_problems)),
    };
    let backends_valid = match v.problems.first() {
        None => Desired::new(BACKENDS_VALID, true, "BackendsValid", "every backend entry is usable"),
        Some(p) => Desired::new(BACKENDS_VALID, false, p.reason, joined(&v.problems.iter().collect::<Vec<_>>())),
    };

    let not_ready: Vec<(&str, String)> = [
        (!is_ready(&proxy_status)).then(|| ("ProxyNotReady", format!("proxy {}", proxy_status.summary))),
        admin_status.as_ref().filter(|a| !is_ready(a)).map(|a| ("AdminNotReady", format!("admin {}", a.summary))),
        (patterns_status.ready < patterns_status.total)
            .then(|| ("PatternsNotReady", format!("patterns {} running", patterns_status.summary))),
        (backends_status.ready < backends_status.total)
            .then(|| ("BackendsNotHealthy", format!("backends {} healthy", backends_status.summary))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let invalid = !placement.status || !backends_valid.status;
    let ready = match (not_ready.first(), invalid) {
        (_, true) => Desired::new(
            READY,
            false,
            if placement.status { backends_valid.reason.clone() } else { placement.reason.clone() },
            "the spec cannot be fully reconciled; see the other conditions",
        ),
        (Some((reason, _)), false) => Desired::new(
            READY,
            false,
            *reason,
            not_ready.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join(", "),
        ),
        (None, false) => {
            Desired::new(READY, true, "AllComponentsReady", "proxy, admin, patterns and backends are ready")
        }
    };

    let degraded = patterns.iter().any(|p| matches!(phase(p), Some(PatternPhase::Failed | PatternPhase::Degraded)))
        || backends.iter().any(|b| {
            b.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(|p| matches!(p, BackendPhase::Unhealthy | BackendPhase::Invalid))
        });
    let phase = if invalid {
        StackPhase::Failed
    } else if ready.status {
        StackPhase::Running
    } else if proxy.is_none() {
        StackPhase::Pending
    } else if degraded {
        StackPhase::Degraded
    } else {
        StackPhase::Progressing
    };
    Observed {
        phase,
        proxy: proxy_status,
        admin: admin_status,
        patterns: patterns_status,
        backends: backends_status,
        conditions: vec![ready, placement, backends_valid, autoscaling(v, patterns, proxy_autoscaler)],
    }
}

/// The status when the API server refused one of the stack's children (`message` names it and
/// quotes the server): Failed, with `Ready=False` saying why; the other conditions stay as observed.
pub fn rejected(observed: &mut Observed, message: String) {
    observed.phase = StackPhase::Failed;
    for c in observed.conditions.iter_mut().filter(|c| c.type_ == READY) {
        *c = Desired::new(READY, false, crate::conditions::CHILD_REJECTED, message.clone());
    }
}

/// `AutoscalingReady` of the whole stack: the proxy's autoscaler and every pattern's
/// `AutoscalingReady`, naming each one that is not scaling.
fn autoscaling(v: &ValidatedStack, patterns: &[PrismPattern], proxy: &autoscaling::Live) -> Desired {
    let mut parts: Vec<(String, Desired)> = Vec::new();
    if let Ok(c) = &v.proxy {
        parts.push(("proxy".to_owned(), proxy.readiness(&c.scaling)));
    }
    for p in patterns {
        let condition = p.status.iter().flat_map(|s| &s.conditions).find(|c| c.type_ == AUTOSCALING_READY);
        let desired = match condition {
            Some(c) => Desired::new(AUTOSCALING_READY, c.status == "True", c.reason.clone(), c.message.clone()),
            None => Desired::new(AUTOSCALING_READY, false, AUTOSCALERS_PENDING, "not reconciled yet"),
        };
        parts.push((format!("pattern {}", p.name_any()), desired));
    }
    let pending = |d: &Desired| d.reason == AUTOSCALERS_PENDING || PENDING_REASONS.contains(&d.reason.as_str());
    let failing: Vec<&(String, Desired)> = parts.iter().filter(|(_, d)| !d.status && !pending(d)).collect();
    let waiting: Vec<&(String, Desired)> = parts.iter().filter(|(_, d)| !d.status && pending(d)).collect();
    let list = |items: &[&(String, Desired)]| {
        items.iter().map(|(who, d)| format!("{who}: {}", d.message)).collect::<Vec<_>>().join("; ")
    };
    match (failing.first(), waiting.first()) {
        (Some((_, first)), _) => Desired::new(AUTOSCALING_READY, false, first.reason.clone(), list(&failing)),
        (None, Some(_)) => Desired::new(AUTOSCALING_READY, false, AUTOSCALERS_PENDING, list(&waiting)),
        (None, None) => {
            Desired::new(AUTOSCALING_READY, true, "AutoscalersReady", "every autoscaler of the stack is working")
        }
    }
}

/// Whether a `Ready=False` reason is ordinary progress rather than a problem.
pub fn is_progress(reason: &str) -> bool {
    matches!(
        reason,
        "ProxyNotReady" | "AdminNotReady" | "PatternsNotReady" | "BackendsNotHealthy" | AUTOSCALERS_PENDING
    )
}

fn phase(p: &PrismPattern) -> Option<PatternPhase> {
    p.status.as_ref().and_then(|s| s.phase)
}

/// A component's readiness; `wanted` (the spec's replicas) counts until its Deployment exists.
fn component(d: Option<&Deployment>, wanted: Option<i32>) -> ComponentStatus {
    let desired = d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas).or(wanted).unwrap_or(1);
    let current = d.and_then(|d| {
        let s = d.status.as_ref()?;
        let observed = s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
        Some(if observed { s.ready_replicas.unwrap_or(0).min(s.updated_replicas.unwrap_or(0)) } else { 0 })
    });
    let ready = current.unwrap_or(0);
    ComponentStatus { ready_replicas: ready, desired_replicas: desired, summary: format!("{ready}/{desired}") }
}

fn is_ready(c: &ComponentStatus) -> bool {
    c.ready_replicas >= c.desired_replicas
}

fn children(ready: usize, total: usize) -> ChildrenStatus {
    let (ready, total) = (i32::try_from(ready).unwrap_or(i32::MAX), i32::try_from(total).unwrap_or(i32::MAX));
    ChildrenStatus { ready, total, summary: format!("{ready}/{total}") }
}

fn joined(problems: &[&Invalid]) -> String {
    problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use prism_api::v1alpha1::PrismStack;
    use serde_json::json;

    use super::*;
    use crate::{
        config::Defaults,
        controller::stack::validate::{tests::unchecked, validate},
    };

    fn validated(spec: serde_json::Value) -> ValidatedStack {
        let stack: PrismStack = serde_json::from_value(json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
            "metadata": {"name": "s", "namespace": "ns", "uid": "uid"}, "spec": spec}))
        .expect("stack");
        let owner = OwnerReference {
            api_version: "prism.io/v1alpha1".into(),
            kind: "PrismStack".into(),
            name: "s".into(),
            uid: "uid".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        validate(&stack, "ns", owner, &unchecked(false), &Defaults::default())
    }

    /// A Deployment wanting `want` replicas with `ready` of them ready, status observed.
    fn deployment(want: i32, ready: i32) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "d", "generation": 2},
            "spec": {"replicas": want, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "readyReplicas": ready, "updatedReplicas": ready}}))
        .expect("deployment")
    }

    fn pattern(name: &str, phase: &str) -> PrismPattern {
        serde_json::from_value(json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
            "metadata": {"name": name}, "spec": {"pattern": "keyvalue", "backend": "memstore"},
            "status": {"phase": phase}}))
        .expect("pattern")
    }

    fn condition<'a>(o: &'a Observed, type_: &str) -> &'a Desired {
        o.conditions.iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("no {type_}"))
    }

    const SPEC: &str = r#"{"proxy": {"replicas": 2}, "admin": {"enabled": true, "replicas": 1},
        "patterns": [{"name": "kv", "type": "keyvalue", "backend": "memstore"}]}"#;

    #[test]
    fn no_proxy_yet_is_pending_and_not_ready() {
        let v = validated(serde_json::from_str(SPEC).expect("spec"));
        let o = observe(&v, None, None, &[], &[], &autoscaling::Live::default());
        assert_eq!(o.phase, StackPhase::Pending);
        assert_eq!(o.proxy.summary, "0/2");
        let ready = condition(&o, READY);
        assert!(!ready.status && ready.reason == "ProxyNotReady", "{ready:?}");
        assert!(is_progress(&ready.reason), "waiting for the proxy is progress, not a problem");
        assert_eq!(o.patterns.summary, "0/1");
    }

    #[test]
    fn everything_ready_is_running() {
        let v = validated(serde_json::from_str(SPEC).expect("spec"));
        let (proxy, admin) = (deployment(2, 2), deployment(1, 1));
        let o =
            observe(&v, Some(&proxy), Some(&admin), &[pattern("kv", "Running")], &[], &autoscaling::Live::default());
        assert_eq!(o.phase, StackPhase::Running, "{:?}", o.conditions);
        assert!(condition(&o, READY).status);
        assert_eq!(condition(&o, READY).reason, "AllComponentsReady");
        assert_eq!((o.proxy.summary.as_str(), o.patterns.summary.as_str()), ("2/2", "1/1"));
    }

    #[test]
    fn a_failed_pattern_degrades_and_names_what_is_missing() {
        let v = validated(serde_json::from_str(SPEC).expect("spec"));
        let (proxy, admin) = (deployment(2, 1), deployment(1, 1));
        let o = observe(&v, Some(&proxy), Some(&admin), &[pattern("kv", "Failed")], &[], &autoscaling::Live::default());
        assert_eq!(o.phase, StackPhase::Degraded);
        let ready = condition(&o, READY);
        assert_eq!(ready.reason, "ProxyNotReady");
        assert_eq!(ready.message, "proxy 1/2, patterns 0/1 running");
    }

    #[test]
    fn an_unusable_placement_fails_the_stack() {
        let v = validated(json!({"proxy": {"placement": {"strategy": "DedicatedNodes"}}}));
        let o = observe(&v, None, None, &[], &[], &autoscaling::Live::default());
        assert_eq!(o.phase, StackPhase::Failed);
        let placement = condition(&o, PLACEMENT_VALID);
        assert!(!placement.status && placement.reason == "DedicatedNodesUnspecified", "{placement:?}");
        assert_eq!(condition(&o, READY).reason, "DedicatedNodesUnspecified");
        assert!(!is_progress(&condition(&o, READY).reason));
    }

    #[test]
    fn a_rejected_child_fails_the_stack_and_keeps_the_other_conditions() {
        let v = validated(serde_json::from_str(SPEC).expect("spec"));
        let mut o = observe(&v, None, None, &[], &[], &autoscaling::Live::default());
        let placement = condition(&o, PLACEMENT_VALID).clone();
        rejected(&mut o, "the API server rejected Deployment s-proxy: ...".to_owned());
        assert_eq!(o.phase, StackPhase::Failed);
        let ready = condition(&o, READY);
        assert_eq!((ready.reason.as_str(), ready.status), (crate::conditions::CHILD_REJECTED, false));
        assert!(ready.message.starts_with("the API server rejected Deployment s-proxy"));
        assert_eq!(condition(&o, PLACEMENT_VALID), &placement);
    }

    #[test]
    fn a_pattern_not_yet_autoscaling_makes_the_stack_wait() {
        let v = validated(serde_json::from_str(SPEC).expect("spec"));
        let o = observe(&v, None, None, &[pattern("kv", "Running")], &[], &autoscaling::Live::default());
        let a = condition(&o, AUTOSCALING_READY);
        assert!(!a.status && a.reason == AUTOSCALERS_PENDING, "{a:?}");
        assert!(a.message.contains("pattern kv: not reconciled yet"), "{}", a.message);
    }
}
