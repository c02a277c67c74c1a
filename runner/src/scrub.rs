//! What must never leave the runner in a report: its local paths (working directory,
//! modules, Terraform, SSH key, home) and the cloud account behind it (AWS account ids,
//! also inside ARNs; GCP project ids and numbers; Azure subscription and tenant ids).
//!
//! Why here: Terraform, the providers and SSH print such things in their messages and
//! errors, and a report's `logs[].message`, `error` and `result` become events and job
//! results the machine's owner reads. Rather than hoping every producer remembers, every
//! report passes through [`Scrubber::report`] on its way out (callback.rs), in one place.
//!
//! Accepted cost: a 12-digit number standing alone (in a command's output, say) is
//! replaced too; it cannot be told apart from an account id.
use regex::{Captures, Regex};
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

pub const ACCOUNT: &str = "<account>";

/// Replaces local paths and account identifiers in text.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    /// (path, placeholder), longest path first.
    paths: Vec<(String, String)>,
}

struct Patterns {
    /// `/subscriptions/<id>` (Azure resource ids), any case.
    azure_scope: Regex,
    /// A GUID shortly after "subscription" or "tenant" (Azure messages).
    azure_guid: Regex,
    /// `projects/<id>` (GCP resource names).
    gcp_project: Regex,
    /// "project 123456789012" (GCP project numbers in API errors).
    gcp_number: Regex,
    /// `…@<project>.iam.gserviceaccount.com`.
    gcp_service_account: Regex,
    /// Any 12-digit number on its own (AWS account ids, also in ARNs `arn:aws:…:<id>:…`).
    aws_account: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        azure_scope: Regex::new(r"(?i)(subscriptions/)([^/\s'`,;)\]]+)").unwrap(),
        azure_guid: Regex::new(
            r"(?i)((?:subscription|tenant)[^\n]{0,24}?)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        )
        .unwrap(),
        gcp_project: Regex::new(r"(projects/)([A-Za-z0-9][A-Za-z0-9.:_-]*)").unwrap(),
        gcp_number: Regex::new(r"(?i)(project(?:[ _]?(?:id|number))?[\s:='`]{1,4})([0-9]{6,})").unwrap(),
        gcp_service_account: Regex::new(r"(@)([a-z0-9][a-z0-9-]*)(\.iam\.gserviceaccount\.com)").unwrap(),
        aws_account: Regex::new(r"(^|[^0-9A-Za-z])([0-9]{12})($|[^0-9A-Za-z])").unwrap(),
    })
}

fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-')
}

