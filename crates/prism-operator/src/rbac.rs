//! The operator's own permissions: the one list of every API group, resource and verb the code
//! uses. `prism-operator rbac` renders it as the ClusterRole of `config/rbac/role.yaml` and of
//! the Helm chart; tests fail when the committed files drift from it, and when the operator,
//! running with only this role, uses a permission the list lacks or never uses one it has.

use k8s_openapi::{
    api::rbac::v1::{ClusterRole, PolicyRule, Role},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

/// Name of the operator's ClusterRole (the seeds' `kubectl describe clusterrole` names it), and of
/// the Role holding the same namespaced rules in each watched namespace in the namespaced install.
pub const CLUSTER_ROLE: &str = "prism-operator-manager-role";

/// Name of the namespaced install's only ClusterRole: reads of the cluster-scoped kinds.
pub const CLUSTER_READER_ROLE: &str = "prism-operator-cluster-reader";

/// The cluster-scoped resources among [`RULES`]: in the namespaced install they are the only
/// grants outside the watched namespaces (read-only; neither holds a credential).
pub const CLUSTER_SCOPED: &[&str] = &["customresourcedefinitions", "clustertriggerauthentications"];

/// Whether `resource` (which may carry `/subresource`) is cluster-scoped.
pub fn is_cluster_scoped(resource: &str) -> bool {
    CLUSTER_SCOPED.contains(&resource.split_once('/').map_or(resource, |(r, _)| r))
}

/// One permission rule: an API group, its resources, the verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Resources (with `/subresource` where needed).
    pub resources: &'static [&'static str],
    /// Verbs.
    pub verbs: &'static [&'static str],
}

/// Children: watched, read before a write the cache cannot rule out, server-side applied (a
/// patch, which needs `create` too when the object does not exist yet), swept (delete).
const CHILD: &[&str] = &["create", "delete", "get", "list", "patch", "watch"];

/// Every permission the operator uses.
pub const RULES: &[Rule] = &[
    // The custom resources: watched; child PrismPatterns and PrismBackends are applied and swept;
    // PrismNamespaces carry a finalizer (patch) and delete themselves when their ttl passes.
    Rule { group: "prism.io", resources: &["prismstacks"], verbs: &["get", "list", "watch"] },
    Rule { group: "prism.io", resources: &["prismpatterns", "prismbackends"], verbs: CHILD },
    Rule { group: "prism.io", resources: &["prismnamespaces"], verbs: &["delete", "list", "patch", "watch"] },
    Rule {
        group: "prism.io",
        resources: &["prismstacks/status", "prismpatterns/status", "prismbackends/status", "prismnamespaces/status"],
        verbs: &["patch"],
    },
    // Controller owner references with blockOwnerDeletion need `update` on the owner's
    // finalizers where the OwnerReferencesPermissionEnforcement admission plugin is on.
    Rule {
        group: "prism.io",
        resources: &["prismstacks/finalizers", "prismpatterns/finalizers", "prismbackends/finalizers"],
        verbs: &["update"],
    },
    // Children of patterns and stacks.
    Rule { group: "apps", resources: &["deployments"], verbs: CHILD },
    Rule { group: "", resources: &["services", "serviceaccounts"], verbs: CHILD },
    Rule { group: "autoscaling", resources: &["horizontalpodautoscalers"], verbs: CHILD },
    // KEDA: ScaledObjects of patterns and proxies; the TriggerAuthentications PrismBackends render
    // (and every one in scope is watched, with the cluster-wide kind, to check triggers' references).
    Rule { group: "keda.sh", resources: &["scaledobjects", "triggerauthentications"], verbs: CHILD },
    Rule { group: "keda.sh", resources: &["clustertriggerauthentications"], verbs: &["list", "watch"] },
    Rule { group: "policy", resources: &["poddisruptionbudgets"], verbs: CHILD },
    Rule { group: "rbac.authorization.k8s.io", resources: &["roles", "rolebindings"], verbs: CHILD },
    // Rendered backend connections (ConfigMaps and Secrets) are only ever applied (garbage
    // collection removes them with their PrismBackend); referenced Secrets are read.
    Rule { group: "", resources: &["configmaps", "secrets"], verbs: &["create", "get", "list", "patch", "watch"] },
    // Leader election (the operator's own, and granting the admin's: RBAC only lets the operator
    // grant what it holds).
    Rule { group: "coordination.k8s.io", resources: &["leases"], verbs: &["create", "get", "patch", "update"] },
    // Events about the custom resources (repeats are patched into a series).
    Rule { group: "events.k8s.io", resources: &["events"], verbs: &["create", "patch"] },
    // Startup check of our CRDs, and noticing KEDA being installed later.
    Rule { group: "apiextensions.k8s.io", resources: &["customresourcedefinitions"], verbs: &["get", "list", "watch"] },
];

