//! Autoscalers switch and heal: switching scalers removes the old one's objects, drift is
//! healed, and replicas are never fought over.

use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use prism_api::v1alpha1::PrismPattern;
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_scalers_removes_what_the_old_one_created() {
    let (client, ns, _guard, _op) = setup().await;
    let name = "switcher";
    support::create(&client, &ns, &json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
        "spec": {"pattern": "consumer", "backend": "kafka", "replicas": 3, "service": {"port": 9000},
            "resources": {"requests": {"cpu": "200m"}},
            "autoscaling": {"enabled": true, "scaler": "hpa", "minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 60}}
    }))
    .await;
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns);
    let sos = scaled_objects(&client, &ns);
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let patterns = Api::<PrismPattern>::namespaced(client.clone(), &ns);
    get(&hpas, name).await;
    let svc = get(&Api::<Service>::namespaced(client.clone(), &ns), name).await;
    assert_eq!(svc.spec.expect("spec").ports.expect("ports")[0].port, 9000);

    let to_keda = json!({"spec": {"autoscaling": {"scaler": "keda", "targetCPUUtilizationPercentage": null,
        "triggers": [{"type": "kafka", "metadata": {"topic": "orders", "lagThreshold": "10"}}]}}});
    patterns.patch(name, &PatchParams::default(), &Patch::Merge(&to_keda)).await.expect("switch to keda");
    get(&sos, name).await;
    gone(&hpas, name).await;

    let to_none = json!({"spec": {"autoscaling": null}});
    patterns.patch(name, &PatchParams::default(), &Patch::Merge(&to_none)).await.expect("switch off");
    gone(&sos, name).await;
    let d = eventually("replicas enforced from spec", async || {
        let d = deployments.get(name).await.map_err(|e| e.to_string())?;
        match d.spec.as_ref().and_then(|s| s.replicas) {
            Some(3) if operator_owns_replicas(&d) => Ok(d),
            other => Err(format!("replicas {other:?}")),
        }
    })
    .await;
    assert!(operator_owns_replicas(&d));
    assert!(hpas.get_opt(name).await.expect("get").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_healed_and_replicas_are_not_fought_over() {
    let (client, ns, _guard, op) = setup().await;
    let cp = prism_testkit::shared_autoscaled().await;
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns);
    support::create(&client, &ns, &json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "auto"},
        "spec": {"pattern": "keyvalue", "backend": "redis", "resources": {"requests": {"cpu": "100m"}},
            "autoscaling": {"enabled": true, "minReplicas": 1, "maxReplicas": 8, "targetCPUUtilizationPercentage": 70}}
    }))
    .await;
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "fixed"},
            "spec": {"pattern": "keyvalue", "backend": "redis", "replicas": 2}
        }),
    )
    .await;
    let hpa = get(&hpas, "auto").await;
    running(&client, &ns, "auto").await;
    running(&client, &ns, "fixed").await;

    deleted_hpa_comes_back(&hpas, &hpa).await;
    edited_image_is_restored(&deployments).await;

    // `kubectl scale` on a fixed-replica runner is reverted to spec.replicas.
    scale(cp, &ns, "fixed", "5");
    eventually("fixed replicas reverted", async || {
        let r = deployments.get("fixed").await.map_err(|e| e.to_string())?.spec.and_then(|s| s.replicas);
        (r == Some(2)).then_some(()).ok_or(format!("{r:?}"))
    })
    .await;

    // On an autoscaled runner it is left alone: the pattern's status follows the new count
    // (which proves the operator reconciled after the scale) and the operator never wrote the
    // Deployment again.
    let writes_before =
        support::writes_by(cp, &op.user_agent).iter().filter(|w| w.uri.contains("/deployments/auto")).count();
    scale(cp, &ns, "auto", "4");
    eventually("status follows the scaled count", async || {
        let p: PrismPattern = Api::namespaced(client.clone(), &ns).get("auto").await.map_err(|e| e.to_string())?;
        let s = p.status.unwrap_or_default();
        (s.replicas == Some(4) && s.available_replicas == Some(4)).then_some(()).ok_or(format!("{s:?}"))
    })
    .await;
    let d = deployments.get("auto").await.expect("get");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(4), "the operator must not reset an autoscaled count");
    let writes_after =
        support::writes_by(cp, &op.user_agent).iter().filter(|w| w.uri.contains("/deployments/auto")).count();
    assert_eq!(writes_before, writes_after, "no write to the autoscaled Deployment");
}

/// A deleted HPA comes back.
async fn deleted_hpa_comes_back(hpas: &Api<HorizontalPodAutoscaler>, hpa: &HorizontalPodAutoscaler) {
    hpas.delete("auto", &DeleteParams::default()).await.expect("delete hpa");
    eventually("HPA restored", async || match hpas.get_opt("auto").await.map_err(|e| e.to_string())? {
        Some(h) if h.uid() != hpa.uid() => Ok(()),
        _ => Err("not restored yet".to_owned()),
    })
    .await;
}

/// An edited image is restored.
async fn edited_image_is_restored(deployments: &Api<Deployment>) {
    let edit =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "keyvalue-runner", "image": "evil:1"}]}}}});
    deployments.patch("fixed", &PatchParams::default(), &Patch::Strategic(&edit)).await.expect("edit image");
    eventually("image restored", async || {
        let d = deployments.get("fixed").await.map_err(|e| e.to_string())?;
        let image = d.spec.and_then(|s| s.template.spec).and_then(|s| s.containers[0].image.clone());
        (image.as_deref() == Some("ghcr.io/prism/keyvalue-runner:latest")).then_some(()).ok_or(format!("{image:?}"))
    })
    .await;
}

/// `kubectl scale deployment <name> --replicas <n>`.
fn scale(cp: &prism_testkit::ControlPlane, ns: &str, name: &str, n: &str) {
    let out = cp.kubectl().args(["scale", "deployment", name, "-n", ns, "--replicas", n]).output().expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
