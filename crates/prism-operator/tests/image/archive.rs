//! The image archive (`make image`'s, or one built now) and what the image promises: the
//! Dockerfile's ENTRYPOINT, CMD and USER, and the pod spec of the shipped Deployment.

use std::path::Path;

use super::*;

/// The archive `make image` wrote, or one built now (a release build: slow the first time).
pub fn image_archive(scratch: &Path) -> (PathBuf, String) {
    let img = std::env::var("PRISM_OPERATOR_IMG")
        .unwrap_or_else(|_| format!("ghcr.io/prism/prism-operator:v{}", env!("CARGO_PKG_VERSION")));
    if let Ok(path) = std::env::var("PRISM_OPERATOR_IMAGE") {
        return (PathBuf::from(path), img);
    }
    let archive = scratch.join("image.oci.tar");
    run(Command::new(repo().join("hack/image.sh")).env("IMG", &img).env("IMAGE_ARCHIVE", &archive));
    (archive, img)
}

/// The pod spec of the shipped Deployment (config/manager/manager.yaml).
pub fn manager_pod_spec() -> Value {
    let text = std::fs::read_to_string(repo().join("config/manager/manager.yaml")).expect("manager.yaml");
    let deployment = text
        .split("\n---")
        .map(support::yaml)
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment in manager.yaml");
    deployment["spec"]["template"]["spec"].clone()
}

/// `ENTRYPOINT`, `CMD` and `USER` of the Dockerfile's last stage, as the image config spells them.
pub fn dockerfile_promises() -> (Value, Value, String) {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let last = |key: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(key))
            .next_back()
            .unwrap_or_else(|| panic!("no {key} in the Dockerfile"))
            .trim()
            .to_owned()
    };
    let entrypoint: Value = serde_json::from_str(&last("ENTRYPOINT ")).expect("ENTRYPOINT in exec form");
    let cmd: Value = serde_json::from_str(&last("CMD ")).expect("CMD in exec form");
    (entrypoint, cmd, last("USER "))
}
