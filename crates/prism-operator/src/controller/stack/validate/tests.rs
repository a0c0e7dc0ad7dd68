//! Unit tests of the stack's validate step.

use prism_api::v1alpha1::BackendProvider;
use serde_json::json;

use super::*;

/// What `resolve` finds with KEDA installed or not.
pub(crate) fn unchecked(keda_installed: bool) -> Resolved {
    Resolved { keda: KedaRefs::unchecked(keda_installed) }
}

/// The validated sample `yaml` (in namespace `ns`, KEDA absent).
pub(crate) fn validated(yaml: &str) -> ValidatedStack {
    let stack: PrismStack = serde_saphyr::from_str(yaml).expect("sample parses");
    let owner = OwnerReference {
        api_version: "prism.io/v1alpha1".into(),
        kind: "PrismStack".into(),
        name: stack.metadata.name.clone().expect("name"),
        uid: "uid".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    validate(&stack, "ns", owner, &unchecked(false), &Defaults::default())
}

#[test]
fn full_example_maps_every_section() {
    let v = validated(include_str!("../../../../../../config/samples/prismstack_full_example.yaml"));
    let proxy = v.proxy.expect("proxy valid");
    assert_eq!(proxy.workload.name, "prism-dev-proxy");
    assert_eq!(proxy.workload.replicas, Some(2));
    assert_eq!(proxy.exposure.ports, [("grpc".to_owned(), 9090, 9090)]);
    assert!(proxy.pdb, "two replicas get a PodDisruptionBudget");
    let admin = v.admin.expect("admin enabled").expect("admin valid");
    assert_eq!(admin.exposure.ports[0].1, 8981);
    assert!(!admin.pdb);
    let providers: Vec<(String, BackendProvider)> =
        v.backends.iter().map(|b| (b.name.clone(), b.spec.provider)).collect();
    assert_eq!(
        providers,
        [("nats".to_owned(), BackendProvider::Nats), ("postgres".to_owned(), BackendProvider::Postgres)]
    );
    let nats = &v.backends[0].spec.connection.as_ref().expect("connection");
    assert_eq!(nats.url.as_deref(), Some("nats://nats.prism-system.svc.cluster.local:4222"));
    let pubsub = v.patterns.iter().find(|p| p.name == "pubsub-nats").expect("pattern");
    assert_eq!(
        pubsub.spec.backend_config.as_ref().map(|r| r.name.as_str()),
        Some("nats"),
        "wired to the stack backend"
    );
    assert_eq!(pubsub.spec.service.as_ref().and_then(|s| s.port), Some(naming::PATTERN_SERVICE_PORT));
    let memstore = v.patterns.iter().find(|p| p.name == "keyvalue-memstore").expect("pattern");
    assert!(memstore.spec.backend_config.is_none(), "memstore is not a declared backend");
    assert!(proxy.workload.container.observability.is_some(), "the stack's observability reaches the proxy");
}

#[test]
fn runner_spec_becomes_pattern_placement() {
    let v = validated(include_str!("../../../../../../config/samples/prismstack_runnerspec_example.yaml"));
    let large = v.patterns.iter().find(|p| p.name == "cache-redis-large").expect("pattern");
    let placement = large.spec.placement.as_ref().expect("placement");
    assert_eq!(placement.node_selector.as_ref().expect("selector")["memory-optimized"], "true");
    let admin = v.admin.expect("admin").expect("valid");
    let le = v.leader_election.expect("leader election");
    assert_eq!(
        (le.lease_duration.as_str(), le.renew_deadline.as_str(), le.retry_period.as_str()),
        ("15s", "10s", "2s")
    );
    assert_eq!(admin.workload.service_account.as_deref(), Some("prism-production-admin"));
    assert_eq!(admin.exposure.type_, "LoadBalancer");
    assert_eq!(admin.exposure.annotations["service.beta.kubernetes.io/aws-load-balancer-type"], "nlb");
}

#[test]
fn unknown_backend_provider_is_a_problem_not_a_child() {
    let stack: PrismStack = serde_json::from_value(json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "s"}, "spec": {"backends": [{"name": "store", "type": "database", "connectionString": "mysql://db"}]}}))
    .expect("stack");
    let owner = OwnerReference { name: "s".into(), uid: "u".into(), ..Default::default() };
    let v = validate(&stack, "ns", owner, &unchecked(false), &Defaults::default());
    assert!(v.backends.is_empty());
    assert_eq!(v.problems[0].reason, "BackendProviderUnknown");
}

#[test]
fn dedicated_nodes_without_selector_leave_the_proxy_out() {
    let stack: PrismStack = serde_json::from_value(json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "s"}, "spec": {"proxy": {"placement": {"strategy": "DedicatedNodes"}}}}))
    .expect("stack");
    let owner = OwnerReference { name: "s".into(), uid: "u".into(), ..Default::default() };
    let v = validate(&stack, "ns", owner, &unchecked(false), &Defaults::default());
    assert_eq!(v.proxy.expect_err("invalid").reason, "DedicatedNodesUnspecified");
}
