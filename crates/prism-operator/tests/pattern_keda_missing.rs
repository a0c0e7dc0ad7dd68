//! A pattern with `scaler: keda` on a cluster without KEDA: the runner still deploys, a condition
//! and a Warning Event say why autoscaling is not ready, and the ScaledObject is created by itself
//! once KEDA's CRDs appear. With only the CRDs (no KEDA operator to check it), the status then
//! says it waits for KEDA. (Its own test binary: it needs a control plane without KEDA.)

mod support;

use k8s_openapi::api::{apps::v1::Deployment, events::v1::Event};
use kube::{
    Api, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind},
};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use serde_json::json;
use support::{Operator, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keda_not_installed_then_installed() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let _op = Operator::start(cp, &ns).await;
    support::create_sample(&client, &ns, "prismpattern_keda_kafka_example.yaml").await;
    let name = "consumer-kafka-orders";
    let patterns = Api::<PrismPattern>::namespaced(client.clone(), &ns);

    let degraded = eventually("KEDANotInstalled", async || {
        let p = patterns.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        let auto = s.conditions.iter().find(|c| c.type_ == "AutoscalingReady").cloned();
        match auto {
            Some(c)
                if c.status == "False" && c.reason == "KEDANotInstalled" && s.phase == Some(PatternPhase::Degraded) =>
            {
                Ok(p)
            }
            _ => Err(format!("{s:?}")),
        }
    })
    .await;
    assert_eq!(degraded.status.expect("status").available_replicas, Some(1), "the runner still runs");
    let d = Api::<Deployment>::namespaced(client.clone(), &ns).get(name).await.expect("Deployment still reconciled");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(1), "fixed replicas until KEDA appears");
    eventually("Warning Event KEDANotInstalled", async || {
        let events =
            Api::<Event>::namespaced(client.clone(), &ns).list(&Default::default()).await.map_err(|e| e.to_string())?;
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("KEDANotInstalled") && e.type_.as_deref() == Some("Warning"))
            .then_some(())
            .ok_or_else(|| "no event".to_owned())
    })
    .await;

    tokio::task::block_in_place(|| prism_testkit::install_keda_crds(cp)).expect("install KEDA CRDs");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"),
        "scaledobjects",
    );
    let sos: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
    let so = eventually("ScaledObject created after KEDA appeared", async || {
        sos.get_opt(name).await.map_err(|e| e.to_string())?.ok_or_else(|| "absent".to_owned())
    })
    .await;
    assert_eq!(so.data["spec"]["maxReplicaCount"], json!(50));
    assert_eq!(so.owner_references()[0].name, name);
    eventually("AutoscalingReady waits for KEDA to check the ScaledObject", async || {
        let s = patterns.get(name).await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        let ok = s
            .conditions
            .iter()
            .any(|c| c.type_ == "AutoscalingReady" && c.status == "False" && c.reason == "ScaledObjectPending");
        // Pending is progress, not a fault: the runner stays Running.
        (ok && s.phase == Some(PatternPhase::Running)).then_some(()).ok_or(format!("{s:?}"))
    })
    .await;
}
