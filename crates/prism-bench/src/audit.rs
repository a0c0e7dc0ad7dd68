//! The API server's audit log (JSON lines, written before each response): the operator's requests
//! in a window, by verb and by resource, and the timed requests on named objects that break a
//! latency down. Windows are byte offsets taken while the bench runs.

use std::{
    collections::{BTreeMap, HashSet},
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::Context as _;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// Verbs that change stored state.
const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
/// Verbs that read.
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

/// A stretch of the audit log, as byte offsets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    pub from: u64,
    pub to: u64,
}

/// Requests by client in a window: (writes, reads).
pub type Load = BTreeMap<String, (u64, u64)>;

/// One request on a named object, with the API server's own timestamps.
#[derive(Clone, Debug)]
pub struct Entry {
    pub user_agent: String,
    pub verb: String,
    pub resource: String,
    pub name: String,
    /// When the API server received the request.
    pub received: SystemTime,
    /// When it finished answering it (the ResponseComplete stage).
    pub done: SystemTime,
}

/// The audit log of one control plane.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
}

/// The requests of one user agent in a window.
#[derive(Clone, Debug, Default)]
pub struct Requests {
    /// Requests by verb (access reviews are counted as `review`, not as writes).
    pub by_verb: BTreeMap<String, u64>,
    /// Write requests by `verb resource[/subresource]`.
    pub writes_by_resource: BTreeMap<String, u64>,
    /// Read requests by `verb resource[/subresource]`.
    pub reads_by_resource: BTreeMap<String, u64>,
    /// Up to 20 write request URIs (for reports of writes that should not happen).
    pub sample_writes: Vec<String>,
}

impl Requests {
    /// Writes: create, update, patch, delete, deletecollection (access reviews excluded).
    pub fn writes(&self) -> u64 {
        WRITE_VERBS.iter().filter_map(|v| self.by_verb.get(*v)).sum()
    }

    /// Reads: get, list, watch.
    pub fn reads(&self) -> u64 {
        READ_VERBS.iter().filter_map(|v| self.by_verb.get(*v)).sum()
    }
}

