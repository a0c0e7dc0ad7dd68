//! The operator's error type: one variant per failed action. Variant names double as the
//! `reason` of Warning Events and the `reason` label of the failure metric.

/// A reconcile failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Server-side apply of a child object failed.
    #[error("failed to apply {kind} {name}")]
    ApplyChild {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting an orphaned child failed.
    #[error("failed to delete {kind} {name}")]
    DeleteChild {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing the status subresource failed.
    #[error("failed to write status")]
    PatchStatus {
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A desired object could not be serialized.
    #[error("failed to serialize {kind}")]
    SerializeChild {
        /// Kind of the object.
        kind: &'static str,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// Reading an object the spec references failed (not a 404: that is a validation result).
    #[error("failed to read {kind} {name}")]
    ResolveReference {
        /// Kind of the referenced object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A call to the Prism admin's gRPC control plane failed.
    #[error("failed to call {method} on the Prism admin")]
    AdminCall {
        /// The RPC.
        method: &'static str,
        /// What went wrong.
        #[source]
        source: crate::controller::namespace::admin::AdminError,
    },
    /// Deleting a PrismNamespace whose ttl passed failed.
    #[error("failed to delete the expired PrismNamespace")]
    DeleteExpired {
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Adding or removing a finalizer failed.
    #[error("failed to add or remove the finalizer")]
    Finalizer {
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A child's name is taken by an object this owner does not control.
    #[error("{kind} {name} already exists and is not controlled by this object; rename or remove it")]
    NotOwned {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
    },
    /// The object lacks a field the API server always sets (uid, namespace).
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
}

impl Error {
    /// The Event and metric reason of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ApplyChild { .. } => "ApplyChild",
            Self::DeleteChild { .. } => "DeleteChild",
            Self::PatchStatus { .. } => "PatchStatus",
            Self::SerializeChild { .. } => "SerializeChild",
            Self::NotOwned { .. } => "NameConflict",
            Self::ResolveReference { .. } => "ResolveReference",
            Self::AdminCall { source, .. } => crate::controller::namespace::status::reason(source),
            Self::DeleteExpired { .. } => "DeleteExpired",
            Self::Finalizer { .. } => "Finalizer",
            Self::MissingObjectKey(_) => "MissingObjectKey",
        }
    }

    /// The full cause chain, cut to `max` bytes (Event notes are limited to 1 KiB).
    pub fn chain(&self, max: usize) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        if out.len() > max {
            let mut cut = max.saturating_sub(3);
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
        }
        out
    }
}
