//! The PrismPattern controller on the local control plane with the real autoscalers
//! (metrics-server, and KEDA with its admission webhook on, so nothing the operator produces may
//! be something KEDA would refuse): the README examples reconcile to exactly the objects the text
//! describes, autoscalers switch and heal, replicas are never fought over, status follows the
//! pods, and a converged cluster sees no writes from the operator.

mod support;

use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams},
};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use serde_json::{Value, json};
use support::{Operator, eventually};

async fn setup() -> (Client, String, prism_testkit::NamespaceGuard, Operator) {
    support::operator_in_new_namespace(prism_testkit::shared_autoscaled().await).await
}

fn scaled_objects(client: &Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"),
        "scaledobjects",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

async fn get<K>(api: &Api<K>, name: &str) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} exists"), async || {
        api.get_opt(name).await.map_err(|e| e.to_string())?.ok_or_else(|| "absent".to_owned())
    })
    .await
}

async fn gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} is gone"), async || match api.get_opt(name).await.map_err(|e| e.to_string())? {
        None => Ok(()),
        Some(_) => Err("still there".to_owned()),
    })
    .await;
}

async fn running(client: &Client, ns: &str, name: &str) -> PrismPattern {
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{name} Running"), async || {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        if s.phase == Some(PatternPhase::Running) && s.available_replicas == s.replicas && s.replicas.unwrap_or(0) > 0 {
            Ok(p)
        } else {
            Err(format!("status {s:?}"))
        }
    })
    .await
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("json")
}

