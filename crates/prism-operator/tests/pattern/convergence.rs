//! A converged cluster sees no writes from the operator.

use kube::Api;
use prism_api::v1alpha1::PrismPattern;
use serde_json::{Value, json};

use super::*;

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
