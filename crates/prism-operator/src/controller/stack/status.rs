//! Pure: the live proxy/admin Deployments and child PrismPatterns/PrismBackends -> the
//! PrismStack's status: per-component readiness, phase, and the `Ready` condition that is True
//! only when everything is ready (what `kubectl wait --for=condition=Ready` waits for).

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use prism_api::v1alpha1::{
    BackendPhase, ChildrenStatus, ComponentStatus, PatternPhase, PrismBackend, PrismPattern, StackPhase,
};

use super::validate::ValidatedStack;
use crate::conditions::Invalid;
use crate::{
    autoscaling::{self, AUTOSCALING_READY, PENDING_REASONS},
    conditions::Desired,
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

/// Observes the stack's children.
pub fn observe(
    v: &ValidatedStack,
    proxy: Option<&Deployment>,
    admin: Option<&Deployment>,
    patterns: &[PrismPattern],
    backends: &[PrismBackend],
    proxy_autoscaler: &autoscaling::Live,
) -> Observed {
    let proxy_status = component(proxy);
    let admin_status = v.admin.as_ref().map(|_| component(admin));
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

fn component(d: Option<&Deployment>) -> ComponentStatus {
    let desired = d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas).unwrap_or(1);
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
