//! Invalid PrismNamespace specs.

use super::*;

/// A valid PrismNamespace spec with `extra` merged in.
fn namespace(extra: Value) -> Value {
    let mut n = json!({"namespaceId": "acme-prod", "proxyRef": {"name": "prism-dev"}});
    merge(&mut n, extra);
    n
}

/// TTL, namespace id, quotas, proxy reference and auth of a namespace.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "ttl that does not parse",
            kind: "PrismNamespace",
            spec: namespace(json!({"ttl": "forever"})),
            expect: &["spec.ttl", "should match"],
        },
        Case {
            what: "namespaceId with capitals",
            kind: "PrismNamespace",
            spec: namespace(json!({"namespaceId": "Acme_Prod"})),
            expect: &["spec.namespaceId", "should match"],
        },
        Case {
            what: "burst below rate",
            kind: "PrismNamespace",
            spec: namespace(json!({"quotas": {"rateLimit": {"requestsPerSecond": 100, "burstSize": 10}}})),
            expect: &["spec.quotas.rateLimit", "burstSize must be at least quotas.rateLimit.requestsPerSecond"],
        },
        Case {
            what: "missing proxyRef",
            kind: "PrismNamespace",
            spec: json!({"namespaceId": "acme"}),
            expect: &["spec.proxyRef", "Required value"],
        },
        Case {
            what: "oidc issuer that is not a URL",
            kind: "PrismNamespace",
            spec: namespace(json!({"auth": {"oidcIssuer": "auth.acme.com"}})),
            expect: &["spec.auth.oidcIssuer", "must be an http(s) URL"],
        },
    ]
}
