//! The Prism operator: controllers for the `prism.io/v1alpha1` custom resources, the pure
//! builders of the objects they own, and the tools around them (CRD generation).
#![forbid(unsafe_code)]

pub mod admin;
pub mod applied_fields;
pub mod apply;
pub mod autoscaling;
pub mod backoff;
pub mod canonical;
pub mod conditions;
pub mod config;
pub mod context;
pub mod controller;
pub mod crdgen;
pub mod credentials;
pub mod error;
pub mod go_duration;
pub mod keda;
pub mod leader;
pub mod metrics;
pub mod naming;
pub mod observability;
pub mod placement;
pub mod rbac;
pub mod runtime;
pub mod server;
pub mod startup;
pub mod telemetry;
pub mod workload;