/// The kinds of children whose `get` the operator uses only when a conditional write of one
/// conflicts (its cache was behind, or the name is taken by an object it does not control; see
/// `apply::apply`). A scenario drives them only by chance, so the "every permission is used"
/// test leaves them out; `tests/stack/ownership.rs` drives the taken-name case.
pub const CONFLICT_READS: &[&str] = &[
    "deployments",
    "services",
    "serviceaccounts",
    "horizontalpodautoscalers",
    "scaledobjects",
    "triggerauthentications",
    "poddisruptionbudgets",
    "roles",
    "rolebindings",
    "configmaps",
    "prismbackends",
];

/// Permissions no request of the operator exercises, with why it holds them; excluded from the
/// "every permission is used" test.
pub const NOT_REQUEST_DRIVEN: &[(&str, &str, &str)] = &[
    ("prismstacks/finalizers", "update", "checked by the OwnerReferencesPermissionEnforcement admission plugin"),
    ("prismpatterns/finalizers", "update", "checked by the OwnerReferencesPermissionEnforcement admission plugin"),
    ("prismbackends/finalizers", "update", "checked by the OwnerReferencesPermissionEnforcement admission plugin"),
    (
        "leases",
        "update",
        "granted to the admin's leader-election Role; RBAC lets the operator grant only what it holds",
    ),
];

/// The ClusterRole holding [`RULES`] (the cluster-wide install).
pub fn cluster_role() -> ClusterRole {
    ClusterRole { metadata: metadata(CLUSTER_ROLE), rules: Some(policy_rules(|_| true)), aggregation_rule: None }
}

/// The namespaced install's Role, bound in each watched namespace: every rule of [`RULES`] on a
/// namespaced resource.
pub fn namespaced_role() -> Role {
    Role { metadata: metadata(CLUSTER_ROLE), rules: Some(policy_rules(|r| !is_cluster_scoped(r))) }
}

/// The namespaced install's ClusterRole: the rules of [`RULES`] on cluster-scoped resources.
pub fn cluster_reader_role() -> ClusterRole {
    ClusterRole {
        metadata: metadata(CLUSTER_READER_ROLE),
        rules: Some(policy_rules(is_cluster_scoped)),
        aggregation_rule: None,
    }
}

fn metadata(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(
            [("app.kubernetes.io/name", "prism-operator"), ("app.kubernetes.io/part-of", "prism")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        ..Default::default()
    }
}

/// The rules of [`RULES`] whose resources pass `keep` (a rule never mixes the two scopes).
fn policy_rules(keep: impl Fn(&str) -> bool) -> Vec<PolicyRule> {
    RULES
        .iter()
        .filter(|r| r.resources.iter().all(|res| keep(res)))
        .map(|r| PolicyRule {
            api_groups: Some(vec![r.group.to_owned()]),
            resources: Some(r.resources.iter().map(|s| (*s).to_owned()).collect()),
            verbs: r.verbs.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        })
        .collect()
}

/// Whether the rules allow `verb` on `group`/`resource` (resource may carry `/subresource`).
pub fn allows(group: &str, resource: &str, verb: &str) -> bool {
    RULES.iter().any(|r| r.group == group && r.resources.contains(&resource) && r.verbs.contains(&verb))
}

/// Every (group, resource, verb) the rules grant.
pub fn grants() -> Vec<(&'static str, &'static str, &'static str)> {
    RULES
        .iter()
        .flat_map(|r| r.resources.iter().flat_map(move |res| r.verbs.iter().map(move |v| (r.group, *res, *v))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_reads_are_granted_get_and_every_child_write() {
        let all = grants();
        for resource in CONFLICT_READS {
            for verb in ["get", "create", "patch"] {
                assert!(all.iter().any(|(_, r, v)| r == resource && *v == verb), "{verb} {resource} not granted");
            }
        }
    }

    #[test]
    fn rules_do_not_repeat_a_grant() {
        let mut all = grants();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a (group, resource, verb) is granted twice");
    }

    #[test]
    fn no_wildcards_and_no_escalation_verbs() {
        for (group, resource, verb) in grants() {
            assert!(!group.contains('*') && !resource.contains('*') && verb != "*", "{group}/{resource}/{verb}");
            assert!(!matches!(verb, "escalate" | "bind" | "impersonate"), "{group}/{resource}/{verb}");
        }
        assert!(allows("apps", "deployments", "patch"));
        assert!(!allows("apps", "deployments", "update"), "server-side apply patches; it never updates");
    }

    #[test]
    fn the_namespaced_install_splits_the_rules_by_scope() {
        for r in RULES {
            let cluster = r.resources.iter().filter(|res| is_cluster_scoped(res)).count();
            assert!(cluster == 0 || cluster == r.resources.len(), "{r:?} mixes scopes");
        }
        let role = namespaced_role().rules.unwrap_or_default();
        let reader = cluster_reader_role().rules.unwrap_or_default();
        assert_eq!(role.len() + reader.len(), RULES.len(), "every rule lands in one of the two");
        assert!(role.iter().any(|r| r.resources.as_ref().is_some_and(|res| res.iter().any(|x| x == "secrets"))));
        for rule in &reader {
            assert!(rule.verbs.iter().all(|v| matches!(v.as_str(), "get" | "list" | "watch")), "{rule:?}");
            assert!(rule.resources.iter().flatten().all(|r| is_cluster_scoped(r)), "{rule:?}");
        }
    }
}
