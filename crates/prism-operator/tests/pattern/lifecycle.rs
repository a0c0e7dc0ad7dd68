//! A deleted pattern takes its children with it, and a missing backend config is a condition
//! (not a hot loop) until the backend appears.

use k8s_openapi::api::{
    apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service, events::v1::Event,
};
use kube::{Api, Client, ResourceExt, api::DeleteParams};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_pattern_garbage_collects_its_children() {
    let (client, ns, _guard, _op) = setup().await;
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "doomed"},
            "spec": {"pattern": "pubsub", "backend": "nats", "service": {"type": "ClusterIP", "port": 8080},
                "resources": {"requests": {"memory": "128Mi"}},
                "autoscaling": {"enabled": true, "maxReplicas": 3, "targetMemoryUtilizationPercentage": 80}}
        }),
    )
    .await;
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let services = Api::<Service>::namespaced(client.clone(), &ns);
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns);
    get(&deployments, "doomed").await;
    get(&services, "doomed").await;
    get(&hpas, "doomed").await;
    Api::<PrismPattern>::namespaced(client.clone(), &ns)
        .delete("doomed", &DeleteParams::background())
        .await
        .expect("delete pattern");
    gone(&deployments, "doomed").await;
    gone(&services, "doomed").await;
    gone(&hpas, "doomed").await;
}

/// Creating a pattern is one `Created` Event naming every child, the Service too (its write
/// goes on after the reconcile that sent it, whose changes wait for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_pattern_is_one_event_naming_every_child() {
    let (client, ns, _guard, _op) = setup().await;
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "announced"},
            "spec": {"pattern": "keyvalue", "backend": "memstore", "service": {"port": 8080},
                "resources": {"requests": {"cpu": "100m"}},
                "autoscaling": {"enabled": true, "maxReplicas": 3, "targetCPUUtilizationPercentage": 70}}
        }),
    )
    .await;
    get(&Api::<Service>::namespaced(client.clone(), &ns), "announced").await;
    running(&client, &ns, "announced").await;
    let events = Api::<Event>::namespaced(client.clone(), &ns);
    let created = eventually("a Created Event", async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        let created: Vec<String> = list
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Created") && e.type_.as_deref() == Some("Normal"))
            .filter_map(|e| e.note)
            .collect();
        if created.is_empty() { Err("none yet".to_owned()) } else { Ok(created) }
    })
    .await;
    assert_eq!(created.len(), 1, "one Created Event: {created:?}");
    for child in ["Deployment announced", "Service announced", "HorizontalPodAutoscaler announced"] {
        assert!(created[0].contains(child), "{child} is not in {:?}", created[0]);
    }
}

/// A pattern whose Service name another object holds fails on every reconcile (a repeated
/// `NameConflict` Warning) and is never reported Running, though its Deployment runs: the
/// reconciles between two failures, which send the Service write again, publish no status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_whose_service_name_is_taken_is_never_running() {
    let (client, ns, _guard, _op) = setup().await;
    let foreign: Service =
        serde_json::from_value(json!({"metadata": {"name": "taken"}, "spec": {"ports": [{"port": 8080}]}}))
            .expect("service");
    Api::<Service>::namespaced(client.clone(), &ns).create(&Default::default(), &foreign).await.expect("service");
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "taken"},
            "spec": {"pattern": "keyvalue", "backend": "memstore", "service": {"port": 8080}}}),
    )
    .await;
    get(&Api::<Deployment>::namespaced(client.clone(), &ns), "taken").await;
    let events = Api::<Event>::namespaced(client.clone(), &ns);
    eventually("a repeated NameConflict Warning", async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("NameConflict") && e.series.as_ref().is_some_and(|s| s.count >= 2))
            .then_some(())
            .ok_or_else(|| "no series yet".to_owned())
    })
    .await;
    let pattern = Api::<PrismPattern>::namespaced(client.clone(), &ns).get("taken").await.expect("pattern");
    let phase = pattern.status.and_then(|s| s.phase);
    assert_ne!(phase, Some(PatternPhase::Running), "a pattern without its Service is not Running");
    let service = Api::<Service>::namespaced(client.clone(), &ns).get("taken").await.expect("service");
    assert!(service.owner_references().is_empty(), "the foreign Service was not taken over: {service:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_backend_config_is_a_condition_not_a_hot_loop() {
    let (client, ns, _guard, op) = setup().await;
    let cp = prism_testkit::shared_autoscaled().await;
    let patterns = Api::<PrismPattern>::namespaced(client.clone(), &ns);
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "needs-backend"},
            "spec": {"pattern": "keyvalue", "backend": "redis", "backendConfig": {"name": "redis-main"}}
        }),
    )
    .await;
    let failed = eventually("Failed with BackendConfigNotFound", async || {
        let p = patterns.get("needs-backend").await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        let reason = s.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.reason.clone());
        (s.phase == Some(PatternPhase::Failed) && reason.as_deref() == Some("BackendConfigNotFound"))
            .then_some(p)
            .ok_or(format!("{s:?}"))
    })
    .await;
    let warning = backend_config_warning(&client, &ns).await;
    assert_eq!(warning.regarding.and_then(|r| r.name).as_deref(), Some("needs-backend"));
    assert!(Api::<Deployment>::namespaced(client.clone(), &ns).get_opt("needs-backend").await.expect("get").is_none());

    // No hot loop: a later, unrelated change is reconciled, and the failed pattern was not
    // rewritten in between (its status write and one Event are all it costs).
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "witness"},
            "spec": {"pattern": "keyvalue", "backend": "memstore"}
        }),
    )
    .await;
    running(&client, &ns, "witness").await;
    let writes: Vec<_> =
        support::writes_by(cp, &op.user_agent).into_iter().filter(|w| w.uri.contains("needs-backend")).collect();
    assert!(writes.len() <= 2, "writes about the failed pattern: {writes:?}");
    let again = patterns.get("needs-backend").await.expect("get");
    assert_eq!(again.resource_version(), failed.resource_version(), "no status churn");

    backend_appears_and_runner_is_wired(&client, &ns).await;
}

/// Waits for the Warning Event BackendConfigNotFound.
async fn backend_config_warning(client: &Client, ns: &str) -> Event {
    let events = Api::<Event>::namespaced(client.clone(), ns);
    eventually("a Warning Event", async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("BackendConfigNotFound") && e.type_.as_deref() == Some("Warning"))
            .ok_or_else(|| "no event yet".to_owned())
    })
    .await
}

/// The referenced backend appears: the runner is deployed, wired to its rendered connection.
async fn backend_appears_and_runner_is_wired(client: &Client, ns: &str) {
    support::create(
        client,
        ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend", "metadata": {"name": "redis-main"},
            "spec": {"type": "cache", "provider": "redis", "connection": {"url": "redis://redis:6379"}}
        }),
    )
    .await;
    let d = get(&Api::<Deployment>::namespaced(client.clone(), ns), "needs-backend").await;
    let env_from = json(&d.spec.expect("spec").template.spec.expect("pod").containers[0].env_from);
    assert_eq!(
        env_from,
        json!([{"configMapRef": {"name": "redis-main-prism-connection"}}, {"secretRef": {"name": "redis-main-prism-credentials"}}])
    );
}
