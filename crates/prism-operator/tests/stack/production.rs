//! The multi-admin and production samples: leader-election RBAC is least privilege, and
//! observability and pull secrets reach every pod template.

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Service, ServiceAccount},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use kube::Api;
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_admin_leader_election_rbac_is_least_privilege() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismstack_multi_admin_multi_region.yaml").await;
    let name = "prism-multi-region";
    let sa = format!("{name}-admin");
    let role = format!("{name}-admin-leader-election");
    let lease = format!("{name}-admin-leader");
    eventually("RBAC objects", async || {
        let a = Api::<ServiceAccount>::namespaced(client.clone(), &ns).get_opt(&sa).await.map_err(|e| e.to_string())?;
        let r = Api::<Role>::namespaced(client.clone(), &ns).get_opt(&role).await.map_err(|e| e.to_string())?;
        let b = Api::<RoleBinding>::namespaced(client.clone(), &ns).get_opt(&role).await.map_err(|e| e.to_string())?;
        (a.is_some() && r.is_some() && b.is_some()).then_some(()).ok_or("missing".to_owned())
    })
    .await;
    assert_leader_election_rbac(&ns, &sa, &lease).await;
    let d = Api::<Deployment>::namespaced(client.clone(), &ns).get(&format!("{name}-admin")).await.expect("admin");
    let pod = json(&d.spec.expect("spec").template.spec);
    assert_eq!(pod["serviceAccountName"], sa);
    let env: BTreeMap<String, Value> = pod["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().unwrap_or_default().to_owned(), e["value"].clone()))
        .collect();
    assert_eq!(env["PRISM_LEADER_ELECTION_LEASE_NAME"], lease.as_str());
    assert_eq!(env["PRISM_LEADER_ELECTION_LEASE_DURATION"], "30s");
    assert_eq!(env["PRISM_LEADER_ELECTION_RENEW_DEADLINE"], "10s");
    let tsc = pod["topologySpreadConstraints"].as_array().expect("spread").clone();
    assert_eq!(tsc.len(), 2, "the user's two constraints, kept exactly");
    let svc = Api::<Service>::namespaced(client.clone(), &ns).get(&format!("{name}-admin")).await.expect("admin svc");
    assert_eq!(svc.spec.as_ref().and_then(|s| s.type_.as_deref()), Some("LoadBalancer"));
    assert_eq!(
        svc.metadata.annotations.expect("annotations")["service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled"],
        "true"
    );
    Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns).get(&format!("{name}-admin")).await.expect("admin PDB");
}

/// What the admin's ServiceAccount may do with leases (its own only), and nothing else.
async fn assert_leader_election_rbac(ns: &str, sa: &str, lease: &str) {
    let user = format!("system:serviceaccount:{ns}:{sa}");
    let cp = prism_testkit::shared().await;
    let ns2 = ns.to_owned();
    let can = move |args: Vec<String>| {
        let mut all = vec!["auth".to_owned(), "can-i".to_owned()];
        all.extend(args);
        all.extend(["-n".to_owned(), ns2.clone(), "--as".to_owned(), user.clone()]);
        let out = cp.kubectl().args(&all).output().expect("kubectl");
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let checks = tokio::task::spawn_blocking({
        let lease = lease.to_owned();
        move || {
            [
                ("update", format!("leases.coordination.k8s.io/{lease}"), true),
                ("get", format!("leases.coordination.k8s.io/{lease}"), true),
                ("create", "leases.coordination.k8s.io".to_owned(), true),
                ("delete", format!("leases.coordination.k8s.io/{lease}"), false),
                ("update", "leases.coordination.k8s.io/someone-elses".to_owned(), false),
                ("list", "leases.coordination.k8s.io".to_owned(), false),
                ("get", "pods".to_owned(), false),
                ("get", "secrets".to_owned(), false),
            ]
            .into_iter()
            .map(|(verb, resource, want)| (verb, resource.clone(), want, can(s(&[verb, &resource]))))
            .collect::<Vec<_>>()
        }
    })
    .await
    .expect("can-i");
    for (verb, resource, want, got) in checks {
        assert_eq!(got, want, "can {verb} {resource}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_and_pull_secrets_reach_every_pod_template() {
    let (client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismstack_production.yaml").await;
    // The seed's troubleshooting guide patches imagePullSecrets in with a JSON patch.
    let cp = prism_testkit::shared().await;
    let ns2 = ns.clone();
    tokio::task::spawn_blocking(move || {
        kubectl(
            cp,
            &[
                "patch",
                "prismstack",
                "prism-production",
                "-n",
                &ns2,
                "--type=json",
                r#"-p=[{"op": "add", "path": "/spec/imagePullSecrets", "value": [{"name": "ghcr-secret"}]}]"#,
            ],
        )
    })
    .await
    .expect("kubectl patch");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for name in ["prism-production-proxy", "prism-production-admin", "cache-redis-cluster"] {
        let pod = eventually(&format!("{name} wired"), async || {
            let d = deployments.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("absent")?;
            let pod = json(&d.spec.and_then(|s| s.template.spec));
            (pod["imagePullSecrets"] == json!([{"name": "ghcr-secret"}]))
                .then_some(pod)
                .ok_or("no pull secret yet".to_owned())
        })
        .await;
        let env = pod["containers"][0]["env"].as_array().expect("env").clone();
        assert!(
            env.iter().any(|e| e["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT"
                && e["value"] == "http://jaeger-collector.observability.svc.cluster.local:14268"),
            "{name}: {env:?}"
        );
        let d = deployments.get(name).await.expect("get");
        let annotations = d.spec.and_then(|s| s.template.metadata).and_then(|m| m.annotations).unwrap_or_default();
        assert_eq!(annotations.get("prometheus.io/scrape").map(String::as_str), Some("true"), "{name}");
        assert_eq!(annotations.get("prometheus.io/port").map(String::as_str), Some("9090"), "{name}");
    }
}
