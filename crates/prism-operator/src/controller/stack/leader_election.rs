//! Pure: the ServiceAccount, Role and RoleBinding that let admin replicas elect a leader on a
//! coordination.k8s.io Lease, and nothing more.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        core::v1::ServiceAccount,
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use prism_api::v1alpha1::LeaderElectionSpec;

use crate::naming;

/// Names and settings of one stack's admin leader election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElection {
    /// ServiceAccount of the admin pods.
    pub service_account: String,
    /// Role and RoleBinding name.
    pub role: String,
    /// The Lease the admins compete for.
    pub lease_name: String,
    /// Lease duration, e.g. `15s`.
    pub lease_duration: String,
    /// Renew deadline, e.g. `10s`.
    pub renew_deadline: String,
    /// Retry period, e.g. `2s`.
    pub retry_period: String,
}

impl LeaderElection {
    /// The leader election of stack `stack` as `spec` asks for it, with the documented defaults
    /// (lease `<stack>-admin-leader`, 15 s duration, 10 s renew deadline, 2 s retry period).
    pub fn with_defaults(stack: &str, spec: &LeaderElectionSpec) -> Self {
        Self {
            service_account: naming::admin_name(stack),
            role: naming::admin_leader_election_role(stack),
            lease_name: spec.lease_name.clone().unwrap_or_else(|| naming::default_lease_name(stack)),
            lease_duration: spec.lease_duration.clone().unwrap_or_else(|| "15s".to_owned()),
            renew_deadline: spec.renew_deadline.clone().unwrap_or_else(|| "10s".to_owned()),
            retry_period: spec.retry_period.clone().unwrap_or_else(|| "2s".to_owned()),
        }
    }
}

/// The RBAC objects of a leader election.
#[derive(Clone, Debug)]
pub struct Rbac {
    /// ServiceAccount.
    pub service_account: ServiceAccount,
    /// Role.
    pub role: Role,
    /// RoleBinding.
    pub role_binding: RoleBinding,
}

/// Builds the ServiceAccount, the Role (create Leases; get and update only the stack's Lease) and
/// the RoleBinding.
pub fn build(le: &LeaderElection, ns: &str, labels: &BTreeMap<String, String>, owner: &OwnerReference) -> Rbac {
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(ns.to_owned()),
        labels: Some(labels.clone()),
        owner_references: Some(vec![owner.clone()]),
        ..Default::default()
    };
    let leases = |verbs: &[&str], names: Option<Vec<String>>| PolicyRule {
        api_groups: Some(vec!["coordination.k8s.io".to_owned()]),
        resources: Some(vec!["leases".to_owned()]),
        resource_names: names,
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..Default::default()
    };
    Rbac {
        service_account: ServiceAccount { metadata: meta(&le.service_account), ..Default::default() },
        role: Role {
            metadata: meta(&le.role),
            // `create` cannot be limited by name; everything else is limited to the one Lease.
            rules: Some(vec![leases(&["create"], None), leases(&["get", "update"], Some(vec![le.lease_name.clone()]))]),
        },
        role_binding: RoleBinding {
            metadata: meta(&le.role),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_owned(),
                kind: "Role".to_owned(),
                name: le.role.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_owned(),
                name: le.service_account.clone(),
                namespace: Some(ns.to_owned()),
                ..Default::default()
            }]),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_allows_exactly_the_lease_work() {
        let le = LeaderElection {
            service_account: "s-admin".into(),
            role: "s-admin-leader-election".into(),
            lease_name: "s-admin-leader".into(),
            lease_duration: "15s".into(),
            renew_deadline: "10s".into(),
            retry_period: "2s".into(),
        };
        let owner = OwnerReference { name: "s".into(), uid: "u".into(), ..Default::default() };
        let rbac = build(&le, "ns", &BTreeMap::new(), &owner);
        let rules = rbac.role.rules.expect("rules");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].verbs, ["create"]);
        assert_eq!(rules[1].verbs, ["get", "update"]);
        assert_eq!(rules[1].resource_names.as_deref(), Some(&["s-admin-leader".to_owned()][..]));
        for r in &rules {
            assert_eq!(r.resources.as_deref(), Some(&["leases".to_owned()][..]));
        }
        let subject = &rbac.role_binding.subjects.expect("subjects")[0];
        assert_eq!((subject.name.as_str(), subject.namespace.as_deref()), ("s-admin", Some("ns")));
    }
}
