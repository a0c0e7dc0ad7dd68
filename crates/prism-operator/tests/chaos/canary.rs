//! A canary password in referenced Secrets, searched for in TRACE logs (text and JSON), Events
//! and statuses.

use k8s_openapi::api::core::v1::Secret;

use super::*;

/// A canary password and username in the Secrets a PrismBackend and a stack's backend reference,
/// the operator at TRACE in text and in JSON: the canary reaches the rendered connection Secret
/// (so it did flow through the operator) and nowhere else: not in either log, in any Event, or in
/// any status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_secret_never_leaves_the_secrets() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let mut searched = Vec::new();
    for format in ["text", "json"] {
        let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
        let canary = format!("canary-{ns}-{format}-pw");
        let user = format!("canary-{ns}-{format}-user");
        let log = std::env::temp_dir().join(format!("prism-canary-{ns}.log"));
        let _op = Proc::start_logging(
            cp.kubeconfig_path(),
            &["--namespaces", &ns, "--log-format", format],
            &[("LOG_LEVEL", "trace")],
            &log,
        );
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-credentials"},
            "stringData": {"username": user, "password": canary, "url": format!("postgres://{user}:{canary}@127.0.0.1:1/db")}});
        let secret: Secret = serde_json::from_value(secret).expect("secret");
        Api::<Secret>::namespaced(client.clone(), &ns).create(&Default::default(), &secret).await.expect("secret");
        support::create(
            &client,
            &ns,
            &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend",
            "metadata": {"name": "db"},
            "spec": {"type": "database", "provider": "postgres", "connection": {"secretRef": {"name": "db-credentials"}}}}),
        )
        .await;
        support::create(&client, &ns, &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
            "metadata": {"name": "st"},
            "spec": {"patterns": [{"name": "orders", "type": "keyvalue", "backend": "pg"}],
                "backends": [{"name": "pg", "type": "database", "provider": "postgres", "secretRef": {"name": "db-credentials"}}]}}))
        .await;
        support::create(
            &client,
            &ns,
            &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
            "metadata": {"name": "reader"}, "spec": {"pattern": "keyvalue", "backend": "db"}}),
        )
        .await;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
        let rendered = support::eventually("the rendered connection Secrets", async || {
            let list = secrets.list(&Default::default()).await.map_err(|e| e.to_string())?.items;
            let rendered: Vec<Secret> =
                list.into_iter().filter(|s| s.name_any().ends_with("-prism-credentials")).collect();
            (rendered.len() >= 2).then_some(rendered).ok_or("not yet".to_owned())
        })
        .await;
        let holds_canary = rendered
            .iter()
            .any(|s| s.data.iter().flatten().any(|(_, v)| String::from_utf8_lossy(&v.0).contains(&canary)));
        assert!(holds_canary, "the canary reached no rendered Secret, so nothing was tested");
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        support::eventually("the runners", async || {
            let n = deployments.list(&Default::default()).await.map_err(|e| e.to_string())?.items.len();
            (n >= 2).then_some(()).ok_or(format!("{n} Deployments"))
        })
        .await;
        drop(_op);

        // As a Secret's data holds it (base64), via k8s-openapi's own encoding.
        let b64 = |s: &str| {
            let v = serde_json::to_value(k8s_openapi::ByteString(s.as_bytes().to_vec())).expect("base64");
            v.as_str().unwrap_or_default().to_owned()
        };
        let needles = [canary.clone(), user.clone(), b64(&canary), b64(&user)];
        let text = std::fs::read_to_string(&log).expect("operator log");
        let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &ns)
            .list(&Default::default())
            .await
            .expect("events");
        let events = serde_json::to_string(&events.items).expect("json");
        let statuses = [
            serde_json::to_string(&list_statuses::<prism_api::v1alpha1::PrismBackend>(&client, &ns).await),
            serde_json::to_string(&list_statuses::<PrismStack>(&client, &ns).await),
            serde_json::to_string(&list_statuses::<PrismPattern>(&client, &ns).await),
        ]
        .map(|s| s.expect("json"))
        .join("\n");
        for (place, haystack) in [("log", &text), ("Events", &events), ("statuses", &statuses)] {
            for needle in &needles {
                assert!(!haystack.contains(needle.as_str()), "the canary {needle} appears in the {format} {place}");
            }
        }
        assert!(text.lines().any(|l| l.contains("TRACE") || l.contains("\"level\":\"TRACE\"")), "the log is at TRACE");
        searched.push(format!("{format}: {} lines, {} bytes", text.lines().count(), text.len()));
    }
    println!("canary searched in the TRACE logs ({}), Events and statuses: not found", searched.join("; "));
}

/// The statuses of every `K` in `ns`, as JSON.
async fn list_statuses<K>(client: &Client, ns: &str) -> Vec<Value>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let items = api.list(&Default::default()).await.expect("list").items;
    items.iter().map(|o| serde_json::to_value(o).map(|v| v["status"].clone()).unwrap_or_default()).collect()
}
