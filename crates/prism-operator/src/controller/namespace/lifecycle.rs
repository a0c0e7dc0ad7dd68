//! Pure: the time-based parts of a PrismNamespace's life: when its `ttl` runs out, when the
//! revoke grace period of a deletion ends, and how long to wait for either.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use prism_api::v1alpha1::PrismNamespace;

use crate::conditions::Invalid;
use crate::go_duration;

/// The longest single requeue: far-off deadlines are reached in steps (the scheduler's timer
/// wheel cannot hold years, and a daily look is harmless).
pub const MAX_REQUEUE: Duration = Duration::from_secs(24 * 3600);

/// When the namespace expires (creationTimestamp + ttl), if it has a ttl.
pub fn expiry(obj: &PrismNamespace) -> Result<Option<Timestamp>, Invalid> {
    let Some(ttl) = obj.spec.ttl.as_deref() else {
        return Ok(None);
    };
    let ttl =
        go_duration::parse(ttl).map_err(|e| Invalid { reason: "InvalidTTL", message: format!("spec.ttl: {e}") })?;
    let Some(created) = obj.metadata.creation_timestamp.as_ref() else {
        return Ok(None);
    };
    let ttl = SignedDuration::try_from(ttl)
        .map_err(|_| Invalid { reason: "InvalidTTL", message: "spec.ttl is too long".to_owned() })?;
    Ok(Some(created.0.checked_add(ttl).unwrap_or(Timestamp::MAX)))
}

/// Time left until `deadline` (zero once passed), capped at [`MAX_REQUEUE`].
pub fn until(deadline: Timestamp, now: Timestamp) -> Duration {
    let left = deadline.duration_since(now);
    if left.is_negative() {
        return Duration::ZERO;
    }
    left.unsigned_abs().min(MAX_REQUEUE)
}

/// Whether `deadline` has passed.
pub fn passed(deadline: Timestamp, now: Timestamp) -> bool {
    deadline <= now
}

/// The end of the revoke grace period of a namespace being deleted.
pub fn grace_deadline(obj: &PrismNamespace, grace: Duration) -> Option<Timestamp> {
    let deleted = obj.metadata.deletion_timestamp.as_ref()?;
    let grace = SignedDuration::try_from(grace).ok()?;
    Some(deleted.0.checked_add(grace).unwrap_or(Timestamp::MAX))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    use super::*;

    fn ns(ttl: Option<&str>) -> PrismNamespace {
        let mut obj: PrismNamespace = serde_json::from_value(json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismNamespace",
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"namespaceId": "t", "proxyRef": {"name": "s"}, "ttl": ttl}
        }))
        .expect("ns");
        obj.metadata.creation_timestamp = Some(Time(at(0)));
        obj
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("time")
    }

    #[test]
    fn ttl_expires_at_creation_plus_ttl() {
        assert_eq!(expiry(&ns(None)), Ok(None));
        let e = expiry(&ns(Some("90s"))).expect("ttl").expect("some");
        assert_eq!(e, at(90));
        assert_eq!(until(e, at(30)), Duration::from_secs(60));
        assert_eq!(until(e, at(100)), Duration::ZERO);
        assert!(!passed(e, at(89)) && passed(e, at(90)));
        let far = expiry(&ns(Some("87600h"))).expect("ttl").expect("some");
        assert_eq!(until(far, at(0)), MAX_REQUEUE);
        assert_eq!(expiry(&ns(Some("soon"))).expect_err("bad").reason, "InvalidTTL");
    }

    #[test]
    fn grace_runs_from_the_deletion() {
        let mut obj = ns(None);
        assert_eq!(grace_deadline(&obj, Duration::from_secs(300)), None);
        obj.metadata.deletion_timestamp = Some(Time(at(10)));
        assert_eq!(grace_deadline(&obj, Duration::from_secs(300)), Some(at(310)));
    }
}
