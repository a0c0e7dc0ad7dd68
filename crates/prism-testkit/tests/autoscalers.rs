//! The real autoscalers on the local control plane: metrics-server serves the usage kwok
//! simulates (`kubectl top nodes` / `kubectl top pods` show figures, and a pod's figure follows
//! its simulated load), KEDA's metrics API server is registered and Available, and KEDA's
//! admission webhook is on (it refuses what KEDA refuses).
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec},
        core::v1::{Container, PodSpec, PodTemplateSpec, ResourceRequirements},
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::LabelSelector},
};
use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, PostParams},
};
use prism_testkit::{Load, Usage, shared_autoscaled, temp_namespace, wait_until};
use serde_json::json;

/// metrics-server scrapes every 10 s and needs two scrapes for a CPU rate.
const METRICS_WAIT: Duration = Duration::from_secs(120);

fn deployment(name: &str, cpu_request: Option<&str>) -> Deployment {
    let labels = BTreeMap::from([("app".to_owned(), name.to_owned())]);
    let resources = cpu_request.map(|cpu| ResourceRequirements {
        requests: Some(BTreeMap::from([("cpu".to_owned(), Quantity(cpu.to_owned()))])),
        ..Default::default()
    });
    Deployment {
        metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector { match_labels: Some(labels.clone()), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some("registry.k8s.io/pause:3.10".into()),
                        resources,
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn kubectl(cp: &prism_testkit::ControlPlane, args: &[&str]) -> Result<String, String> {
    let out = cp.kubectl().args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn kubectl_top_shows_the_simulated_usage() {
    prism_testkit::init_test_tracing();
    let cp = shared_autoscaled().await;
    let client = cp.client().await.unwrap();
    let (ns, _guard) = temp_namespace(cp).await.unwrap();

    let nodes = wait_until("kubectl top nodes to show every node", METRICS_WAIT, async || {
        let out = kubectl(cp, &["top", "nodes", "--no-headers"])?;
        let lines = out.lines().count();
        if lines == prism_testkit::default_nodes().len() { Ok(out) } else { Err(out) }
    })
    .await
    .unwrap();
    assert!(nodes.contains("kwok-us-east-1a-0"), "{nodes}");

    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &deployment("busy", Some("500m")))
        .await
        .unwrap();
    let _load = Load::start(client.clone(), &ns, "app=busy", Usage::per_pod(Some(420), Some(300 << 20)));
    // The figure metrics-server reports follows the simulated usage (a rate over its window).
    let top = wait_until("kubectl top pods to show about 420m", METRICS_WAIT, async || {
        let out = kubectl(cp, &["top", "pods", "-n", &ns, "--no-headers"])?;
        let cpu: u64 = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.strip_suffix('m'))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no figure yet: {out:?}"))?;
        if (380..=460).contains(&cpu) && out.contains("300Mi") { Ok(out) } else { Err(out) }
    })
    .await
    .unwrap();
    assert!(top.starts_with("busy-"), "{top}");
}

#[tokio::test]
async fn keda_metrics_api_is_available_and_its_webhook_refuses_what_keda_refuses() {
    prism_testkit::init_test_tracing();
    let cp = shared_autoscaled().await;
    let client = cp.client().await.unwrap();
    let (ns, _guard) = temp_namespace(cp).await.unwrap();

    let apis =
        kubectl(cp, &["get", "apiservices", "v1beta1.external.metrics.k8s.io", "v1beta1.metrics.k8s.io"]).unwrap();
    assert_eq!(apis.matches("True").count(), 2, "both APIServices Available:\n{apis}");
    // The external metrics API answers through the aggregator (an empty list: no ScaledObjects).
    let external = kubectl(cp, &["get", "--raw", "/apis/external.metrics.k8s.io/v1beta1"]).unwrap();
    assert!(external.contains("external.metrics.k8s.io/v1beta1"), "{external}");

    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &deployment("no-request", None))
        .await
        .unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"),
        "scaledobjects",
    );
    let so: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "no-request"},
        "spec": {"scaleTargetRef": {"name": "no-request"}, "minReplicaCount": 1, "maxReplicaCount": 3,
                 "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "50"}}]},
    }))
    .unwrap();
    let err = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar)
        .create(&PostParams::default(), &so)
        .await
        .expect_err("KEDA's webhook refuses a cpu trigger on a container without a CPU request");
    let text = err.to_string();
    assert!(text.contains("vscaledobject.kb.io") && text.contains("doesn't have the cpu request"), "{text}");
}
