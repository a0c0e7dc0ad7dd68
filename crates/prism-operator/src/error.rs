//! The operator's error type: one variant per failed action. Variant names double as the
//! `reason` of Warning Events and the `reason` label of the failure metric.

/// The kind of an object named in an error (`Deployment`; a dynamic kind such as `ScaledObject`
/// is owned).
pub type Kind = std::borrow::Cow<'static, str>;

/// A reconcile failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Server-side apply of a child object failed.
    #[error("failed to apply {kind} {name}")]
    ApplyChild {
        /// Kind of the child.
        kind: Kind,
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
        kind: Kind,
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
        kind: Kind,
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
        source: crate::admin::AdminError,
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
        kind: Kind,
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
            Self::AdminCall { source, .. } => source.reason(),
            Self::DeleteExpired { .. } => "DeleteExpired",
            Self::Finalizer { .. } => "Finalizer",
            Self::MissingObjectKey(_) => "MissingObjectKey",
        }
    }

    /// The full cause chain, cut to `max` bytes (Event notes are limited to 1 KiB). An API
    /// server's answer is given as its own message and HTTP code, not as kube's rendering of it
    /// (which appends the whole `Status` in Rust's debug notation).
    pub fn chain(&self, max: usize) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            out.push_str(": ");
            if let Some(status) = api_status(cause) {
                out.push_str(&api_text(status));
                break;
            }
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        truncate(out, max)
    }

    /// When the API server refused a child for what it is (its spec: 400 Bad Request, 422
    /// Invalid, or a server-side apply patch it cannot type, which it answers with 500), the
    /// message saying so: applying the same object again cannot succeed, so the owner reports
    /// it and waits for a change instead of retrying on a timer. `None` for anything that may
    /// pass by itself (conflicts, throttling, timeouts, outages, missing permissions).
    pub fn rejected_child(&self) -> Option<String> {
        let Self::ApplyChild { kind, name, source: kube::Error::Api(status) } = self else { return None };
        let typed_patch = status.code == 500 && status.message.contains("failed to create typed patch object");
        if !matches!(status.code, 400 | 422) && !typed_patch {
            return None;
        }
        Some(format!("the API server rejected {kind} {name}: {}", status.message))
    }
}

/// The API server's answer, if `error` is one.
fn api_status<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a kube::core::Status> {
    match error.downcast_ref::<kube::Error>() {
        Some(kube::Error::Api(status)) => Some(status),
        _ => error.downcast_ref::<kube::core::Status>(),
    }
}

/// `<message> (HTTP <code> <reason>)`.
fn api_text(status: &kube::core::Status) -> String {
    let reason = if status.reason.is_empty() { String::new() } else { format!(" {}", status.reason) };
    format!("{} (HTTP {}{reason})", status.message, status.code)
}

/// `text` cut to at most `max` bytes on a character boundary, with `...` when cut.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max.saturating_sub(3);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        let status = kube::core::Status {
            status: Some(kube::core::response::StatusSummary::Failure),
            code,
            message: message.to_owned(),
            reason: reason.to_owned(),
            ..Default::default()
        };
        kube::Error::Api(Box::new(status))
    }

    fn apply(source: kube::Error) -> Error {
        Error::ApplyChild { kind: "Deployment".into(), name: "orders".into(), source }
    }

    const INVALID: &str = "Deployment.apps \"orders\" is invalid: spec.template.spec.tolerations[0].effect: \
                           Unsupported value: \"Sometimes\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"";

    #[test]
    fn api_answers_read_as_the_servers_message_not_a_debug_dump() {
        let chain = apply(api(422, "Invalid", INVALID)).chain(1024);
        assert_eq!(chain, format!("failed to apply Deployment orders: {INVALID} (HTTP 422 Invalid)"));
        for dump in ["Status {", "Some(", "ListMeta", "metadata:"] {
            assert!(!chain.contains(dump), "{chain}");
        }
    }

    #[test]
    fn only_what_cannot_pass_by_itself_is_a_rejection() {
        let rejected = apply(api(422, "Invalid", INVALID)).rejected_child().expect("422");
        assert_eq!(rejected, format!("the API server rejected Deployment orders: {INVALID}"));
        assert!(apply(api(400, "BadRequest", "bad")).rejected_child().is_some());
        let typed = "failed to create typed patch object (/v1, Kind=Deployment): .spec.template.spec.containers[name=\"runner\"].env: duplicate entries for key [name=\"PRISM_CONFIG_A_B\"]";
        assert!(apply(api(500, "InternalError", typed)).rejected_child().is_some());
        for (code, reason) in [
            (409, "Conflict"),
            (429, "TooManyRequests"),
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
            (403, "Forbidden"),
        ] {
            assert_eq!(apply(api(code, reason, "try again")).rejected_child(), None, "{code}");
        }
        let status = Error::PatchStatus { source: api(422, "Invalid", INVALID) };
        assert_eq!(status.rejected_child(), None, "only children are rejected this way");
    }

    #[test]
    fn long_chains_are_cut_on_a_character_boundary() {
        let cut = apply(api(422, "Invalid", &"é".repeat(600))).chain(100);
        assert!(cut.len() <= 100 && cut.ends_with("..."), "{cut}");
    }
}
