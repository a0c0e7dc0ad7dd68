//! SQS (moto), with the access key in a ClusterTriggerAuthentication.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, api::DynamicObject};
use prism_testkit::{SQS_REGION, Sqs};
use serde_json::json;

use super::*;

/// An aws-sqs-queue trigger on moto's SQS, with KEDA's `awsEndpoint`, and the access key in a
/// ClusterTriggerAuthentication (its Secret in KEDA's namespace): refused while it is missing,
/// used once it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_depth_with_a_cluster_trigger_authentication() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let sqs = Sqs::start().await.expect("moto");
    let queue = sqs.create_queue("orders").await.expect("queue");
    let name = "sqs-worker";
    // Cluster-wide objects outlive the test namespace: named after it, deleted at the end.
    let cta_name = format!("aws-{ns}");
    let triggers = json!([{"type": "aws-sqs-queue",
        "authenticationRef": {"name": cta_name, "kind": "ClusterTriggerAuthentication"},
        "metadata": {"queueURL": queue, "queueLength": "5", "awsRegion": SQS_REGION, "awsEndpoint": sqs.endpoint()}}]);
    support::create(&client, &ns, &consumer(name, 1, 4, triggers)).await;
    let p = autoscaling_reason(&client, &ns, name, "TriggerAuthenticationNotFound").await;
    let message = condition(&p, "AutoscalingReady").2;
    assert!(message.contains(&format!("ClusterTriggerAuthentication {cta_name:?}")), "{message}");

    create_secret(
        &client,
        prism_testkit::KEDA_NAMESPACE,
        &cta_name,
        &[("AWS_ACCESS_KEY_ID", "AKIDPRISMTEST"), ("AWS_SECRET_ACCESS_KEY", "prism-test-secret")],
    )
    .await;
    let ctas = Api::<DynamicObject>::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("keda.sh", "v1alpha1", "ClusterTriggerAuthentication"),
            "clustertriggerauthentications",
        ),
    );
    let cta: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ClusterTriggerAuthentication", "metadata": {"name": cta_name},
        "spec": {"secretTargetRef": [
            {"parameter": "awsAccessKeyID", "name": cta_name, "key": "AWS_ACCESS_KEY_ID"},
            {"parameter": "awsSecretAccessKey", "name": cta_name, "key": "AWS_SECRET_ACCESS_KEY"}]}}))
    .expect("object");
    ctas.create(&Default::default(), &cta).await.expect("create ClusterTriggerAuthentication");
    let sqs = &sqs;
    let queue = &queue;
    scales_with_backlog(
        &client,
        &ns,
        name,
        "aws-sqs-queue (ClusterTriggerAuthentication)",
        (1, 3),
        async || sqs.send(queue, 14).await.expect("send"), // ceil(14 / 5) = 3
        async || sqs.purge(queue).await.expect("purge"),
    )
    .await;
    ctas.delete(&cta_name, &Default::default()).await.expect("delete ClusterTriggerAuthentication");
    Api::<Secret>::namespaced(client.clone(), prism_testkit::KEDA_NAMESPACE)
        .delete(&cta_name, &Default::default())
        .await
        .expect("delete the Secret");
}
