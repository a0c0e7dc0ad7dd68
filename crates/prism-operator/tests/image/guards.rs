//! What the test creates outside the control plane's namespaces, removed when dropped: the
//! ClusterRoleBinding and the scratch directory.

use std::path::Path;

use super::*;

/// Deletes the test's ClusterRoleBinding when dropped.
pub struct Unbind(pub Api<ClusterRoleBinding>, pub String);

impl Drop for Unbind {
    fn drop(&mut self) {
        let (api, name) = (self.0.clone(), self.1.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().map(|rt| rt.block_on(api.delete(&name, &Default::default())))
        })
        .join();
    }
}

/// A scratch directory (the image, its bundle, the token, the logs), removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("prism-image-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
