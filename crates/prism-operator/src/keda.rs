//! KEDA's ScaledObject and TriggerAuthentications: the few facts the operator needs to create,
//! watch and detect them. The objects themselves are built as JSON (see
//! `autoscaling::build_scaled_object`) so that only the fields the operator sets are sent.

use kube::api::{ApiResource, GroupVersionKind};

/// Name of KEDA's ScaledObject CRD; its presence tells whether KEDA is installed.
pub const SCALED_OBJECT_CRD: &str = "scaledobjects.keda.sh";

/// The ScaledObject resource (keda.sh/v1alpha1, plural scaledobjects).
pub fn scaled_object_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"), "scaledobjects")
}

/// The TriggerAuthentication resource (keda.sh/v1alpha1, plural triggerauthentications).
pub fn trigger_authentication_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "TriggerAuthentication"),
        "triggerauthentications",
    )
}

/// The ClusterTriggerAuthentication resource (keda.sh/v1alpha1, cluster-scoped).
pub fn cluster_trigger_authentication_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ClusterTriggerAuthentication"),
        "clustertriggerauthentications",
    )
}

/// The ScaledObjects in `namespace`.
pub fn scaled_objects(client: kube::Client, namespace: &str) -> kube::Api<kube::api::DynamicObject> {
    kube::Api::namespaced_with(client, namespace, &scaled_object_resource())
}

/// The TriggerAuthentications in `namespace`.
pub fn trigger_authentications(client: kube::Client, namespace: &str) -> kube::Api<kube::api::DynamicObject> {
    kube::Api::namespaced_with(client, namespace, &trigger_authentication_resource())
}
