//! ALLOWED_IMAGES: the operator's list of `provider:image` pairs a create may use in
//! Terraform mode. The Worker refuses other images with a 400 already; the runner checks
//! again because `/rpc` callers reach the jobs table without the Worker (defence in depth),
//! and an image is what decides what software a tenant's machine boots.
use std::fmt;

pub const DEFAULT_ALLOWED_IMAGES: &str = "aws:ubuntu-22.04,aws:ubuntu-24.04,aws:debian-12,\
gcp:ubuntu-22.04,gcp:ubuntu-24.04,gcp:debian-12,\
azure:ubuntu-22.04,azure:ubuntu-24.04,azure:debian-12";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAllowlist {
    pairs: Vec<(String, String)>,
}

impl ImageAllowlist {
    /// Comma-separated `provider:image` pairs, split at the first ':' (an image may hold
    /// ':'). Whitespace around entries and empty entries are ignored.
    pub fn parse(raw: &str) -> Result<ImageAllowlist, String> {
        let mut pairs = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.split_once(':') {
                Some((provider, image)) if !provider.trim().is_empty() && !image.trim().is_empty() => {
                    pairs.push((provider.trim().to_string(), image.trim().to_string()));
                }
                _ => return Err(format!("ALLOWED_IMAGES entry {entry:?} is not provider:image")),
            }
        }
        Ok(ImageAllowlist { pairs })
    }

    pub fn allows(&self, provider: &str, image: &str) -> bool {
        self.pairs.iter().any(|(p, i)| p == provider && i == image)
    }

    /// The images allowed for `provider`, in the configured order.
    pub fn images_for(&self, provider: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(p, _)| p == provider).map(|(_, i)| i.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Ok, or the error a create with this image fails with.
    pub fn check(&self, provider: &str, image: &str) -> Result<(), String> {
        if self.allows(provider, image) {
            return Ok(());
        }
        let allowed = self.images_for(provider);
        let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
        Err(format!("image {image:?} is not allowed for provider {provider:?} on this runner (allowed: {allowed})"))
    }
}

impl Default for ImageAllowlist {
    fn default() -> Self {
        ImageAllowlist::parse(DEFAULT_ALLOWED_IMAGES).expect("the default list parses")
    }
}

impl fmt::Display for ImageAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.pairs.iter().map(|(p, i)| format!("{p}:{i}")).collect();
        f.write_str(&pairs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default() {
        let l = ImageAllowlist::default();
        for p in ["aws", "gcp", "azure"] {
            assert_eq!(l.images_for(p), ["ubuntu-22.04", "ubuntu-24.04", "debian-12"]);
        }
        assert!(l.allows("gcp", "debian-12"));
        assert!(!l.allows("gcp", "debian-11") && !l.allows("local", "ubuntu-22.04"));
        assert_eq!(l.to_string(), DEFAULT_ALLOWED_IMAGES);
    }

    #[test]
    fn parsing() {
        let l = ImageAllowlist::parse(" aws:ami-0abc , gcp:projects/debian-cloud/global/images/family/debian-12:v1,, ").unwrap();
        assert!(l.allows("aws", "ami-0abc"));
        assert!(l.allows("gcp", "projects/debian-cloud/global/images/family/debian-12:v1"), "split at the first ':'");
        assert!(!l.allows("gcp", "projects/debian-cloud/global/images/family/debian-12"));
        assert!(ImageAllowlist::parse("").unwrap().is_empty());
        for bad in ["aws", "aws:", ":img", "aws:ok,nope"] {
            assert!(ImageAllowlist::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_what_is_allowed() {
        let l = ImageAllowlist::parse("aws:a,aws:b").unwrap();
        assert!(l.check("aws", "a").is_ok());
        assert_eq!(l.check("aws", "c").unwrap_err(), r#"image "c" is not allowed for provider "aws" on this runner (allowed: a, b)"#);
        assert!(l.check("gcp", "a").unwrap_err().ends_with("(allowed: none)"));
    }
}