impl AuditLog {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }

    /// The current end of the log: the start or end of a window.
    pub fn offset(&self) -> anyhow::Result<u64> {
        Ok(std::fs::metadata(&self.path).with_context(|| format!("audit log {}", self.path.display()))?.len())
    }

    fn window(&self, from: u64, to: u64) -> anyhow::Result<String> {
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        file.take(to.saturating_sub(from)).read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Every client's requests between two offsets, by client: (writes, reads). Clients are
    /// named by their User-Agent's program and, for controller-manager controllers, the controller.
    pub fn load(&self, w: Window) -> anyhow::Result<Load> {
        let mut seen = HashSet::new();
        let mut out = Load::new();
        for line in self.window(w.from, w.to)?.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            if !seen.insert(event["auditID"].as_str().unwrap_or_default().to_owned()) {
                continue;
            }
            let ua = event["userAgent"].as_str().unwrap_or_default();
            let program = ua.split('/').next().unwrap_or(ua);
            let client = match ua.rsplit_once("system:serviceaccount:kube-system:") {
                Some((_, controller)) => format!("{program} ({controller})"),
                None => program.to_owned(),
            };
            let verb = event["verb"].as_str().unwrap_or_default();
            let uri = event["requestURI"].as_str().unwrap_or_default();
            let entry = out.entry(client).or_default();
            if WRITE_VERBS.contains(&verb) && !uri.contains("accessreviews") {
                entry.0 += 1;
            } else if READ_VERBS.contains(&verb) {
                entry.1 += 1;
            }
        }
        Ok(out)
    }

    /// Requests between two offsets on objects whose name `wanted` accepts, in log order (each
    /// once). Requests without a name or without both timestamps are skipped.
    pub fn entries(&self, w: Window, wanted: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Entry>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for line in self.window(w.from, w.to)?.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            let object = &event["objectRef"];
            let Some(name) = object["name"].as_str().filter(|n| wanted(n)) else { continue };
            if !seen.insert(event["auditID"].as_str().unwrap_or_default().to_owned()) {
                continue;
            }
            let time = |field: &str| -> Option<SystemTime> {
                event[field].as_str()?.parse::<Timestamp>().ok().map(SystemTime::from)
            };
            let (Some(received), Some(done)) = (time("requestReceivedTimestamp"), time("stageTimestamp")) else {
                continue;
            };
            let Some(resource) = resource(object) else { continue };
            out.push(Entry {
                user_agent: event["userAgent"].as_str().unwrap_or_default().to_owned(),
                verb: event["verb"].as_str().unwrap_or_default().to_owned(),
                resource,
                name: name.to_owned(),
                received,
                done,
            });
        }
        Ok(out)
    }

    /// The requests `user_agent` made between two offsets. A request is counted once (a watch is
    /// logged when it starts and again when it ends; the `auditID` tells them apart).
    pub fn requests(&self, user_agent: &str, from: u64, to: u64) -> anyhow::Result<Requests> {
        let text = self.window(from, to)?;
        let mut seen = HashSet::new();
        let mut out = Requests::default();
        for line in text.lines().filter(|l| l.contains(user_agent)) {
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            if event["userAgent"] != user_agent {
                continue;
            }
            let id = event["auditID"].as_str().unwrap_or_default().to_owned();
            if !seen.insert(id) {
                continue;
            }
            let uri = event["requestURI"].as_str().unwrap_or_default();
            let mut verb = event["verb"].as_str().unwrap_or_default().to_owned();
            if uri.contains("accessreviews") {
                verb = "review".to_owned();
            }
            let object = &event["objectRef"];
            let resource = resource(object).unwrap_or_else(|| uri.split('?').next().unwrap_or(uri).to_owned());
            *out.by_verb.entry(verb.clone()).or_default() += 1;
            if WRITE_VERBS.contains(&verb.as_str()) {
                *out.writes_by_resource.entry(format!("{verb} {resource}")).or_default() += 1;
                if out.sample_writes.len() < 20 {
                    out.sample_writes.push(format!("{verb} {uri}"));
                }
            } else if READ_VERBS.contains(&verb.as_str()) {
                *out.reads_by_resource.entry(format!("{verb} {resource}")).or_default() += 1;
            }
        }
        Ok(out)
    }
}

/// `resource` or `resource/subresource` of an audit event's `objectRef` (None for non-resource URLs).
fn resource(object: &Value) -> Option<String> {
    let r = object["resource"].as_str()?;
    Some(match object["subresource"].as_str() {
        Some(s) => format!("{r}/{s}"),
        None => r.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_once_per_request_and_separates_reviews() {
        let dir = std::env::temp_dir().join(format!("prism-bench-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let line = |id: &str, verb: &str, uri: &str, resource: &str, ua: &str| {
            format!(
                r#"{{"auditID":"{id}","verb":"{verb}","requestURI":"{uri}","userAgent":"{ua}","objectRef":{{"resource":"{resource}"}}}}"#
            )
        };
        let text = [
            line("1", "patch", "/apis/apps/v1/namespaces/a/deployments/x", "deployments", "op"),
            line("2", "watch", "/apis/apps/v1/deployments?watch=1", "deployments", "op"),
            line("2", "watch", "/apis/apps/v1/deployments?watch=1", "deployments", "op"),
            line("3", "create", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "x", "op"),
            line("4", "patch", "/apis/apps/v1/namespaces/a/deployments/y", "deployments", "other"),
        ]
        .join("\n");
        std::fs::write(&path, text + "\n").unwrap();
        let log = AuditLog::new(&path);
        let r = log.requests("op", 0, log.offset().unwrap()).unwrap();
        assert_eq!((r.writes(), r.reads(), r.by_verb["review"]), (1, 1, 1));
        assert_eq!(r.writes_by_resource["patch deployments"], 1);
        let load = log.load(Window { from: 0, to: log.offset().unwrap() }).unwrap();
        assert_eq!((load["op"], load["other"]), ((1, 1), (1, 0)));
        // No timestamps in these lines: entries skips them rather than inventing times.
        assert!(log.entries(Window { from: 0, to: log.offset().unwrap() }, |_| true).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
