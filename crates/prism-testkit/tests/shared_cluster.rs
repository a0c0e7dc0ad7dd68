//! The shared control plane works end to end: simulated nodes with topology labels, scheduling,
//! pods becoming Ready, Deployments becoming Available, garbage collection, the audit log,
//! kubectl and extra nodes. All tests share one control plane, each in its own namespace.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::api::{
    apps::v1::{Deployment, DeploymentSpec, ReplicaSet},
    core::v1::{Container, Namespace, Node, Pod, PodSpec, PodTemplateSpec, Taint},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{
    Api,
    api::{DeleteParams, ListParams, ObjectMeta, PostParams},
};
use prism_testkit::{
    LABEL_REGION, LABEL_TYPE, LABEL_ZONE, NodeSpec, add_node, default_nodes, shared, temp_namespace, wait_until,
};

const WAIT: Duration = Duration::from_secs(60);
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

#[tokio::test]
async fn default_nodes_are_ready_with_zone_and_region_labels() {
    prism_testkit::init_test_tracing();
    let cp = shared().await;
    let nodes = Api::<Node>::all(cp.client().await.unwrap());
    for spec in default_nodes() {
        let node = nodes.get(&spec.name).await.unwrap();
        let labels = node.metadata.labels.clone().unwrap();
        assert_eq!(labels.get(LABEL_ZONE), spec.labels.get(LABEL_ZONE), "{}", spec.name);
        assert_eq!(labels.get(LABEL_REGION), spec.labels.get(LABEL_REGION), "{}", spec.name);
        assert_eq!(labels[LABEL_TYPE], "kwok");
        let ready = node.status.unwrap().conditions.unwrap();
        assert!(ready.iter().any(|c| c.type_ == "Ready" && c.status == "True"), "{} not Ready", spec.name);
    }
    let zones: std::collections::BTreeSet<String> =
        default_nodes().iter().map(|n| n.labels[LABEL_ZONE].clone()).collect();
    assert_eq!(zones.len(), 3);
}

fn pause_deployment(name: &str, replicas: i32) -> Deployment {
    let labels = BTreeMap::from([("app".to_owned(), name.to_owned())]);
    Deployment {
        metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(labels.clone()), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "pause".into(),
                        image: Some(PAUSE_IMAGE.into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

#[tokio::test]
async fn deployment_becomes_available_on_simulated_nodes_and_is_garbage_collected() {
    prism_testkit::init_test_tracing();
    let cp = shared().await;
    let client = cp.client().await.unwrap();
    let (ns, _guard) = temp_namespace(cp).await.unwrap();
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), &ns);
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    let selector = ListParams::default().labels("app=web");

    deployments.create(&PostParams::default(), &pause_deployment("web", 3)).await.unwrap();
    wait_until("3 available replicas", WAIT, async || {
        let d = deployments.get("web").await.map_err(|e| e.to_string())?;
        let available = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
        if available == 3 { Ok(()) } else { Err(format!("availableReplicas={available}")) }
    })
    .await
    .unwrap();

    let kwok_nodes: Vec<String> = default_nodes().into_iter().map(|n| n.name).collect();
    let running = pods.list(&selector).await.unwrap().items;
    assert_eq!(running.len(), 3);
    for pod in &running {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap();
        assert!(kwok_nodes.contains(&node), "scheduled on unexpected node {node}");
        assert_eq!(pod.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
    }
    assert_eq!(replica_sets.list(&selector).await.unwrap().items.len(), 1);

    deployments.delete("web", &DeleteParams::background()).await.unwrap();
    wait_until("ReplicaSets and pods to be garbage-collected", WAIT, async || {
        let rs = replica_sets.list(&selector).await.map_err(|e| e.to_string())?.items.len();
        let p = pods.list(&selector).await.map_err(|e| e.to_string())?.items.len();
        if rs == 0 && p == 0 { Ok(()) } else { Err(format!("{rs} ReplicaSets, {p} pods left")) }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn audit_log_has_one_metadata_event_per_request_with_the_user_agent() {
    prism_testkit::init_test_tracing();
    let cp = shared().await;
    // kube-rs sends no User-Agent unless told to; tests count requests by it.
    let mut config = cp.kube_config().await.unwrap();
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static("prism-testkit-audit-test")));
    let client = kube::Client::try_from(config).unwrap();
    let (ns, _guard) = temp_namespace(cp).await.unwrap();
    let pods = Api::<Pod>::namespaced(client, &ns);
    let _ = pods.get_opt("marker-pod-that-does-not-exist").await.unwrap();

    let path = cp.audit_log_path().to_path_buf();
    let needle = format!("/api/v1/namespaces/{ns}/pods/marker-pod-that-does-not-exist");
    let events = wait_until("the audit event of our GET", WAIT, async || {
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let events: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| l.contains(&needle))
            .map(|l| serde_json::from_str(l).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        if events.is_empty() { Err("not logged yet".into()) } else { Ok(events) }
    })
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "RequestReceived must be omitted: {events:?}");
    let event = &events[0];
    assert_eq!(event["level"], "Metadata");
    assert_eq!(event["stage"], "ResponseComplete");
    assert_eq!(event["verb"], "get");
    assert_eq!(event["user"]["username"], prism_testkit::ADMIN_USER);
    assert_eq!(event["userAgent"], "prism-testkit-audit-test");
}

#[tokio::test]
async fn kubectl_is_preconfigured() {
    let cp = shared().await;
    let out = cp.kubectl().args(["get", "nodes", "-o", "name"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("node/kwok-us-east-1a-0"), "{stdout}");
}

#[tokio::test]
async fn added_tainted_node_becomes_ready_and_keeps_its_taint() {
    prism_testkit::init_test_tracing();
    let cp = shared().await;
    let client = cp.client().await.unwrap();
    let taint =
        Taint { key: "dedicated".into(), value: Some("prism".into()), effect: "NoSchedule".into(), ..Taint::default() };
    let spec = NodeSpec::new("kwok-dedicated-0")
        .in_zone("us-east-1", "us-east-1a")
        .with_label("dedicated", "prism")
        .with_taint(taint.clone());
    let node = add_node(&client, &spec).await.unwrap();
    let taints = node.spec.unwrap().taints.unwrap();
    assert!(taints.iter().any(|t| t.key == taint.key && t.effect == taint.effect), "{taints:?}");
    assert_eq!(node.metadata.labels.unwrap()["dedicated"], "prism");
}

#[tokio::test]
async fn temp_namespace_is_deleted_when_its_guard_drops() {
    prism_testkit::init_test_tracing();
    let cp = shared().await;
    let namespaces = Api::<Namespace>::all(cp.client().await.unwrap());
    let (ns, guard) = temp_namespace(cp).await.unwrap();
    assert!(ns.starts_with(prism_testkit::TEMP_NAMESPACE_PREFIX));
    assert_eq!(guard.name(), ns);
    drop(guard);
    let gone_or_terminating = match namespaces.get_opt(&ns).await.unwrap() {
        None => true,
        Some(n) => n.metadata.deletion_timestamp.is_some(),
    };
    assert!(gone_or_terminating, "namespace {ns} still active after its guard dropped");
}
