//! The README examples reconcile to exactly the objects the text describes: the HPA example,
//! the custom-metrics example, and the KEDA examples (ScaledObjects KEDA's own schema accepts).

use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::{Api, Client, ResourceExt, api::DynamicObject};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_hpa_example_builds_deployment_and_hpa() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismpattern_hpa_example.yaml").await;
    let name = "producer-kafka-events";
    let d = get(&Api::<Deployment>::namespaced(client.clone(), &ns), name).await;
    let pattern: PrismPattern = Api::namespaced(client.clone(), &ns).get(name).await.expect("pattern");
    assert_readme_deployment(&d, &pattern, name);

    let hpa = get(&Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns), name).await;
    assert_readme_hpa(&hpa, name);
    // The sample adds a Service (the load generator's target) to the README's example.
    let svc = get(&Api::<Service>::namespaced(client.clone(), &ns), name).await;
    assert_eq!(svc.spec.expect("spec").ports.expect("ports")[0].port, 8080);

    // The HPA raises the Deployment to minReplicas; kwok makes the pods Running.
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let p = eventually("Running with the HPA's minReplicas", async || {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        (s.phase == Some(PatternPhase::Running) && s.replicas == Some(2)).then_some(p).ok_or(format!("{s:?}"))
    })
    .await;
    let s = p.status.expect("status");
    assert_eq!((s.replicas, s.available_replicas, s.observed_generation), (Some(2), Some(2), p.metadata.generation));
    let ready = s.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready condition");
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", "DeploymentReady"));
    // From the HPA's own conditions: metrics-server serves the pods' CPU, so it is scaling.
    let auto = eventually("the HPA reports ScalingActive", async || {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        let c = s.conditions.iter().find(|c| c.type_ == "AutoscalingReady").cloned().ok_or("no condition")?;
        (c.status == "True").then_some(c.clone()).ok_or(format!("{c:?}"))
    })
    .await;
    assert_eq!(auto.reason, "ScalingActive");
    assert!(auto.message.contains("between 2 and 20 replicas"), "{}", auto.message);
}

/// The README HPA example's Deployment: its labels, owner, runner container, and replicas left
/// to the HPA.
fn assert_readme_deployment(d: &Deployment, pattern: &PrismPattern, name: &str) {
    let labels = d.labels();
    for (k, v) in [
        ("app", "prism"),
        ("prism.io/pattern", "producer"),
        ("prism.io/backend", "kafka"),
        ("prism.io/pattern-instance", name),
        ("app.kubernetes.io/managed-by", "prism-operator"),
        ("app.kubernetes.io/part-of", "prism"),
    ] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "label {k}");
    }
    let owner = &d.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("PrismPattern", pattern.uid().expect("uid").as_str(), Some(true))
    );
    let pod = json(&d.spec.as_ref().expect("spec").template);
    assert_eq!(pod["metadata"]["labels"]["prism.io/pattern-instance"], name);
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["name"], "producer-runner");
    assert_eq!(c["image"], "ghcr.io/prism/producer-runner:latest");
    assert_eq!(c["args"], json!(["--pattern=producer", "--backend=kafka"]));
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health");
    assert!(!operator_owns_replicas(d), "an autoscaled Deployment's replicas belong to the HPA");
}

