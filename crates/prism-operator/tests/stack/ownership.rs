//! The operator writes nothing once a stack has converged, and never takes over an object the
//! stack does not own.

use kube::{Api, api::ListParams};
use prism_api::v1alpha1::{PrismPattern, PrismStack, StackPhase};
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converged_stack_causes_zero_writes() {
    let (client, ns, _guard, op) = setup().await;
    let cp = prism_testkit::shared().await;
    let patterns: Vec<Value> = (0..5)
        .map(|i| {
            json!({"name": format!("p{i}"), "type": "keyvalue", "backend": "memstore", "replicas": 1,
            "config": {"maxKeys": 100}})
        })
        .collect();
    support::create(&client, &ns, &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "quiet"},
        "spec": {"proxy": {"replicas": 2, "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2000m", "memory": "2048Mi"}}},
            "admin": {"enabled": true, "replicas": 3, "leaderElection": {"enabled": true}},
            "observability": {"enabled": true, "tracing": {"endpoint": "http://otel:4317"}},
            "patterns": patterns}}))
    .await;
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    eventually("stack Running", async || {
        let s = stacks.get("quiet").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        (s.phase == Some(StackPhase::Running)).then_some(()).ok_or(format!("{s:?}"))
    })
    .await;
    let baseline = support::writes_by(cp, &op.user_agent).len();
    for _ in 0..8 {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let writes = support::writes_by(cp, &op.user_agent);
        assert_eq!(writes.len(), baseline, "writes after convergence: {:?}", &writes[baseline..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_the_stack_does_not_own_is_never_taken_over() {
    let (client, ns, _guard, _op) = setup().await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
        "metadata": {"name": "mine"}, "spec": {"pattern": "keyvalue", "backend": "memstore", "replicas": 3}}),
    )
    .await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "grabby"},
        "spec": {"patterns": [{"name": "mine", "type": "pubsub", "backend": "nats", "replicas": 1}]}}),
    )
    .await;
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &ns);
    eventually("a NameConflict Warning on the stack", async || {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("NameConflict")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("grabby")
            })
            .then_some(())
            .ok_or_else(|| "no event yet".to_owned())
    })
    .await;
    let mine = Api::<PrismPattern>::namespaced(client.clone(), &ns).get("mine").await.expect("get");
    assert_eq!((mine.spec.pattern.as_str(), mine.spec.replicas), ("keyvalue", Some(3)), "spec untouched");
    assert!(mine.metadata.owner_references.unwrap_or_default().is_empty(), "no owner added");
}
