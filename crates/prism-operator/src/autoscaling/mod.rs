//! Autoscaling: resolves an [`AutoscalingSpec`](prism_api::v1alpha1::AutoscalingSpec) into the
//! autoscaler to run ([`Scaling::plan`]), builds its object (an autoscaling/v2
//! HorizontalPodAutoscaler or a KEDA ScaledObject) for a Deployment, and reads the live
//! autoscaler's conditions back into the `AutoscalingReady` condition ([`readiness`]).
//!
//! Pure; shared by every component that can autoscale (pattern runners, the stack's proxy).

mod autoscaler;
mod blocked;
mod build;
mod readiness;
mod scaling;
mod triggers;

pub use autoscaler::{Autoscaler, Hpa, Keda};
pub use blocked::Blocked;
pub use build::{Target, build_hpa, build_scaled_object};
pub use readiness::{Live, readiness};
pub use scaling::Scaling;
pub use triggers::{Authentications, KedaRefs, TriggerBackend, provider_for, referenced};

/// Condition type: the autoscaler exists and is scaling (or none is wanted).
pub const AUTOSCALING_READY: &str = "AutoscalingReady";
/// `AutoscalingReady=False` reasons that are ordinary progress (a new autoscaler that has not
/// evaluated its metrics yet), not a problem worth an Event.
pub const PENDING_REASONS: [&str; 3] =
    [REASON_HPA_PENDING, REASON_SCALED_OBJECT_PENDING, REASON_TRIGGER_AUTHENTICATION_PENDING];
const REASON_HPA_PENDING: &str = "HPAPending";
const REASON_SCALED_OBJECT_PENDING: &str = "ScaledObjectPending";
const REASON_TRIGGER_AUTHENTICATION_PENDING: &str = "TriggerAuthenticationPending";

/// Helpers shared by the submodules' unit tests.
#[cfg(test)]
mod tests_support {
    use prism_api::v1alpha1::AutoscalingSpec;
    use serde_json::{Value, json};

    pub fn spec(v: Value) -> AutoscalingSpec {
        serde_json::from_value(v).expect("autoscaling spec")
    }

    pub fn container(requests: &[(&str, &str)]) -> crate::workload::ContainerSpec {
        crate::workload::ContainerSpec {
            name: "producer-runner".into(),
            image: "img".into(),
            args: Vec::new(),
            port_name: "grpc",
            port: 8080,
            health: crate::workload::HealthCheck::Tcp,
            env: Vec::new(),
            env_from: Vec::new(),
            resources: serde_json::from_value(json!({
                "requests": requests.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()}))
            .expect("resources"),
            observability: None,
        }
    }
}
