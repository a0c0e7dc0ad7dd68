//! The runtime bundle umoci unpacks, shaped like the shipped Deployment's pod, and the runc
//! container running it.

use std::path::Path;

use super::*;

/// A runc container, killed and deleted on drop.
pub struct Container {
    pub runc_root: PathBuf,
    pub id: String,
    pub child: std::process::Child,
}

impl Container {
    pub fn runc(&self) -> Command {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&self.runc_root);
        cmd
    }

    /// The container's PID 1, as the host sees it.
    pub fn pid(&self) -> u32 {
        let state: Value = serde_json::from_str(&run(self.runc().args(["state", &self.id]))).expect("runc state");
        state["pid"].as_u64().expect("pid") as u32
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.runc().args(["kill", &self.id, "KILL"]).status();
        let _ = self.child.wait();
        let _ = self.runc().args(["delete", "--force", &self.id]).status();
    }
}

pub fn url_host_port(url: &str) -> (String, String) {
    let rest = url.strip_prefix("https://").expect("https URL");
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':').expect("host:port");
    (host.to_owned(), port.to_owned())
}

/// The OCI runtime spec umoci wrote, made to run as the manifest's container does: its args
/// after the entrypoint (plus `extra_args`), its plain env plus `env` (what the downward API
/// and the kubelet would set), read-only root, no capabilities, no new privileges, the
/// ServiceAccount mounted where kube clients look, and the host's network (the control plane
/// listens on loopback).
pub fn deployment_like(
    spec: &mut Value,
    container: &Value,
    sa_dir: &Path,
    env: &[(&str, &str)],
    extra_args: &[String],
) {
    let security = &container["securityContext"];
    let process = &mut spec["process"];
    process["terminal"] = json!(false);
    let mut args = vec![process["args"][0].clone()];
    args.extend(container["args"].as_array().expect("args").iter().cloned());
    args.extend(extra_args.iter().map(|a| json!(a)));
    process["args"] = json!(args);
    let mut vars: Vec<Value> = process["env"].as_array().cloned().unwrap_or_default();
    for var in container["env"].as_array().into_iter().flatten() {
        if let Some(value) = var["value"].as_str() {
            vars.push(json!(format!("{}={value}", var["name"].as_str().expect("env name"))));
        }
    }
    vars.extend(env.iter().map(|(k, v)| json!(format!("{k}={v}"))));
    process["env"] = json!(vars);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]), "manager.yaml drops every capability");
    process["capabilities"] = json!({});
    process["noNewPrivileges"] = json!(security["allowPrivilegeEscalation"] == json!(false));
    spec["root"]["readonly"] = json!(security["readOnlyRootFilesystem"] == json!(true));
    let namespaces = spec["linux"]["namespaces"].as_array_mut().expect("namespaces");
    namespaces.retain(|n| n["type"] != "network");
    spec["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": "/var/run/secrets/kubernetes.io/serviceaccount",
        "type": "bind",
        "source": sa_dir,
        "options": ["rbind", "ro"],
    }));
}
