//! The Prism operator: controllers for the `prism.io/v1alpha1` custom resources, and the tools
//! around them (CRD generation).
#![forbid(unsafe_code)]

pub mod crdgen;
