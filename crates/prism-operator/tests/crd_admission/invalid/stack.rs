//! Invalid PrismStack specs.

use super::*;

/// Ports, leader election, patterns and backends of a stack.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "proxy port out of range",
            kind: "PrismStack",
            spec: json!({"proxy": {"port": 65536}}),
            expect: &["spec.proxy.port", "less than or equal to 65535"],
        },
        Case {
            what: "lease duration that does not parse",
            kind: "PrismStack",
            spec: json!({"admin": {"leaderElection": {"enabled": true, "leaseDuration": "15 seconds"}}}),
            expect: &["spec.admin.leaderElection.leaseDuration", "should match"],
        },
        Case {
            what: "leaseDuration not above renewDeadline",
            kind: "PrismStack",
            spec: json!({"admin": {"leaderElection": {"leaseDuration": "5s", "renewDeadline": "10s"}}}),
            expect: &["spec.admin.leaderElection", "leaseDuration must be longer than leaderElection.renewDeadline"],
        },
        Case {
            what: "renewDeadline not above retryPeriod",
            kind: "PrismStack",
            spec: json!({"admin": {"leaderElection": {"renewDeadline": "1s", "retryPeriod": "2s"}}}),
            expect: &["spec.admin.leaderElection", "renewDeadline must be longer than leaderElection.retryPeriod"],
        },
        Case {
            what: "duplicate pattern names",
            kind: "PrismStack",
            spec: json!({"patterns": [{"name": "kv", "type": "keyvalue", "backend": "memstore"},
                                      {"name": "kv", "type": "keyvalue", "backend": "memstore"}]}),
            expect: &["spec.patterns[1]", "Duplicate value"],
        },
        Case {
            what: "stack backend without connection",
            kind: "PrismStack",
            spec: json!({"backends": [{"name": "nats", "type": "messaging"}]}),
            expect: &["spec.backends[0]", "connectionString or backends[].secretRef is required"],
        },
        Case {
            what: "admin service port out of range",
            kind: "PrismStack",
            spec: json!({"admin": {"enabled": true, "service": {"port": 0}}}),
            expect: &["spec.admin.service.port", "greater than or equal to 1"],
        },
    ]
}
