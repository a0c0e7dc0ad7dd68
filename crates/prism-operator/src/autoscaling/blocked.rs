//! Why a wanted autoscaler is not created, and the `AutoscalingReady=False` condition saying so.

use super::{AUTOSCALING_READY, REASON_TRIGGER_AUTHENTICATION_PENDING};
use crate::conditions::Desired;

/// Why a wanted autoscaler is not created; the component runs its fixed replica count meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// `scaler: keda`, but KEDA's CRDs are not installed.
    KedaNotInstalled,
    /// A utilization target or a `cpu`/`memory` trigger on a container without that request:
    /// the HPA could never compute a utilization, and KEDA's admission webhook refuses it.
    MissingRequest {
        /// `cpu` or `memory`.
        resource: String,
        /// What needs it, e.g. `targetCPUUtilizationPercentage` or `the cpu trigger`.
        needed_by: String,
        /// The container without the request.
        container: String,
        /// Where the request goes, e.g. `spec.resources.requests.cpu`.
        field: String,
    },
    /// A trigger's `authenticationRef` names an object that does not exist.
    TriggerAuthenticationNotFound {
        /// The trigger, e.g. `spec.autoscaling.triggers[0] (redis)`.
        trigger: String,
        /// `TriggerAuthentication` or `ClusterTriggerAuthentication`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A trigger's `backendRef` names a PrismBackend that does not exist.
    TriggerBackendNotFound {
        /// The trigger.
        trigger: String,
        /// The PrismBackend's name.
        backend: String,
    },
    /// A trigger's `backendRef` names a PrismBackend of another provider.
    TriggerBackendMismatch {
        /// The trigger.
        trigger: String,
        /// The PrismBackend's name.
        backend: String,
        /// Its provider.
        provider: &'static str,
        /// The provider the trigger type needs.
        wanted: &'static str,
    },
    /// The TriggerAuthentication a `backendRef`'s PrismBackend renders does not exist yet.
    TriggerAuthenticationPending {
        /// The trigger.
        trigger: String,
        /// The PrismBackend's name.
        backend: String,
        /// The TriggerAuthentication's name.
        name: String,
    },
}

impl Blocked {
    /// The `AutoscalingReady=False` condition saying why.
    pub fn condition(&self) -> Desired {
        match self {
            Self::KedaNotInstalled => Desired::new(
                AUTOSCALING_READY,
                false,
                "KEDANotInstalled",
                "scaler keda needs KEDA's CRDs (scaledobjects.keda.sh), which are not installed; running fixed replicas until they appear",
            ),
            Self::MissingRequest { resource, needed_by, container, field } => Desired::new(
                AUTOSCALING_READY,
                false,
                "ResourceRequestMissing",
                format!(
                    "{needed_by} needs a {resource} request on container {container:?}, which has none: set {field}; running fixed replicas until then"
                ),
            ),
            Self::TriggerAuthenticationNotFound { trigger, kind, name } => Desired::new(
                AUTOSCALING_READY,
                false,
                "TriggerAuthenticationNotFound",
                format!(
                    "{trigger} names {kind} {name:?} in authenticationRef, which does not exist; the ScaledObject is created once it does (running fixed replicas until then)"
                ),
            ),
            Self::TriggerBackendNotFound { trigger, backend } => Desired::new(
                AUTOSCALING_READY,
                false,
                "TriggerBackendNotFound",
                format!(
                    "{trigger} names PrismBackend {backend:?} in backendRef, which does not exist in this namespace; running fixed replicas until it does"
                ),
            ),
            Self::TriggerBackendMismatch { trigger, backend, provider, wanted } => Desired::new(
                AUTOSCALING_READY,
                false,
                "TriggerBackendMismatch",
                format!(
                    "{trigger} names PrismBackend {backend:?} in backendRef, which is of provider {provider}; this trigger type needs provider {wanted}"
                ),
            ),
            Self::TriggerAuthenticationPending { trigger, backend, name } => Desired::new(
                AUTOSCALING_READY,
                false,
                REASON_TRIGGER_AUTHENTICATION_PENDING,
                format!(
                    "{trigger}: waiting for TriggerAuthentication {name:?}, which PrismBackend {backend:?} renders once it is valid and has an address"
                ),
            ),
        }
    }
}