/// Whether our field manager owns `spec.replicas` of a Deployment.
fn operator_owns_replicas(d: &Deployment) -> bool {
    d.managed_fields().iter().any(|m| {
        m.manager.as_deref() == Some(prism_api::FIELD_MANAGER)
            && m.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").and_then(|s| s.get("f:replicas")).is_some())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_hpa_example_builds_deployment_and_hpa() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismpattern_hpa_example.yaml").await;
    let name = "producer-kafka-events";
    let d = get(&Api::<Deployment>::namespaced(client.clone(), &ns), name).await;
    let pattern: PrismPattern = Api::namespaced(client.clone(), &ns).get(name).await.expect("pattern");
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
    assert!(!operator_owns_replicas(&d), "an autoscaled Deployment's replicas belong to the HPA");

    let hpa = get(&Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns), name).await;
    let spec = json(&hpa.spec);
    assert_eq!(spec["scaleTargetRef"], json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": name}));
    assert_eq!((spec["minReplicas"].clone(), spec["maxReplicas"].clone()), (json!(2), json!(20)));
    assert_eq!(
        spec["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 75}}}])
    );
    assert_eq!(spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 300);
    assert_eq!(spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"], 0);
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
    support::create_sample(&client, &ns, "prismpattern_keda_kafka_example.yaml").await;
    let so = get(&sos, "consumer-kafka-orders").await;
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

    // Its SQS trigger names the TriggerAuthentication keda-aws-credentials: until it exists the
    // pattern says so and no ScaledObject is made.
    support::create_sample(&client, &ns, "prismpattern_keda_multi_trigger_example.yaml").await;
    let p =
        support::scaling::autoscaling_reason(&client, &ns, "consumer-multi-trigger", "TriggerAuthenticationNotFound")
            .await;
    assert!(
        support::scaling::condition(&p, "AutoscalingReady")
            .2
            .contains(r#"TriggerAuthentication "keda-aws-credentials""#)
    );
    assert!(sos.get_opt("consumer-multi-trigger").await.expect("get").is_none());
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication", "metadata": {"name": "keda-aws-credentials"},
            "spec": {"secretTargetRef": [{"parameter": "awsAccessKeyID", "name": "aws-credentials", "key": "AWS_ACCESS_KEY_ID"}]}}),
    )
    .await;
    let so = get(&sos, "consumer-multi-trigger").await;
    let triggers = so.data["spec"]["triggers"].as_array().expect("triggers").clone();
    let types: Vec<&str> = triggers.iter().filter_map(|t| t["type"].as_str()).collect();
    assert_eq!(types, ["kafka", "nats-jetstream", "aws-sqs-queue", "cpu"]);
    assert_eq!(triggers[2]["authenticationRef"], json!({"name": "keda-aws-credentials"}));
    assert_eq!(triggers[3]["metricType"], "Utilization");
    assert_eq!(triggers[1]["metadata"]["stream"], "orders");

    support::create_sample(&client, &ns, "prismpattern_production_example.yaml").await;
    let so = get(&sos, "consumer-production").await;
    assert_eq!(
        (so.data["spec"]["minReplicaCount"].clone(), so.data["spec"]["maxReplicaCount"].clone()),
        (json!(5), json!(100))
    );
    let d = get(&Api::<Deployment>::namespaced(client.clone(), &ns), "consumer-production").await;
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
        Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns)
            .get_opt("consumer-production")
            .await
            .expect("get")
            .is_none(),
        "keda patterns get no HPA of ours"
    );
}

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

    // A deleted HPA comes back.
    hpas.delete("auto", &DeleteParams::default()).await.expect("delete hpa");
    eventually("HPA restored", async || match hpas.get_opt("auto").await.map_err(|e| e.to_string())? {
        Some(h) if h.uid() != hpa.uid() => Ok(()),
        _ => Err("not restored yet".to_owned()),
    })
    .await;

    // An edited image is restored.
    let edit =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "keyvalue-runner", "image": "evil:1"}]}}}});
    deployments.patch("fixed", &PatchParams::default(), &Patch::Strategic(&edit)).await.expect("edit image");
    eventually("image restored", async || {
        let d = deployments.get("fixed").await.map_err(|e| e.to_string())?;
        let image = d.spec.and_then(|s| s.template.spec).and_then(|s| s.containers[0].image.clone());
        (image.as_deref() == Some("ghcr.io/prism/keyvalue-runner:latest")).then_some(()).ok_or(format!("{image:?}"))
    })
    .await;

    // `kubectl scale` on a fixed-replica runner is reverted to spec.replicas.
    let scale = |name: &'static str, n: &'static str| {
        let out =
            cp.kubectl().args(["scale", "deployment", name, "-n", &ns, "--replicas", n]).output().expect("kubectl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    scale("fixed", "5");
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
    scale("auto", "4");
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
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &ns);
    let warning = eventually("a Warning Event", async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("BackendConfigNotFound") && e.type_.as_deref() == Some("Warning"))
            .ok_or_else(|| "no event yet".to_owned())
    })
    .await;
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

    // The referenced backend appears: the runner is deployed, wired to its rendered connection.
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend", "metadata": {"name": "redis-main"},
            "spec": {"type": "cache", "provider": "redis", "connection": {"url": "redis://redis:6379"}}
        }),
    )
    .await;
    let d = get(&Api::<Deployment>::namespaced(client.clone(), &ns), "needs-backend").await;
    let env_from = json(&d.spec.expect("spec").template.spec.expect("pod").containers[0].env_from);
    assert_eq!(
        env_from,
        json!([{"configMapRef": {"name": "redis-main-prism-connection"}}, {"secretRef": {"name": "redis-main-prism-credentials"}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converged_patterns_cause_zero_writes() {
    let (client, ns, _guard, op) = setup().await;
    let cp = prism_testkit::shared_autoscaled().await;
    for i in 0..20 {
        let autoscaling = match i % 3 {
            0 => {
                json!({"enabled": true, "scaler": "hpa", "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 70,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}})
            }
            // A trigger KEDA can evaluate without a broker: a cron window that is never open.
            1 => json!({"enabled": true, "scaler": "keda", "minReplicas": 1, "maxReplicas": 4,
                "triggers": [{"type": "cron", "metadata": {"timezone": "Etc/UTC", "start": "0 3 1 1 *", "end": "5 3 1 1 *", "desiredReplicas": "2"}}]}),
            _ => Value::Null,
        };
        support::create(&client, &ns, &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": format!("quiet-{i}")},
            "spec": {"pattern": "keyvalue", "backend": "memstore", "replicas": 1, "service": {"port": 8080},
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}},
                "config": {"ttl": "1h", "maxKeys": 10000},
                "autoscaling": autoscaling}
        }))
        .await;
    }
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    for i in 0..20 {
        let name = format!("quiet-{i}");
        running(&client, &ns, &name).await;
        // Converged includes the autoscalers' first evaluation (HPA metrics, KEDA's check).
        eventually(&format!("{name}'s autoscaler evaluated"), async || {
            let p = patterns.get(&name).await.map_err(|e| e.to_string())?;
            let s = p.status.unwrap_or_default();
            let auto = s.conditions.iter().find(|c| c.type_ == "AutoscalingReady").ok_or("no condition")?;
            (auto.status == "True").then_some(()).ok_or(format!("{auto:?}"))
        })
        .await;
    }
    // Converged: from here on, any write is a bug. Watch the audit log for a quiet period long
    // enough for the HPA controller's and kwok's status updates to trigger reconciles.
    let baseline = support::writes_by(cp, &op.user_agent).len();
    let started = std::time::Instant::now();
    let mut quiet = 0;
    while started.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let writes = support::writes_by(cp, &op.user_agent);
        assert_eq!(writes.len(), baseline, "writes after convergence: {:?}", &writes[baseline..]);
        quiet += 1;
    }
    assert!(quiet >= 5);
}
