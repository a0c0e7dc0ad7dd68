//! Prometheus metrics of the operator (prometheus-client): reconciles, failures by reason and
//! reconcile duration per controller, objects applied by kind and outcome, reconciles in flight,
//! and whether this instance leads.

use std::{
    sync::atomic::{AtomicI64, AtomicU64},
    time::Instant,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Labels naming a controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `PrismPattern`, `PrismStack`, `PrismBackend` or `PrismNamespace`.
    pub controller: String,
}

/// Labels of a failed reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The controller.
    pub controller: String,
    /// The error variant, e.g. `ApplyChild`.
    pub reason: String,
}

/// Labels of the resource count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    /// Kind (PrismPattern, PrismStack, PrismBackend, PrismNamespace).
    pub kind: String,
    /// Phase from the object's status (`Unknown` before its first status).
    pub phase: String,
}

/// Labels naming one object.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// Its kind.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// Labels of an applied (or deleted) child object.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppliedLabels {
    /// The owning controller.
    pub controller: String,
    /// Kind of the child.
    pub kind: String,
    /// `created`, `updated` or `deleted`.
    pub outcome: String,
}

/// The operator's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    undecodable: Family<ObjectLabels, Gauge<i64, AtomicI64>>,
    resources: Family<ResourceLabels, Gauge<i64, AtomicI64>>,
    /// The phase each counted object was last seen in, by kind and `namespace/name`.
    phases: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
    reconciles: Family<ControllerLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
    in_flight: Family<ControllerLabels, Gauge<i64, AtomicI64>>,
    applied: Family<AppliedLabels, Counter<u64, AtomicU64>>,
    leader: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("prism_operator");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register("reconcile_errors", "Reconciles that failed, by reason", failures.clone());
        let duration = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        registry.register("reconcile_duration_seconds", "Time one reconcile took", duration.clone());
        let in_flight = Family::<ControllerLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "queue_depth",
            "Reconciles running now (kube-runtime keeps its pending queue internal)",
            in_flight.clone(),
        );
        let applied = Family::<AppliedLabels, Counter<u64, AtomicU64>>::default();
        registry.register("objects_applied", "Child objects created, updated or deleted", applied.clone());
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "leader",
            "1 while this instance holds the leader lease (or runs without election)",
            leader.clone(),
        );
        let undecodable = Family::<ObjectLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "undecodable_objects",
            "1 for each object of the operator's kinds it cannot decode and skips (stored under another schema)",
            undecodable.clone(),
        );
        let resources = Family::<ResourceLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "resources",
            "Objects of the operator's kinds in the watched namespaces, by kind and status phase",
            resources.clone(),
        );
        Self {
            registry,
            undecodable,
            resources,
            phases: std::sync::Mutex::default(),
            reconciles,
            failures,
            duration,
            in_flight,
            applied,
            leader,
        }
    }
}

/// Counts one reconcile and observes its duration when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    labels: ControllerLabels,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.duration.get_or_create(&self.labels).observe(self.start.elapsed().as_secs_f64());
        self.metrics.in_flight.get_or_create(&self.labels).dec();
    }
}