/// The README HPA example's HPA, field for field.
fn assert_readme_hpa(hpa: &HorizontalPodAutoscaler, name: &str) {
    let spec = json(&hpa.spec);
    assert_eq!(spec["scaleTargetRef"], json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": name}));
    assert_eq!((spec["minReplicas"].clone(), spec["maxReplicas"].clone()), (json!(2), json!(20)));
    assert_eq!(
        spec["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 75}}}])
    );
    assert_eq!(spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 300);
    assert_eq!(spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metrics_example_passes_metrics_through() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismpattern_hpa_custom_metrics_example.yaml").await;
    let hpa = get(&Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns), "keyvalue-custom-metrics").await;
    let spec = json(&hpa.spec);
    assert_eq!((spec["minReplicas"].clone(), spec["maxReplicas"].clone()), (json!(3), json!(20)));
    assert_eq!(
        spec["metrics"],
        json!([{"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"},
            "target": {"type": "AverageValue", "averageValue": "1k"}}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keda_examples_build_scaled_objects_kedas_schema_accepts() {
    let (client, ns, _guard, _op) = setup().await;
    let sos = scaled_objects(&client, &ns);
    kafka_example(&client, &ns, &sos).await;
    multi_trigger_example(&client, &ns, &sos).await;
    production_example(&client, &ns, &sos).await;
}

/// The Kafka example's ScaledObject, field for field.
async fn kafka_example(client: &Client, ns: &str, sos: &Api<DynamicObject>) {
    support::create_sample(client, ns, "prismpattern_keda_kafka_example.yaml").await;
    let so = get(sos, "consumer-kafka-orders").await;
    assert_eq!(
        so.data["spec"],
        json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer-kafka-orders"},
            "pollingInterval": 10, "cooldownPeriod": 300, "minReplicaCount": 1, "maxReplicaCount": 50,
            "triggers": [{"type": "kafka", "metadata": {"bootstrapServers": "kafka:9092", "consumerGroup": "prism-orders",
                "topic": "orders", "lagThreshold": "1000"}}]
        })
    );
    assert_eq!(so.owner_references()[0].kind, "PrismPattern");
}

/// The multi-trigger example waits for its TriggerAuthentication, then gets all four triggers.
async fn multi_trigger_example(client: &Client, ns: &str, sos: &Api<DynamicObject>) {
    // Its SQS trigger names the TriggerAuthentication keda-aws-credentials: until it exists the
    // pattern says so and no ScaledObject is made.
    support::create_sample(client, ns, "prismpattern_keda_multi_trigger_example.yaml").await;
    let p = support::scaling::autoscaling_reason(client, ns, "consumer-multi-trigger", "TriggerAuthenticationNotFound")
        .await;
    assert!(
        support::scaling::condition(&p, "AutoscalingReady")
            .2
            .contains(r#"TriggerAuthentication "keda-aws-credentials""#)
    );
    assert!(sos.get_opt("consumer-multi-trigger").await.expect("get").is_none());
    support::create(
        client,
        ns,
        &json!({"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication", "metadata": {"name": "keda-aws-credentials"},
            "spec": {"secretTargetRef": [{"parameter": "awsAccessKeyID", "name": "aws-credentials", "key": "AWS_ACCESS_KEY_ID"}]}}),
    )
    .await;
    let so = get(sos, "consumer-multi-trigger").await;
    let triggers = so.data["spec"]["triggers"].as_array().expect("triggers").clone();
    let types: Vec<&str> = triggers.iter().filter_map(|t| t["type"].as_str()).collect();
    assert_eq!(types, ["kafka", "nats-jetstream", "aws-sqs-queue", "cpu"]);
    assert_eq!(triggers[2]["authenticationRef"], json!({"name": "keda-aws-credentials"}));
    assert_eq!(triggers[3]["metricType"], "Utilization");
    assert_eq!(triggers[1]["metadata"]["stream"], "orders");
}

/// The production example: its ScaledObject, resources and placement, and no HPA of ours.
async fn production_example(client: &Client, ns: &str, sos: &Api<DynamicObject>) {
    support::create_sample(client, ns, "prismpattern_production_example.yaml").await;
    let so = get(sos, "consumer-production").await;
    assert_eq!(
        (so.data["spec"]["minReplicaCount"].clone(), so.data["spec"]["maxReplicaCount"].clone()),
        (json!(5), json!(100))
    );
    let d = get(&Api::<Deployment>::namespaced(client.clone(), ns), "consumer-production").await;
    let pod = json(&d.spec.expect("spec").template.spec);
    assert_eq!(
        pod["containers"][0]["resources"],
        json!({"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "8", "memory": "16Gi"}})
    );
    assert_eq!(pod["nodeSelector"], json!({"workload": "data-intensive"}));
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0],
        json!({"labelSelector": {"matchLabels": {"prism.io/pattern": "consumer"}}, "topologyKey": "kubernetes.io/hostname"})
    );
    assert!(
        Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns)
            .get_opt("consumer-production")
            .await
            .expect("get")
            .is_none(),
        "keda patterns get no HPA of ours"
    );
}
