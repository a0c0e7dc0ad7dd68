//! Operator-wide settings that shape the objects it builds (not how it connects or runs).

/// Defaults the operator applies where a spec leaves a field empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// Registry and repository prefix of Prism images, e.g. `ghcr.io/prism`.
    pub image_registry: String,
    /// Tag of default images, e.g. `latest`.
    pub image_tag: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Self { image_registry: "ghcr.io/prism".to_owned(), image_tag: "latest".to_owned() }
    }
}

impl Defaults {
    /// The default runner image of a pattern type: `<registry>/<pattern>-runner:<tag>`.
    pub fn runner_image(&self, pattern: &str) -> String {
        format!("{}/{pattern}-runner:{}", self.image_registry, self.image_tag)
    }

    /// The default proxy image: `<registry>/prism-proxy:<tag>`.
    pub fn proxy_image(&self) -> String {
        format!("{}/prism-proxy:{}", self.image_registry, self.image_tag)
    }

    /// The default admin image: `<registry>/prism-admin:<tag>`.
    pub fn admin_image(&self) -> String {
        format!("{}/prism-admin:{}", self.image_registry, self.image_tag)
    }
}
