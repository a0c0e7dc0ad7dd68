//! Pure: the validated pattern -> every child object the operator wants for it.

use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::api::DynamicObject;

use super::validate::ValidatedPattern;
use crate::{
    autoscaling::{self, Autoscaler, Target},
    workload,
};

/// The children of one PrismPattern. A `None` child must not exist (it is swept).
#[derive(Clone, Debug)]
pub struct Children {
    /// The runner Deployment.
    pub deployment: Deployment,
    /// The Service, when `spec.service` is set.
    pub service: Option<Service>,
    /// The HPA, with scaler hpa.
    pub hpa: Option<HorizontalPodAutoscaler>,
    /// The ScaledObject, with scaler keda and KEDA installed.
    pub scaled_object: Option<DynamicObject>,
}

/// Builds the children of a validated pattern.
pub fn build(v: &ValidatedPattern) -> Children {
    let w = &v.workload;
    let target = Target { name: &w.name, namespace: &w.namespace, labels: &w.labels, owner: &w.owner };
    Children {
        deployment: workload::build_deployment(w),
        service: v.exposure.as_ref().map(|e| workload::build_service(w, e)),
        hpa: match &v.autoscaler {
            Autoscaler::Hpa(h) => Some(autoscaling::build_hpa(&target, h)),
            _ => None,
        },
        scaled_object: match &v.autoscaler {
            Autoscaler::Keda(k) if v.autoscaler_available => Some(autoscaling::build_scaled_object(&target, k)),
            _ => None,
        },
    }
}
