//! `prism.io/v1alpha1`: the first and only version of the Prism API.

pub mod backend;
pub mod common;
pub mod namespace;
pub mod pattern;
pub mod stack;

pub use backend::*;
pub use common::*;
pub use namespace::*;
pub use pattern::*;
pub use stack::*;
