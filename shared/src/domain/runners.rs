//! `RUNNER_URL`: the runners, comma-separated, each optionally for one provider
//! (`aws=https://…,gcp=https://…`); a bare URL takes every provider. A job goes to a runner
//! of its machine's provider, the next one when that fails (shared/src/runner/deliver.rs).
use super::Provider;

/// One runner: where its webhooks go, and the provider it alone takes (`None`: every one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunnerTarget {
    pub provider: Option<Provider>,
    pub url: String,
}

/// What `RUNNER_URL` lists, in its order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Runners(Vec<RunnerTarget>);

impl Runners {
    /// `None` when an entry is not `[provider=]http(s)://host…` (an empty list is fine:
    /// jobs wait in the outbox).
    pub fn parse(raw: &str) -> Option<Runners> {
        let mut out = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (provider, url) = match entry.split_once('=') {
                Some((p, url)) if !p.contains("://") => (Some(Provider::parse(p)?), url.trim()),
                _ => (None, entry),
            };
            origin(url)?;
            out.push(RunnerTarget { provider, url: url.to_string() });
        }
        Some(Runners(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn all(&self) -> &[RunnerTarget] {
        &self.0
    }

    /// The runners that take `provider`, starting at the `spread`-th of them (so that jobs
    /// spread over them) and then the others in turn, for failover.
    pub fn for_provider(&self, provider: Option<&str>, spread: usize) -> Vec<&RunnerTarget> {
        let provider = provider.and_then(Provider::parse);
        let fit: Vec<&RunnerTarget> = self.0.iter().filter(|r| r.provider.is_none() || r.provider == provider).collect();
        if fit.is_empty() {
            return fit;
        }
        let start = spread % fit.len();
        fit[start..].iter().chain(fit[..start].iter()).copied().collect()
    }
}

/// `scheme://authority` of an http(s) URL with a host; `None` otherwise.
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (matches!(scheme, "http" | "https") && !host.is_empty() && !host.starts_with(':')).then(|| format!("{scheme}://{authority}"))
}

/// The URL as `health` may show it: without credentials (`user:pass@`) or a query.
pub(crate) fn public_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::new() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority.rsplit('@').next().unwrap_or_default();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_with_and_without_providers() {
        let r = Runners::parse(" aws=http://a:1/ , https://any.example/hook,gcp=https://g.example ,").unwrap();
        assert_eq!(r.all().len(), 3);
        assert_eq!(r.all()[0], RunnerTarget { provider: Some(Provider::Aws), url: "http://a:1/".into() });
        assert_eq!(r.all()[1].provider, None);
        let urls = |v: Vec<&RunnerTarget>| v.iter().map(|t| t.url.clone()).collect::<Vec<_>>();
        assert_eq!(urls(r.for_provider(Some("aws"), 0)), ["http://a:1/", "https://any.example/hook"]);
        assert_eq!(urls(r.for_provider(Some("aws"), 1)), ["https://any.example/hook", "http://a:1/"]);
        assert_eq!(urls(r.for_provider(Some("azure"), 7)), ["https://any.example/hook"]);
        assert_eq!(urls(r.for_provider(None, 0)), ["https://any.example/hook"]);
        assert!(Runners::parse("").unwrap().is_empty());
        for bad in ["ftp://x/", "runner", "digitalocean=https://x/", "aws=", "http://"] {
            assert_eq!(Runners::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn health_shows_no_credentials() {
        assert_eq!(public_url("https://user:pa%40ss@runner.example:8443/hook?token=x#f"), "https://runner.example:8443/hook");
        assert_eq!(public_url("http://127.0.0.1:9/"), "http://127.0.0.1:9/");
        assert_eq!(origin("https://u:p@h.example/x").as_deref(), Some("https://u:p@h.example"));
        for base in ["http://127.0.0.1:9000", "http://127.0.0.1:9000/", "https://runner.example/hooks/job?x=1", "http://h:1#f"] {
            let joined = url::Url::parse(base).unwrap().join("/health").unwrap();
            assert_eq!(format!("{}/health", origin(base).unwrap()), joined.as_str(), "{base}");
        }
    }
}
