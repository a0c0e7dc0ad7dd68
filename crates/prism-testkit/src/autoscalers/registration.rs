//! How the autoscaler processes join the cluster (see the parent module): the KEDA namespace,
//! the ExternalName Services and APIServices of the aggregated APIs, and KEDA's webhooks pointed
//! at loopback, all applied server-side.

use k8s_openapi::api::{
    admissionregistration::v1::{ValidatingWebhookConfiguration, WebhookClientConfig},
    core::v1::{Namespace, Service},
};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams},
};
use serde_json::json;

use crate::Error;

/// Field manager of the objects the testkit applies.
const FIELD_MANAGER: &str = "prism-testkit";

fn setup_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |e| Error::Autoscalers(format!("failed to {what}: {e}"))
}

pub(super) async fn ensure_namespace(client: &Client, name: &str) -> Result<(), Error> {
    let ns: Namespace =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
            .map_err(|e| Error::Autoscalers(e.to_string()))?;
    Api::<Namespace>::all(client.clone())
        .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&ns))
        .await
        .map_err(setup_error(format!("create namespace {name}")))?;
    Ok(())
}

fn api_service_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiregistration.k8s.io", "v1", "APIService"),
        "apiservices",
    )
}

/// An APIService for `group`/v1beta1 served by a process on loopback `port`, reached through an
/// ExternalName Service `localhost`.
pub(super) async fn register_api_service(
    client: &Client,
    name: &str,
    group: &str,
    (namespace, service, port): (&str, &str, u16),
    ca_bundle: &str,
) -> Result<(), Error> {
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": service, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
        "spec": {"type": "ExternalName", "externalName": "localhost"},
    }))
    .map_err(|e| Error::Autoscalers(e.to_string()))?;
    Api::<Service>::namespaced(client.clone(), namespace)
        .patch(service, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&svc))
        .await
        .map_err(setup_error(format!("apply Service {namespace}/{service}")))?;
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_service_resource());
    let obj = json!({
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": name},
        "spec": {
            "group": group, "version": "v1beta1",
            "service": {"namespace": namespace, "name": service, "port": port},
            "caBundle": ca_bundle,
            "groupPriorityMinimum": 100, "versionPriority": 100,
        },
    });
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&obj))
        .await
        .map_err(setup_error(format!("apply APIService {name}")))?;
    Ok(())
}

pub(super) async fn api_service_available(client: &Client, name: &str) -> Result<(), String> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_service_resource());
    let obj = api.get(name).await.map_err(|e| e.to_string())?;
    let available = obj.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Available")
        .cloned()
        .unwrap_or_default();
    if available["status"] == "True" {
        Ok(())
    } else {
        Err(format!("{}: {}", available["reason"], available["message"]))
    }
}

/// KEDA's ValidatingWebhookConfiguration from its module, pointed at the webhooks on loopback.
pub(super) async fn register_webhooks(client: &Client, port: u16, ca_pem: &str) -> Result<(), Error> {
    let path = crate::keda::keda_module_file("config/webhooks/validation_webhooks.yaml")?;
    let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadFile { path: path.clone(), source })?;
    let mut config: ValidatingWebhookConfiguration =
        serde_saphyr::from_str(&text).map_err(|e| Error::Keda(format!("{}: {e}", path.display())))?;
    for webhook in config.webhooks.iter_mut().flatten() {
        let path = webhook.client_config.service.as_ref().and_then(|s| s.path.clone()).unwrap_or_default();
        webhook.client_config = WebhookClientConfig {
            url: Some(format!("https://127.0.0.1:{port}{path}")),
            ca_bundle: Some(k8s_openapi::ByteString(ca_pem.as_bytes().to_vec())),
            service: None,
        };
        webhook.failure_policy = Some("Fail".to_owned());
    }
    let name = config.metadata.name.clone().unwrap_or_else(|| "keda-admission".to_owned());
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&config))
        .await
        .map_err(setup_error(format!("apply ValidatingWebhookConfiguration {name}")))?;
    Ok(())
}
