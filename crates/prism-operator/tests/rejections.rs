//! What passes admission but the API server refuses in a child (the CRDs check each field of the
//! embedded Kubernetes types, not every combination) becomes a readable status: the
//! owner is Failed with `Ready=False` reason `ChildRejected`, a message naming the child and
//! quoting the API server's own field message (never kube's debug rendering of it), and a Warning
//! Event with the same text; the next spec change is applied at once.

mod support;

use k8s_openapi::{
    api::{apps::v1::Deployment, core::v1::Service, events::v1::Event},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use prism_api::v1alpha1::{PatternPhase, PrismPattern, PrismStack, StackPhase};
use serde_json::json;
use support::{Operator, eventually};

/// Strings kube's `Debug` of a `Status` contains, which users must never see.
const DEBUG_DUMP: [&str; 4] = ["Status {", "Some(", "ListMeta", "ApiError"];

async fn setup() -> (Client, String, prism_testkit::NamespaceGuard, Operator) {
    support::operator_in_new_namespace(prism_testkit::shared().await).await
}

fn assert_readable(what: &str, text: &str) {
    for dump in DEBUG_DUMP {
        assert!(!text.contains(dump), "{what} shows a debug dump ({dump:?}): {text}");
    }
}

/// The Warning Event with `reason` about `name`, once it exists; returns its note.
async fn warning(client: &Client, ns: &str, name: &str, reason: &str) -> String {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    eventually(&format!("a {reason} Event about {name}"), async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .find(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.type_.as_deref() == Some("Warning")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .and_then(|e| e.note.clone())
            .ok_or_else(|| format!("{:?}", list.items.iter().map(|e| &e.reason).collect::<Vec<_>>()))
    })
    .await
}

/// The pattern's `Ready` condition once the pattern is Failed with reason `ChildRejected`.
async fn child_rejected(patterns: &Api<PrismPattern>, name: &str) -> Condition {
    eventually("the pattern Failed with ChildRejected", async || {
        let p = patterns.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        match (s.phase, ready) {
            (Some(PatternPhase::Failed), Some(c)) if c.reason == "ChildRejected" => Ok(c),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_deployment_the_api_server_rejects_fails_the_pattern_readably() {
    let (client, ns, _guard, _op) = setup().await;
    let name = "tolerant";
    // `Exists` takes no value: the Deployment is invalid, which no rule of the CRD says.
    let toleration =
        |value: &str| json!([{"key": "dedicated", "operator": "Exists", "value": value, "effect": "NoSchedule"}]);
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
            "spec": {"pattern": "keyvalue", "backend": "memstore",
                "placement": {"tolerations": toleration("yes")}}}),
    )
    .await;
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let p = child_rejected(&patterns, name).await;
    assert_eq!(p.status, "False");
    assert!(p.message.starts_with(&format!("the API server rejected Deployment {name}: ")), "{}", p.message);
    assert!(p.message.contains("tolerations[0].operator") && p.message.contains("must be empty"), "{}", p.message);
    assert_readable("the condition", &p.message);
    let note = warning(&client, &ns, name, "ChildRejected").await;
    assert_eq!(note, p.message, "the Event says what the condition says");

    // The fix is applied at once (a spec change), and the pattern runs.
    let fix = json!({"spec": {"placement": {"tolerations": toleration("")}}});
    patterns.patch(name, &PatchParams::default(), &Patch::Merge(&fix)).await.expect("fix the spec");
    eventually("the fixed pattern Running", async || {
        let p = patterns.get(name).await.map_err(|e| e.to_string())?;
        let phase = p.status.and_then(|s| s.phase);
        if phase == Some(PatternPhase::Running) { Ok(()) } else { Err(format!("{phase:?}")) }
    })
    .await;
    let deployment = Api::<Deployment>::namespaced(client.clone(), &ns).get(name).await.expect("Deployment");
    let tolerations = deployment.spec.and_then(|s| s.template.spec).and_then(|s| s.tolerations).unwrap_or_default();
    assert_eq!(tolerations[0].value.as_deref().unwrap_or_default(), "");
}

/// A Service is written after the reconcile that sends it (its create waits on the ClusterIP
/// allocator): its rejection still fails the pattern readably, and the fix still lands at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_service_the_api_server_rejects_fails_the_pattern_readably() {
    let (client, ns, _guard, _op) = setup().await;
    let name = "annotated";
    // No rule of the CRD checks annotation keys; the API server does.
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
            "spec": {"pattern": "keyvalue", "backend": "memstore",
                "service": {"annotations": {"not a key!": "x"}}}}),
    )
    .await;
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let p = child_rejected(&patterns, name).await;
    assert!(p.message.starts_with(&format!("the API server rejected Service {name}: ")), "{}", p.message);
    assert!(p.message.contains("metadata.annotations") && p.message.contains("not a key!"), "{}", p.message);
    assert_readable("the condition", &p.message);
    let note = warning(&client, &ns, name, "ChildRejected").await;
    assert_eq!(note, p.message, "the Event says what the condition says");

    let fix = json!({"spec": {"service": {"annotations": null}}});
    patterns.patch(name, &PatchParams::default(), &Patch::Merge(&fix)).await.expect("fix the spec");
    eventually("the fixed pattern Running with its Service", async || {
        let p = patterns.get(name).await.map_err(|e| e.to_string())?;
        let phase = p.status.and_then(|s| s.phase);
        let service = Api::<Service>::namespaced(client.clone(), &ns).get_opt(name).await.map_err(|e| e.to_string())?;
        if phase == Some(PatternPhase::Running) && service.is_some() { Ok(()) } else { Err(format!("{phase:?}")) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_deployment_the_api_server_rejects_fails_the_stack_readably() {
    let (client, ns, _guard, _op) = setup().await;
    let name = "skewed";
    // minDomains goes only with DoNotSchedule: the Deployment is invalid, which no rule of the CRD says.
    let spread = json!([{"maxSkew": 1, "minDomains": 2, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway"}]);
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack", "metadata": {"name": name},
            "spec": {"proxy": {"replicas": 1, "placement": {"topologySpreadConstraints": spread}}}}),
    )
    .await;
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    let ready = eventually("the stack Failed with ChildRejected", async || {
        let st = stacks.get(name).await.map_err(|e| e.to_string())?;
        let s = st.status.clone().unwrap_or_default();
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        match (s.phase, ready) {
            (Some(StackPhase::Failed), Some(c)) if c.reason == "ChildRejected" => Ok(c),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        ready.message.starts_with(&format!("the API server rejected Deployment {name}-proxy: ")),
        "{}",
        ready.message
    );
    assert!(ready.message.contains("minDomains"), "{}", ready.message);
    assert_readable("the condition", &ready.message);
    let note = warning(&client, &ns, name, "ChildRejected").await;
    assert_eq!(note, ready.message);
}
