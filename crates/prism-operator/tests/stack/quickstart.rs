//! The seed's quick start: `kubectl wait --for=condition=Ready` works, the stack's children
//! follow its spec, and deleting the stack removes everything it owns.

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Service};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use prism_api::v1alpha1::{PrismPattern, PrismStack, StackPhase};
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_becomes_ready_and_children_follow_the_spec() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismstack_quickstart.yaml").await;
    // Exactly what the seed's quick start types.
    let cp = prism_testkit::shared().await;
    let waited = tokio::task::spawn_blocking({
        let ns = ns.clone();
        move || {
            kubectl(cp, &["wait", "--for=condition=Ready", "prismstack/prism-quickstart", "--timeout=60s", "-n", &ns])
        }
    })
    .await
    .expect("kubectl wait");
    assert!(waited.contains("condition met"), "{waited}");
    let pods = running_pods(&client, &ns, "stack=prism-quickstart", 3).await;
    let mut components: Vec<String> = pods
        .iter()
        .map(|p| {
            p.metadata.labels.as_ref().and_then(|l| l.get("app.kubernetes.io/component")).cloned().unwrap_or_default()
        })
        .collect();
    components.sort();
    assert_eq!(components, ["admin", "pattern-runner", "proxy"]);
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    let s = stacks.get("prism-quickstart").await.expect("stack").status.expect("status");
    assert_eq!(s.phase, Some(StackPhase::Running));
    assert_eq!(s.proxy.expect("proxy").summary, "1/1");
    assert_eq!(s.admin.expect("admin").summary, "1/1");
    assert_eq!(s.patterns.expect("patterns").summary, "1/1");
    let svc = Api::<Service>::namespaced(client.clone(), &ns).get("prism-quickstart-proxy").await.expect("proxy svc");
    assert_eq!(svc.spec.expect("spec").ports.expect("ports")[0].port, 9090);
    let svc = Api::<Service>::namespaced(client.clone(), &ns).get("prism-quickstart-admin").await.expect("admin svc");
    assert_eq!(svc.spec.expect("spec").ports.expect("ports")[0].port, 8981);

    patterns_follow_the_spec(&client, &ns).await;

    // A PrismPattern the stack does not own is never touched.
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
        "metadata": {"name": "independent"}, "spec": {"pattern": "keyvalue", "backend": "memstore"}}),
    )
    .await;

    // Deleting the stack removes everything it owns.
    deleting_the_stack_removes_what_it_owns(&client, &ns).await;
}

/// A second pattern appears, then the first is removed from the spec: its PrismPattern and
/// Deployment go, the other stays.
async fn patterns_follow_the_spec(client: &Client, ns: &str) {
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), ns);
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let two = json!({"spec": {"patterns": [
        {"name": "kv-memstore", "type": "keyvalue", "backend": "memstore", "replicas": 1},
        {"name": "events", "type": "pubsub", "backend": "memstore", "replicas": 1}]}});
    stacks.patch("prism-quickstart", &PatchParams::default(), &Patch::Merge(&two)).await.expect("add pattern");
    eventually("second pattern's Deployment", async || {
        deployments.get_opt("events").await.map_err(|e| e.to_string())?.ok_or("absent".to_owned())
    })
    .await;
    let one =
        json!({"spec": {"patterns": [{"name": "events", "type": "pubsub", "backend": "memstore", "replicas": 1}]}});
    stacks.patch("prism-quickstart", &PatchParams::default(), &Patch::Merge(&one)).await.expect("remove pattern");
    eventually("removed pattern gone", async || {
        let p = patterns.get_opt("kv-memstore").await.map_err(|e| e.to_string())?;
        let d = deployments.get_opt("kv-memstore").await.map_err(|e| e.to_string())?;
        (p.is_none() && d.is_none()).then_some(()).ok_or("still there".to_owned())
    })
    .await;
    assert!(patterns.get_opt("events").await.expect("get").is_some());
}

/// Deleting the stack removes everything it owns, and nothing else.
async fn deleting_the_stack_removes_what_it_owns(client: &Client, ns: &str) {
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), ns);
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    stacks.delete("prism-quickstart", &DeleteParams::background()).await.expect("delete stack");
    eventually("stack children garbage-collected", async || {
        let left = deployments
            .list(&ListParams::default().labels("stack=prism-quickstart"))
            .await
            .map_err(|e| e.to_string())?;
        let p = patterns.get_opt("events").await.map_err(|e| e.to_string())?;
        (left.items.is_empty() && p.is_none()).then_some(()).ok_or(format!("{} deployments left", left.items.len()))
    })
    .await;
    assert!(patterns.get_opt("independent").await.expect("get").is_some(), "not the stack's: untouched");
}