impl Metrics {
    /// Starts timing a reconcile of `controller`.
    pub fn reconcile(&self, controller: &str) -> ReconcileTimer<'_> {
        let labels = ControllerLabels { controller: controller.to_owned() };
        self.reconciles.get_or_create(&labels).inc();
        self.in_flight.get_or_create(&labels).inc();
        ReconcileTimer { metrics: self, labels, start: Instant::now() }
    }

    /// Counts a failed reconcile.
    pub fn failure(&self, controller: &str, reason: &str) {
        self.failures
            .get_or_create(&FailureLabels { controller: controller.to_owned(), reason: reason.to_owned() })
            .inc();
    }

    /// Counts child objects changed by a reconcile.
    pub fn applied(&self, controller: &str, kind: &str, outcome: &str, n: usize) {
        let labels =
            AppliedLabels { controller: controller.to_owned(), kind: kind.to_owned(), outcome: outcome.to_owned() };
        self.applied.get_or_create(&labels).inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// Marks an object as undecodable (skipped), or no longer.
    pub fn undecodable(
        &self,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        now: bool,
    ) {
        let labels = ObjectLabels {
            kind: kind.to_owned(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        };
        if now {
            self.undecodable.get_or_create(&labels).set(1);
        } else {
            self.undecodable.remove(&labels);
        }
    }

    /// Counts the object `key` of `kind` in `phase` (moving it from the phase it was in).
    pub fn observe_phase(&self, kind: &str, key: &str, phase: &str) {
        let mut phases = self.phases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let id = (kind.to_owned(), key.to_owned());
        if phases.get(&id).map(String::as_str) == Some(phase) {
            return;
        }
        if let Some(old) = phases.insert(id, phase.to_owned()) {
            self.resource_gauge(kind, &old).dec();
        }
        self.resource_gauge(kind, phase).inc();
    }

    /// Stops counting the object `key` of `kind` (deleted).
    pub fn forget_phase(&self, kind: &str, key: &str) {
        let mut phases = self.phases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = phases.remove(&(kind.to_owned(), key.to_owned())) {
            self.resource_gauge(kind, &old).dec();
        }
    }

    /// Stops counting the objects of `kind` for which `keep` is false (gone after a re-list).
    pub fn retain_phases(&self, kind: &str, keep: impl Fn(&str) -> bool) {
        let mut phases = self.phases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        phases.retain(|(k, key), phase| {
            let stays = k != kind || keep(key);
            if !stays {
                self.resource_gauge(kind, phase).dec();
            }
            stays
        });
    }

    fn resource_gauge(&self, kind: &str, phase: &str) -> Gauge<i64, AtomicI64> {
        self.resources.get_or_create(&ResourceLabels { kind: kind.to_owned(), phase: phase.to_owned() }).clone()
    }

    /// Records whether this instance leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_counted_by_kind_and_phase_and_forgotten() {
        let m = Metrics::default();
        let count = |kind: &str, phase: &str| {
            let line = format!("prism_operator_resources{{kind=\"{kind}\",phase=\"{phase}\"}} ");
            m.render().lines().find_map(|l| l.strip_prefix(&line).map(str::to_owned)).unwrap_or_else(|| "absent".into())
        };
        m.observe_phase("PrismPattern", "ns/a", "Unknown");
        m.observe_phase("PrismPattern", "ns/a", "Running");
        m.observe_phase("PrismPattern", "ns/a", "Running");
        m.observe_phase("PrismPattern", "ns/b", "Running");
        m.observe_phase("PrismStack", "ns/a", "Failed");
        assert_eq!((count("PrismPattern", "Running"), count("PrismPattern", "Unknown")), ("2".into(), "0".into()));
        m.forget_phase("PrismPattern", "ns/a");
        assert_eq!(count("PrismPattern", "Running"), "1");
        m.retain_phases("PrismPattern", |key| key != "ns/b");
        assert_eq!(count("PrismPattern", "Running"), "0");
        assert_eq!(count("PrismStack", "Failed"), "1", "other kinds are kept");
    }

    #[test]
    fn renders_every_family_with_labels() {
        let m = Metrics::default();
        {
            let _t = m.reconcile("PrismPattern");
        }
        m.failure("PrismPattern", "ApplyChild");
        m.applied("PrismPattern", "Deployment", "created", 2);
        m.set_leader(true);
        let text = m.render();
        for needle in [
            "prism_operator_reconciles_total{controller=\"PrismPattern\"} 1",
            "prism_operator_reconcile_errors_total{controller=\"PrismPattern\",reason=\"ApplyChild\"} 1",
            "prism_operator_reconcile_duration_seconds_count{controller=\"PrismPattern\"} 1",
            "prism_operator_queue_depth{controller=\"PrismPattern\"} 0",
            "prism_operator_objects_applied_total{controller=\"PrismPattern\",kind=\"Deployment\",outcome=\"created\"} 2",
            "prism_operator_leader 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