impl Scrubber {
    /// A scrubber for these paths, each replaced by its placeholder (e.g. `<workdir>`).
    /// Relative, empty and root paths are ignored; a path's canonical form (symlinks
    /// resolved) is replaced too.
    pub fn new<'a>(paths: impl IntoIterator<Item = (&'a Path, &'a str)>) -> Scrubber {
        let mut list: Vec<(String, String)> = Vec::new();
        for (path, label) in paths {
            let canonical = std::fs::canonicalize(path).ok();
            for p in std::iter::once(path.to_path_buf()).chain(canonical) {
                let text = p.to_string_lossy().trim_end_matches('/').to_string();
                if p.is_absolute() && text.len() > 1 && !list.iter().any(|(t, _)| *t == text) {
                    list.push((text, label.to_string()));
                }
            }
        }
        list.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        Scrubber { paths: list }
    }

    fn paths(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (path, label) in &self.paths {
            if !out.contains(path.as_str()) {
                continue;
            }
            let mut next = String::with_capacity(out.len());
            let mut rest = out.as_str();
            while let Some(i) = rest.find(path.as_str()) {
                let after = &rest[i + path.len()..];
                next.push_str(&rest[..i]);
                // Only a whole path or a path under it: /w is not a prefix of /work.
                if after.chars().next().is_some_and(is_path_char) {
                    next.push_str(path);
                } else {
                    next.push_str(label);
                }
                rest = after;
            }
            next.push_str(rest);
            out = next;
        }
        out
    }

    /// `text` without local paths and account identifiers.
    pub fn text(&self, text: &str) -> String {
        let p = patterns();
        let out = self.paths(text);
        let out = p.azure_scope.replace_all(&out, |c: &Captures| format!("{}{ACCOUNT}", &c[1]));
        let out = p.azure_guid.replace_all(&out, |c: &Captures| format!("{}{ACCOUNT}", &c[1]));
        let out = p.gcp_project.replace_all(&out, |c: &Captures| format!("{}{ACCOUNT}", &c[1]));
        let out = p.gcp_number.replace_all(&out, |c: &Captures| format!("{}{ACCOUNT}", &c[1]));
        let out = p.gcp_service_account.replace_all(&out, |c: &Captures| format!("{}{ACCOUNT}{}", &c[1], &c[3]));
        // Twice: the pattern consumes the character after a match, so "1…2:3…4" needs two rounds.
        let mut out = out.into_owned();
        for _ in 0..2 {
            out = p.aws_account.replace_all(&out, |c: &Captures| format!("{}{ACCOUNT}{}", &c[1], &c[3])).into_owned();
        }
        out
    }

    fn value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                let clean = self.text(s);
                if clean != *s {
                    *s = clean;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| self.value(v)),
            Value::Object(o) => o.values_mut().for_each(|v| self.value(v)),
            _ => {}
        }
    }

    /// A report as it may leave: `logs[].message`, `error` and every string of `result`
    /// scrubbed. (`outputs` are the machine's own address and instance id, kept as they are.)
    pub fn report(&self, mut body: Value) -> Value {
        if let Some(logs) = body.get_mut("logs").and_then(Value::as_array_mut) {
            for line in logs {
                if let Some(m) = line.get_mut("message") {
                    self.value(m);
                }
            }
        }
        for key in ["error", "result"] {
            if let Some(v) = body.get_mut(key) {
                self.value(v);
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scrubber() -> Scrubber {
        Scrubber::new([
            (Path::new("/srv/hangar/work"), "<workdir>"),
            (Path::new("/srv/hangar/work/modules"), "<modules>"),
            (Path::new("relative/dir"), "<nope>"),
            (Path::new("/"), "<root>"),
        ])
    }

    #[test]
    fn local_paths() {
        let s = scrubber();
        assert_eq!(
            s.text("cannot write /srv/hangar/work/machines/m1/terraform.tfvars.json: denied"),
            "cannot write <workdir>/machines/m1/terraform.tfvars.json: denied"
        );
        assert_eq!(s.text("copying /srv/hangar/work/modules/aws"), "copying <modules>/aws");
        assert_eq!(s.text("in /srv/hangar/work."), "in <workdir>.");
        assert_eq!(s.text("in '/srv/hangar/work'"), "in '<workdir>'");
        assert_eq!(s.text("/srv/hangar/work /srv/hangar/work/x"), "<workdir> <workdir>/x");
        // Not a path under it, and relative paths stay.
        assert_eq!(s.text("/srv/hangar/workshop and relative/dir"), "/srv/hangar/workshop and relative/dir");
        assert_eq!(s.text("/etc/hangar/protocols/eth.json"), "/etc/hangar/protocols/eth.json");
    }

    #[test]
    fn canonical_forms_too() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let s = Scrubber::new([(link.as_path(), "<workdir>")]);
        let real_text = std::fs::canonicalize(&real).unwrap().display().to_string();
        assert_eq!(s.text(&format!("{real_text}/x and {}/y", link.display())), "<workdir>/x and <workdir>/y");
    }

    #[test]
    fn aws_account_ids() {
        let s = Scrubber::default();
        assert_eq!(
            s.text("User: arn:aws:iam::123456789012:user/ci is not authorized on arn:aws:ec2:us-east-1:210987654321:instance/*"),
            "User: arn:aws:iam::<account>:user/ci is not authorized on arn:aws:ec2:us-east-1:<account>:instance/*"
        );
        assert_eq!(s.text("account 123456789012."), "account <account>.");
        assert_eq!(s.text("123456789012"), "<account>");
        assert_eq!(s.text("arn:aws-us-gov:s3:::bucket 111111111111:222222222222"), "arn:aws-us-gov:s3:::bucket <account>:<account>");
        // Not 12 digits on their own: instance ids, longer numbers, timestamps, addresses.
        for keep in ["i-0abc123456789012", "1234567890123", "12345678901", "2026-11-22T10:00:00Z", "203.0.113.7", "ami-123456789012a"] {
            assert_eq!(s.text(keep), keep);
        }
    }

    #[test]
    fn gcp_projects() {
        let s = Scrubber::default();
        assert_eq!(
            s.text("Error 404: The resource 'projects/acme-prod-42/zones/us-central1-a/instances/web' was not found"),
            "Error 404: The resource 'projects/<account>/zones/us-central1-a/instances/web' was not found"
        );
        assert_eq!(s.text("projects/example.com:acme/global/networks/default"), "projects/<account>/global/networks/default");
        assert_eq!(
            s.text("Compute Engine API has not been used in project 123456789 before or it is disabled"),
            "Compute Engine API has not been used in project <account> before or it is disabled"
        );
        assert_eq!(s.text("hangar@acme-prod.iam.gserviceaccount.com"), "hangar@<account>.iam.gserviceaccount.com");
        assert_eq!(s.text("project_number: 987654321"), "project_number: <account>");
    }

    #[test]
    fn azure_subscriptions() {
        let s = Scrubber::default();
        let sub = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
        assert_eq!(
            s.text(&format!("scope '/subscriptions/{sub}/resourceGroups/hangar/providers/Microsoft.Compute/virtualMachines/web'")),
            "scope '/subscriptions/<account>/resourceGroups/hangar/providers/Microsoft.Compute/virtualMachines/web'"
        );
        assert_eq!(s.text(&format!("/SUBSCRIPTIONS/{}", sub.to_uppercase())), "/SUBSCRIPTIONS/<account>");
        assert_eq!(s.text(&format!("The subscription '{sub}' could not be found.")), "The subscription '<account>' could not be found.");
        assert_eq!(s.text(&format!("tenant_id = \"{sub}\"")), "tenant_id = \"<account>\"");
        // Any other GUID (a job id, an object id) is kept.
        assert_eq!(s.text(&format!("job {sub} finished")), format!("job {sub} finished"));
    }

    #[test]
    fn reports() {
        let s = scrubber();
        let body = json!({
            "jobId": "123456789012", "status": "failed",
            "outputs": {"ipAddress": "203.0.113.7", "providerInstanceId": "projects/p/zones/z/instances/i"},
            "logs": [{"level": "info", "message": "cd /srv/hangar/work/machines/m", "ts": "t"}],
            "result": {"stderr": "arn:aws:iam::123456789012:root", "nested": [{"x": "/srv/hangar/work/x"}], "exitCode": 1},
            "error": "terraform apply failed in /srv/hangar/work/machines/m: account 123456789012",
        });
        let clean = s.report(body);
        assert_eq!(clean["jobId"], "123456789012", "ids are not messages");
        assert_eq!(clean["outputs"]["providerInstanceId"], "projects/p/zones/z/instances/i");
        assert_eq!(clean["logs"][0]["message"], "cd <workdir>/machines/m");
        assert_eq!(clean["result"], json!({"stderr": "arn:aws:iam::<account>:root", "nested": [{"x": "<workdir>/x"}], "exitCode": 1}));
        assert_eq!(clean["error"], "terraform apply failed in <workdir>/machines/m: account <account>");
    }
}
