//! The operator's ClusterRole is exactly what the code uses: the binary, running as the
//! ServiceAccount bound to the generated `config/rbac/role.yaml` (impersonated), goes through a
//! scenario touching every controller; the audit log must show no request it was denied, and
//! every permission of the role must have been used (except the few that no request exercises,
//! listed with their reason in `rbac::NOT_REQUEST_DRIVEN`, and the reads that only a write
//! conflict needs, `rbac::CONFLICT_READS`). The namespaced install
//! (config/namespaced) is enough in the watched namespaces and reaches nothing outside them.

mod support;

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
};

use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use prism_api::v1alpha1::{PrismNamespace, PrismPattern, PrismStack};
use serde_json::{Value, json};
use support::{can_i, eventually};

const SA: &str = "system:serviceaccount:prism-system:prism-operator-controller-manager";

fn kubectl(cp: &prism_testkit::ControlPlane, args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut child = cp
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("kubectl");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// (group, resource[/subresource], verb) of every request the audit log attributes to the
/// impersonated ServiceAccount, and those it was denied.
fn used_by_service_account(
    cp: &prism_testkit::ControlPlane,
    sa: &str,
) -> (BTreeSet<(String, String, String)>, Vec<String>) {
    let text = std::fs::read_to_string(cp.audit_log_path()).expect("audit log");
    let (mut used, mut denied) = (BTreeSet::new(), Vec::new());
    for line in text.lines().filter(|l| l.contains(sa)) {
        let Ok(e) = serde_json::from_str::<Value>(line) else { continue };
        if e["impersonatedUser"]["username"] != sa || e["objectRef"].is_null() {
            continue;
        }
        let o = &e["objectRef"];
        let mut resource = o["resource"].as_str().unwrap_or_default().to_owned();
        if let Some(sub) = o["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        let key = (
            o["apiGroup"].as_str().unwrap_or_default().to_owned(),
            resource,
            e["verb"].as_str().unwrap_or_default().to_owned(),
        );
        if e["responseStatus"]["code"] == 403 {
            denied.push(format!("{key:?} {}", e["requestURI"]));
        }
        // A server-side apply that creates the object is authorized as `create` too.
        if key.2 == "patch" && e["responseStatus"]["code"] == 201 {
            used.insert((key.0.clone(), key.1.clone(), "create".to_owned()));
        }
        used.insert(key);
    }
    (used, denied)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_role_is_exactly_what_the_code_uses() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    tokio::task::block_in_place(|| prism_testkit::install_keda_crds(cp)).expect("KEDA CRDs");
    let role = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/rbac/role.yaml");
    let role = role.to_string_lossy().into_owned();
    tokio::task::block_in_place(|| {
        kubectl(cp, &["apply", "--server-side", "-f", &role], None);
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "prism-operator-manager-rolebinding-test"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": prism_operator::rbac::CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": "prism-operator-controller-manager", "namespace": "prism-system"}]});
        kubectl(cp, &["apply", "--server-side", "-f", "-"], Some(&binding.to_string()));
    });
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let mut config: Value = serde_json::from_str(cp.kubeconfig()).expect("kubeconfig");
    config["users"][0]["user"]["as"] = json!(SA);
    let kubeconfig = std::env::temp_dir().join(format!("prism-rbac-{ns}.kubeconfig"));
    std::fs::write(&kubeconfig, config.to_string()).expect("write kubeconfig");
    let port = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let op = support::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_prism-operator"))
            .args(["run", "--namespaces", &ns, "--leader-elect", "--leader-election-namespace", &ns])
            .args(["--metrics-bind-address", &format!("127.0.0.1:{}", port())])
            .args(["--health-probe-bind-address", &format!("127.0.0.1:{}", port())])
            // The admin is found from the stack (its Service name does not resolve here: unreachable).
            .args(["--revoke-grace-period", "2s"])
            .env("KUBECONFIG", &kubeconfig)
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(std::env::temp_dir().join(format!("prism-rbac-{ns}.log")))
                    .map_or_else(|_| Stdio::null(), Stdio::from),
            )
            .spawn()
            .expect("operator"),
    );

    // Every controller, every child kind created, then removed again.
    kubectl(
        cp,
        &[
            "create",
            "secret",
            "generic",
            "pg-credentials",
            "-n",
            &ns,
            "--from-literal=url=postgres://127.0.0.1:1/db",
            "--from-literal=username=u",
            "--from-literal=password=p",
        ],
        None,
    );
    support::create(&client, &ns, &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack", "metadata": {"name": "all"},
        "spec": {
            "proxy": {"replicas": 2, "resources": {"requests": {"cpu": "250m"}},
                "autoscaling": {"enabled": true, "maxReplicas": 4, "targetCPUUtilizationPercentage": 70}},
            "admin": {"enabled": true, "replicas": 2, "leaderElection": {"enabled": true}},
            "patterns": [
                {"name": "kv", "type": "keyvalue", "backend": "memstore"},
                {"name": "events", "type": "consumer", "backend": "pg",
                 "autoscaling": {"enabled": true, "scaler": "keda", "maxReplicas": 3, "triggers": [{"type": "kafka", "metadata": {"topic": "t"}}]}}],
            "backends": [{"name": "pg", "type": "database", "provider": "postgres", "secretRef": {"name": "pg-credentials"}}]}}))
    .await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismNamespace", "metadata": {"name": "tenant"},
        "spec": {"namespaceId": "tenant", "proxyRef": {"name": "all"}, "ttl": "3s"}}),
    )
    .await;
    // A stack whose pattern name is taken fails the same way on each retry: its repeated Warning
    // Event is patched into a series.
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "taken"},
        "spec": {"pattern": "keyvalue", "backend": "memstore"}}),
    )
    .await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack", "metadata": {"name": "clash"},
        "spec": {"patterns": [{"name": "taken", "type": "keyvalue", "backend": "memstore"}]}}),
    )
    .await;
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &ns);
    eventually("a repeated Warning Event", async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("NameConflict") && e.series.as_ref().is_some_and(|s| s.count >= 2))
            .then_some(())
            .ok_or_else(|| "no series yet".to_owned())
    })
    .await;
    // A backend KEDA has a scaler for renders a TriggerAuthentication; one it has none for
    // (after a provider change) has it swept.
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend", "metadata": {"name": "cache"},
            "spec": {"type": "cache", "provider": "redis", "connection": {"url": "redis://127.0.0.1:1"}}}),
    )
    .await;
    let tas = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("keda.sh", "v1alpha1", "TriggerAuthentication"),
            "triggerauthentications",
        ),
    );
    eventually("the backend's TriggerAuthentication", async || {
        tas.get_opt("cache-prism-keda").await.map_err(|e| e.to_string())?.map(drop).ok_or("not yet".to_owned())
    })
    .await;
    let to_nats = json!({"spec": {"provider": "nats", "connection": {"url": "nats://127.0.0.1:1"}}});
    Api::<prism_api::v1alpha1::PrismBackend>::namespaced(client.clone(), &ns)
        .patch("cache", &PatchParams::default(), &Patch::Merge(&to_nats))
        .await
        .expect("change the provider");
    eventually("the TriggerAuthentication swept", async || {
        match tas.get_opt("cache-prism-keda").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually("stack children", async || {
        let names: Vec<String> = deployments
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        (names.len() >= 4).then_some(()).ok_or(format!("{names:?}"))
    })
    .await;
    let namespaces: Api<PrismNamespace> = Api::namespaced(client.clone(), &ns);
    eventually("expired PrismNamespace removed", async || {
        match namespaces.get_opt("tenant").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await;
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    let shrink = json!({"spec": {"proxy": {"replicas": 1, "autoscaling": null}, "admin": {"enabled": false},
        "patterns": [{"name": "events", "type": "consumer", "backend": "memstore"}], "backends": null}});
    stacks.patch("all", &PatchParams::default(), &Patch::Merge(&shrink)).await.expect("shrink the stack");
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    eventually("children swept", async || {
        let kv = patterns.get_opt("kv").await.map_err(|e| e.to_string())?;
        let admin = deployments.get_opt("all-admin").await.map_err(|e| e.to_string())?;
        (kv.is_none() && admin.is_none()).then_some(()).ok_or("not yet".to_owned())
    })
    .await;
    // The pattern drops KEDA: its ScaledObject is swept.
    let so_gone = async || {
        let sos = support::scaled_object_api(&client, &ns);
        match sos.get_opt("events").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("ScaledObject still there".to_owned()),
        }
    };
    eventually("ScaledObject swept", so_gone).await;

    drop(op);
    let (used, denied) = used_by_service_account(cp, SA);
    assert!(denied.is_empty(), "requests the role does not allow:\n{}", denied.join("\n"));
    let unused: Vec<String> = prism_operator::rbac::grants()
        .into_iter()
        .filter(|(_, resource, verb)| {
            !prism_operator::rbac::NOT_REQUEST_DRIVEN.iter().any(|(r, v, _)| r == resource && v == verb)
        })
        .filter(|(_, resource, verb)| !(*verb == "get" && prism_operator::rbac::CONFLICT_READS.contains(resource)))
        .filter(|(g, r, v)| !used.contains(&((*g).to_owned(), (*r).to_owned(), (*v).to_owned())))
        .map(|(g, r, v)| format!("{v} {g}/{r}"))
        .collect();
    assert!(
        unused.is_empty(),
        "permissions the operator never used (remove them from src/rbac.rs): {unused:?}\nused: {used:?}"
    );
}

/// `kubectl kustomize config/namespaced`, parsed.
fn namespaced_install(cp: &prism_testkit::ControlPlane) -> Vec<Value> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/namespaced");
    let out = cp.kubectl().args(["kustomize", &dir.to_string_lossy()]).output().expect("kubectl kustomize");
    assert!(out.status.success(), "kubectl kustomize config/namespaced: {}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).expect("YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_install_is_enough_and_reaches_nothing_else() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (a, _guard_a) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let (b, _guard_b) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let (other, _guard_other) = prism_testkit::temp_namespace(cp).await.expect("namespace");

    // What `kubectl apply -k config/namespaced` installs: no cluster-wide manager role, the
    // generated Role bound in prism-system (the namespace it watches), the read-only reader.
    let docs = namespaced_install(cp);
    let find =
        |kind: &str, name: &str| docs.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name).cloned();
    assert!(find("ClusterRole", prism_operator::rbac::CLUSTER_ROLE).is_none(), "the cluster-wide role is dropped");
    assert!(find("ClusterRoleBinding", "prism-operator-manager-rolebinding").is_none());
    let role = find("Role", prism_operator::rbac::CLUSTER_ROLE).expect("the manager Role");
    assert_eq!(role["metadata"]["namespace"], "prism-system");
    assert_eq!(role["rules"], serde_json::to_value(prism_operator::rbac::namespaced_role().rules).expect("rules"));
    let reader = find("ClusterRole", prism_operator::rbac::CLUSTER_READER_ROLE).expect("the cluster reader");
    assert_eq!(
        reader["rules"],
        serde_json::to_value(prism_operator::rbac::cluster_reader_role().rules).expect("rules")
    );
    let mut binding = find("RoleBinding", "prism-operator-manager-rolebinding").expect("the manager RoleBinding");
    assert_eq!(binding["metadata"]["namespace"], "prism-system");
    assert_eq!(binding["subjects"][0]["namespace"], "prism-system", "the ServiceAccount stays in prism-system");
    let mut reader_binding =
        find("ClusterRoleBinding", "prism-operator-cluster-reader-binding").expect("the reader's binding");
    let manager = find("Deployment", "prism-operator-controller-manager").expect("Deployment");
    let env = &manager["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .is_some_and(|e| e.iter().any(|v| v["name"] == "WATCH_NAMESPACES" && v["value"] == "prism-system")),
        "the Deployment watches the namespace its Role is in: {env}"
    );

    // The same objects for a ServiceAccount of this test only (the other test binds the
    // cluster-wide role to the real one), with the Role in the two namespaces it watches.
    let sa_name = format!("prism-operator-{a}");
    let sa = format!("system:serviceaccount:prism-system:{sa_name}");
    binding["subjects"][0]["name"] = json!(sa_name);
    reader_binding["subjects"][0]["name"] = json!(sa_name);
    reader_binding["metadata"]["name"] = json!(format!("prism-operator-cluster-reader-{a}"));
    let mut objects = vec![reader.clone(), reader_binding];
    for ns in [&a, &b] {
        for object in [&role, &binding] {
            let mut object = object.clone();
            object["metadata"]["namespace"] = json!(ns);
            objects.push(object);
        }
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    tokio::task::block_in_place(|| kubectl(cp, &["apply", "--server-side", "-f", "-"], Some(&list.to_string())));

    let mut config: Value = serde_json::from_str(cp.kubeconfig()).expect("kubeconfig");
    config["users"][0]["user"]["as"] = json!(sa);
    let kubeconfig = std::env::temp_dir().join(format!("prism-rbac-{a}.kubeconfig"));
    std::fs::write(&kubeconfig, config.to_string()).expect("write kubeconfig");
    let log = std::env::temp_dir().join(format!("prism-rbac-{a}.log"));
    let _op = support::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_prism-operator"))
            .args(["run", "--namespaces", &format!("{a},{b}"), "--leader-elect", "--leader-election-namespace", &a])
            .args(["--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0"])
            .env("KUBECONFIG", &kubeconfig)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_or_else(|_| Stdio::null(), Stdio::from))
            .spawn()
            .expect("operator"),
    );
    kubectl(
        cp,
        &["create", "secret", "generic", "pg-credentials", "-n", &a, "--from-literal=url=postgres://127.0.0.1:1/db"],
        None,
    );
    // A stack with a referenced Secret and the admin's leader-election RBAC in one namespace, a
    // pattern in the other.
    support::create(&client, &a, &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismStack", "metadata": {"name": "st"},
        "spec": {"admin": {"enabled": true, "replicas": 2, "leaderElection": {"enabled": true}},
            "patterns": [{"name": "kv", "type": "keyvalue", "backend": "pg"}],
            "backends": [{"name": "pg", "type": "database", "provider": "postgres", "secretRef": {"name": "pg-credentials"}}]}}))
    .await;
    support::create(
        &client,
        &b,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": "kv"},
        "spec": {"pattern": "keyvalue", "backend": "memstore"}}),
    )
    .await;
    let in_a: Api<Deployment> = Api::namespaced(client.clone(), &a);
    let in_b: Api<Deployment> = Api::namespaced(client.clone(), &b);
    let roles = Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(client.clone(), &a);
    let backends = Api::<prism_api::v1alpha1::PrismBackend>::namespaced(client.clone(), &a);
    eventually("both namespaces reconciled", async || {
        let names = |list: Vec<Deployment>| list.into_iter().filter_map(|d| d.metadata.name).collect::<Vec<_>>();
        let a_names = names(in_a.list(&Default::default()).await.map_err(|e| e.to_string())?.items);
        let b_names = names(in_b.list(&Default::default()).await.map_err(|e| e.to_string())?.items);
        let bindings = roles.list(&Default::default()).await.map_err(|e| e.to_string())?.items.len();
        // The backend's status is written after its reconcile read the referenced Secret.
        let backend = backends.get_opt("pg").await.map_err(|e| e.to_string())?;
        let backend_done = backend.and_then(|b| b.status).is_some_and(|s| s.observed_generation.is_some());
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        (a_names.len() >= 3 && b_names == ["kv"] && bindings >= 2 && backend_done)
            .then_some(())
            .ok_or(format!("{a}: {a_names:?}, {b}: {b_names:?}, {bindings} RoleBindings in {a}; log:\n{log}"))
    })
    .await;
    let (used, denied) = used_by_service_account(cp, &sa);
    assert!(denied.is_empty(), "requests the namespaced install does not allow:\n{}", denied.join("\n"));
    assert!(used.iter().any(|(_, r, v)| r == "secrets" && v == "get"), "the referenced Secret was read: {used:?}");
    // Outside the watched namespaces: no Secrets, no RBAC, no children; cluster-wide only reads.
    let elsewhere: [&[&str]; 5] = [
        &["get", "secrets", "-n", &other],
        &["list", "secrets", "-A"],
        &["create", "rolebindings", "-n", &other],
        &["patch", "deployments", "-n", &other],
        &["patch", "deployments", "-A"],
    ];
    for args in elsewhere {
        assert!(!can_i(cp, &sa, args), "the namespaced install allows {args:?}");
    }
    assert!(can_i(cp, &sa, &["get", "secrets", "-n", &a]) && can_i(cp, &sa, &["list", "customresourcedefinitions"]));
}
