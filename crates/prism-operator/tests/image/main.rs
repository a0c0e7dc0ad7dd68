//! The operator's container image, run the way the shipped Deployment runs it.
//!
//! `make image` (hack/image.sh) assembles the image without a container engine; this test takes
//! its archive (`PRISM_OPERATOR_IMAGE`, which `make test` builds first, or builds it itself),
//! checks what it promises (the Dockerfile's ENTRYPOINT, CMD and USER; an archive that
//! `skopeo copy` reads and that carries Docker's manifest.json with the tag), unpacks it with
//! umoci and runs it with runc from the image's own filesystem: read-only root, the UID, the
//! args, the environment and the dropped capabilities of `config/manager/manager.yaml`, and the
//! in-cluster configuration a pod gets (a ServiceAccount token bound to the generated
//! ClusterRole, the cluster CA, `KUBERNETES_SERVICE_HOST`). It must become Ready, take the
//! leader Lease, reconcile a PrismPattern, and stop cleanly on SIGTERM as PID 1.

#[path = "../support/mod.rs"]
mod support;

mod archive;
mod guards;
mod runc;

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use archive::{dockerfile_promises, image_archive, manager_pod_spec};
use guards::{Scratch, Unbind};
use k8s_openapi::api::{
    apps::v1::Deployment,
    authentication::v1::{TokenRequest, TokenRequestSpec},
    coordination::v1::Lease,
    core::v1::ServiceAccount,
    rbac::v1::ClusterRoleBinding,
};
use kube::{
    Api,
    api::{ObjectMeta, Patch, PatchParams, PostParams},
};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use runc::{Container, deployment_like, url_host_port};
use serde_json::{Value, json};
use support::{eventually, process::http_get};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::piped()).stdout(Stdio::piped()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_as_the_deployment_runs_it_and_reconciles() {
    prism_testkit::init_test_tracing();
    assert!(
        is_root(),
        "the image test runs the operator with runc, which needs root here (no user namespaces are set up)"
    );
    let scratch = Scratch::new();
    let (archive, img) = tokio::task::block_in_place(|| image_archive(scratch.path()));

    // What the image promises.
    let config: Value = serde_json::from_str(&run(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", archive.display()))))
    .expect("image config");
    let (entrypoint, cmd, user) = dockerfile_promises();
    assert_eq!(config["config"]["Entrypoint"], entrypoint, "{config}");
    assert_eq!(config["config"]["Cmd"], cmd, "{config}");
    assert_eq!(config["config"]["User"], user.as_str(), "{config}");
    let pod = manager_pod_spec();
    let container = pod["containers"][0].clone();
    let security = &container["securityContext"];
    assert_eq!(
        format!("{}:{}", security["runAsUser"], security["runAsGroup"]),
        user,
        "manager.yaml runs the image's user"
    );
    assert_eq!(
        container["image"].as_str(),
        Some(format!("ghcr.io/prism/prism-operator:v{}", env!("CARGO_PKG_VERSION")).as_str()),
        "manager.yaml names the image `make image` tags by default"
    );

    // One archive for Docker (manifest.json with the tag) and for OCI tools.
    let listing = run(Command::new("tar").arg("-tf").arg(&archive));
    assert!(
        listing.lines().any(|l| l == "./index.json") && listing.lines().any(|l| l == "./manifest.json"),
        "{listing}"
    );
    let docker_manifest: Value =
        serde_json::from_str(&run(Command::new("tar").arg("-xOf").arg(&archive).arg("./manifest.json")))
            .expect("manifest.json");
    assert_eq!(docker_manifest[0]["RepoTags"], json!([img]), "{docker_manifest}");
    let docker_archive = scratch.path().join("docker.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("docker-archive:{}:{img}", docker_archive.display())));
    let inspected: Value = serde_json::from_str(&run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", docker_archive.display()))))
    .expect("inspect");
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(1), "{inspected}");
    let compressed = std::fs::metadata(&archive).expect("archive").len();

    // Unpack it as a runtime bundle (rootfs + config.json), then shape the config like the Deployment.
    let layout = scratch.path().join("layout");
    std::fs::create_dir(&layout).expect("layout dir");
    run(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&layout));
    let tag = img.rsplit_once(':').expect("tag").1;
    let bundle = scratch.path().join("bundle");
    run(Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:{tag}", layout.display())).arg(&bundle));
    let unpacked = run(Command::new("du").args(["-sb"]).arg(bundle.join("rootfs")));
    let unpacked: u64 = unpacked.split_whitespace().next().and_then(|n| n.parse().ok()).expect("du");
    eprintln!("image {img}: archive {:.1} MiB, unpacked root filesystem {:.1} MiB", mib(compressed), mib(unpacked));

    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");

    // The pod's ServiceAccount, bound to the shipped ClusterRole, and its projected token.
    let role = repo().join("config/rbac/role.yaml");
    tokio::task::block_in_place(|| run(cp.kubectl().args(["apply", "--server-side", "-f"]).arg(&role)));
    let sa_name = "prism-operator-controller-manager";
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    sas.create(
        &PostParams::default(),
        &ServiceAccount {
            metadata: ObjectMeta { name: Some(sa_name.into()), ..Default::default() },
            ..Default::default()
        },
    )
    .await
    .expect("ServiceAccount");
    let binding = format!("prism-operator-image-test-{ns}");
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    bindings
        .patch(
            &binding,
            &PatchParams::apply("prism-tests"),
            &Patch::Apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": binding},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": prism_operator::rbac::CLUSTER_ROLE},
                "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": ns}]})),
        )
        .await
        .expect("ClusterRoleBinding");
    let _unbind = Unbind(bindings.clone(), binding.clone());
    let token = sas
        .create_token_request(
            sa_name,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() },
                ..Default::default()
            },
        )
        .await
        .expect("token request")
        .status
        .expect("token")
        .token;
    let sa_dir = scratch.path().join("serviceaccount");
    std::fs::create_dir(&sa_dir).expect("sa dir");
    std::fs::write(sa_dir.join("token"), token).expect("token");
    std::fs::copy(cp.data_dir().join("pki/ca.crt"), sa_dir.join("ca.crt")).expect("ca.crt");
    std::fs::write(sa_dir.join("namespace"), &ns).expect("namespace");

    let (metrics, health) = (support::process::free_port(), support::process::free_port());
    let apiserver = url_host_port(cp.apiserver_url());
    let pod_name = format!("prism-operator-controller-manager-{}", &ns[ns.len().saturating_sub(5)..]);
    let spec_path = bundle.join("config.json");
    let mut spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).expect("config.json")).expect("spec");
    deployment_like(
        &mut spec,
        &container,
        &sa_dir,
        &[
            ("POD_NAME", pod_name.as_str()),
            ("POD_NAMESPACE", ns.as_str()),
            ("KUBERNETES_SERVICE_HOST", apiserver.0.as_str()),
            ("KUBERNETES_SERVICE_PORT", apiserver.1.as_str()),
        ],
        &[
            "--metrics-bind-address".into(),
            format!("127.0.0.1:{metrics}"),
            "--health-probe-bind-address".into(),
            format!("127.0.0.1:{health}"),
            // Other tests share this control plane: this operator keeps to its namespace.
            "--namespaces".into(),
            ns.clone(),
        ],
    );
    std::fs::write(&spec_path, spec.to_string()).expect("write config.json");

    let log_path = scratch.path().join("operator.log");
    let log_file = std::fs::File::create(&log_path).expect("log");
    let runc_root = scratch.path().join("runc");
    let id = format!("prism-operator-{ns}");
    let child = Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("runc run");
    let mut operator = Container { runc_root, id, child };

    // Ready, as the kubelet's readiness probe would see it.
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    eventually("the operator in the image is Ready", async || {
        if let Some(status) = operator.child.try_wait().map_err(|e| e.to_string())? {
            panic!("the container exited ({status}): {}", log());
        }
        match http_get(health, "/readyz").await? {
            (200, _) => Ok(()),
            (code, body) => Err(format!("{code} {body}")),
        }
    })
    .await;

    // PID 1 of the container runs as 65532, with no capabilities, on a read-only root.
    let status = std::fs::read_to_string(format!("/proc/{}/status", operator.pid())).expect("/proc status");
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.split_whitespace().collect::<Vec<_>>())
    };
    assert_eq!(field("Uid:"), Some(vec!["65532"; 4]), "{status}");
    assert_eq!(field("Gid:"), Some(vec!["65532"; 4]), "{status}");
    assert_eq!(field("CapEff:"), Some(vec!["0000000000000000"]), "{status}");
    let mounts = std::fs::read_to_string(format!("/proc/{}/mounts", operator.pid())).expect("mounts");
    let root = mounts.lines().find(|l| l.split_whitespace().nth(1) == Some("/")).expect("root mount");
    assert!(root.split_whitespace().nth(3).is_some_and(|o| o.split(',').any(|o| o == "ro")), "{root}");

    // The leader Lease, held under the pod's name, and a PrismPattern reconciled.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    eventually("the operator holds the leader Lease", async || {
        let holders = leases
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter_map(|l| l.spec.and_then(|s| s.holder_identity))
            .collect::<Vec<_>>();
        holders.iter().any(|h| h.starts_with(&pod_name)).then_some(()).ok_or(format!("holders {holders:?}"))
    })
    .await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
        "metadata": {"name": "kv"}, "spec": {"pattern": "keyvalue", "backend": "memstore", "replicas": 2}}),
    )
    .await;
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually("the pattern runs", async || {
        let p = patterns.get("kv").await.map_err(|e| e.to_string())?;
        let status = p.status.unwrap_or_default();
        (status.phase == Some(PatternPhase::Running))
            .then_some(())
            .ok_or(format!("{:?} {:?}", status.phase, status.conditions))
    })
    .await;
    let deployment = deployments.get("kv").await.expect("the pattern's Deployment");
    assert_eq!(deployment.status.and_then(|s| s.ready_replicas), Some(2));

    // JSON logs (--log-format=json from the manifest), no errors.
    let text = log();
    assert!(!text.is_empty(), "no log");
    for line in text.lines() {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert_ne!(entry["level"], "ERROR", "{line}");
    }

    // SIGTERM to PID 1 (what the kubelet sends): a clean exit well within the grace period.
    run(operator.runc().args(["kill", &operator.id, "TERM"]));
    let grace = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().expect("grace period"));
    let exited = prism_testkit::wait_until("the container exits on SIGTERM", grace, async || {
        operator.child.try_wait().map_err(|e| e.to_string())?.ok_or_else(|| "running".to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", log()));
    assert!(exited.success(), "exit {exited}: {}", log());
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}
