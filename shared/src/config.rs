//! Configuration from the Worker's environment (vars and secrets). Parsed per request:
//! it is a handful of lookups, and it keeps every isolate honest about what is set.
use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub enum Origins {
    Any,
    List(Vec<String>),
}

impl Origins {
    pub fn parse(raw: &str) -> Self {
        let list: Vec<String> = raw
            .split(',')
            // Trailing slashes and spaces in any order ("a.com / /" is "a.com").
            .map(|s| s.trim_start().trim_end_matches(|c: char| c == '/' || c.is_whitespace()).to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if list.iter().any(|s| s == "*") {
            Origins::Any
        } else {
            Origins::List(list)
        }
    }
}

/// `provider:image` pairs, comma-separated (an image may itself hold `:`). The runner
/// keeps the same list in Terraform mode, for callers of /rpc that skip this check.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedImages(Vec<(crate::domain::Provider, String)>);

impl AllowedImages {
    /// Google's Debian images have no cloud-init, which installs the agent: not on GCP.
    pub const DEFAULT: &'static str = "aws:ubuntu-22.04,aws:ubuntu-24.04,aws:debian-12,\
        gcp:ubuntu-22.04,gcp:ubuntu-24.04,azure:ubuntu-22.04,azure:ubuntu-24.04,azure:debian-12";

    pub fn parse(raw: &str) -> Option<Self> {
        let pairs = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (provider, image) = p.split_once(':')?;
                Some((crate::domain::Provider::parse(provider)?, image.trim().to_string()))
            })
            .collect::<Option<Vec<_>>>()?;
        (!pairs.is_empty()).then_some(AllowedImages(pairs))
    }

    pub fn allows(&self, provider: crate::domain::Provider, image: &str) -> bool {
        self.0.iter().any(|(p, i)| *p == provider && i == image)
    }

    /// The images allowed for `provider`, for the error message.
    pub fn for_provider(&self, provider: crate::domain::Provider) -> Vec<&str> {
        self.0.iter().filter(|(p, _)| *p == provider).map(|(_, i)| i.as_str()).collect()
    }
}

/// Where Privy's ES256 public key comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PrivyKeySource {
    Pem(String),
    JwksUrl(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrivyConfig {
    pub app_id: String,
    pub key: PrivyKeySource,
}

/// A secret from the environment: `Debug` never prints it, so a logged `Config` (or an
/// error that carries one) cannot leak it.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// PostgREST base URL (`…/rest/v1` on Supabase, `…/api` on the local stack).
    pub postgrest_url: String,
    pub anon_key: Secret,
    pub service_key: Secret,
    pub jwt_secret: Secret,
    pub allowed_origins: Origins,
    pub session_ttl_secs: i64,
    pub refresh_ttl_days: i64,
    pub version: String,
    /// `RUNNER_URL`: the runners, each optionally for one provider (empty: jobs wait).
    pub runners: crate::domain::Runners,
    /// `RUNNER_MODE`: the mode this stage's runners must be in (`terraform` in production);
    /// `health` reports `degraded` when one says otherwise. Unset: any mode.
    pub runner_mode: Option<String>,
    pub runner_secret: Option<Secret>,
    pub runner_max_attempts: i64,
    pub runner_retry_base_ms: i64,
    /// Base URL of the functions (`{FUNCTIONS_URL}/functions/v1/<name>`), for callbacks.
    pub functions_url: Option<String>,
    pub default_provider: crate::domain::Provider,
    /// `ALLOWED_IMAGES`: the images an operator lets machines boot, per provider.
    pub allowed_images: AllowedImages,
    /// `HANGAR_TEST_PANIC=1` (local test stack only): a request carrying the
    /// `x-hangar-test-panic` header panics inside its handler, to prove what a panic answers.
    pub test_panic: bool,
    /// `RATE_LIMIT_BINDINGS`: the rate-limiting bindings this Worker must have (comma-separated;
    /// `none`: not limited). Unset: `RATE_LIMITER`. http::rate_limit answers 503 for a missing one.
    pub rate_limit_bindings: Vec<String>,
    privy_app_id: Option<String>,
    privy_key: Option<PrivyKeySource>,
    /// `SECRETS_KEY` and `SECRETS_KEY_PREVIOUS` (base64 of 32 bytes): read where secrets
    /// are sealed or opened (`secrets_keys`), so a function that never touches one does
    /// not fail without them.
    secrets_key: Option<Secret>,
    secrets_key_previous: Option<Secret>,
}

/// The isolate's cached configuration, shared by its requests rather than copied for each
/// (`make bench`: the copy's ~20 strings were measurable). Reads as a `Config`; not
/// `Clone` on purpose, so `call.config.clone()` still gives an owned `Config` to work that
/// outlives the request.
pub struct Shared(std::rc::Rc<Config>);

impl Shared {
    /// Another handle on the same configuration.
    pub fn share(&self) -> Shared {
        Shared(self.0.clone())
    }
}

impl std::ops::Deref for Shared {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.0
    }
}

impl Config {
    pub fn from_env(env: &worker::Env) -> Result<Self, ApiError> {
        Self::from_lookup(|name| {
            env.var(name)
                .map(|v| v.to_string())
                .or_else(|_| env.secret(name).map(|v| v.to_string()))
                .ok()
        })
    }

    /// `from_env`, read once per isolate: a Worker's variables and secrets are fixed for the
    /// life of its isolate (a new deployment is a new isolate). A broken configuration is
    /// read again on every request, so that its error is always the current one.
    pub fn cached(env: &worker::Env) -> Result<Shared, ApiError> {
        thread_local!(static CONFIG: std::cell::OnceCell<std::rc::Rc<Config>> = const { std::cell::OnceCell::new() });
        if let Some(config) = CONFIG.with(|c| c.get().cloned()) {
            return Ok(Shared(config));
        }
        let config = std::rc::Rc::new(Self::from_env(env)?);
        CONFIG.with(|c| {
            let _ = c.set(config.clone());
        });
        Ok(Shared(config))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(ApiError::Misconfigured { variable: name });
        let number = |name: &'static str, default: i64| -> Result<i64, ApiError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or(ApiError::Misconfigured { variable: name }),
            }
        };

        let postgrest_url = match get("POSTGREST_URL") {
            Some(url) => url,
            None => match get("SUPABASE_URL") {
                Some(url) => format!("{}/rest/v1", url.trim_end_matches('/')),
                None => return Err(ApiError::Misconfigured { variable: "SUPABASE_URL" }),
            },
        };
        let privy_key = get("PRIVY_VERIFICATION_KEY")
            // Secrets set from a shell often carry literal "\n" instead of newlines.
            .map(|pem| PrivyKeySource::Pem(pem.replace("\\n", "\n")))
            .or_else(|| get("PRIVY_JWKS_URL").map(PrivyKeySource::JwksUrl));

        Ok(Config {
            postgrest_url: postgrest_url.trim_end_matches('/').to_string(),
            anon_key: Secret(required("SUPABASE_ANON_KEY")?),
            service_key: Secret(required("SUPABASE_SERVICE_ROLE_KEY")?),
            jwt_secret: Secret(required("SUPABASE_JWT_SECRET")?),
            allowed_origins: Origins::parse(&get("ALLOWED_ORIGINS").unwrap_or_else(|| "*".into())),
            // Bounded: an absurd lifetime would overflow the token's timestamps.
            session_ttl_secs: number("SESSION_TTL_SECONDS", 3600)?.clamp(60, 7 * 24 * 3600),
            refresh_ttl_days: number("REFRESH_TTL_DAYS", 30)?.clamp(1, 365),
            version: get("HANGAR_VERSION").unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
            runners: crate::domain::Runners::parse(&get("RUNNER_URL").unwrap_or_default())
                .ok_or(ApiError::Misconfigured { variable: "RUNNER_URL" })?,
            runner_mode: match get("RUNNER_MODE").as_deref() {
                None => None,
                Some(m @ ("terraform" | "simulate")) => Some(m.to_string()),
                Some(_) => return Err(ApiError::Misconfigured { variable: "RUNNER_MODE" }),
            },
            runner_secret: get("RUNNER_SECRET").map(Secret),
            runner_max_attempts: number("RUNNER_MAX_ATTEMPTS", 5)?.max(1),
            runner_retry_base_ms: number("RUNNER_RETRY_BASE_MS", 10_000)?.max(1),
            functions_url: get("FUNCTIONS_URL").or_else(|| get("SUPABASE_URL")).map(|u| u.trim_end_matches('/').to_string()),
            default_provider: match get("DEFAULT_PROVIDER") {
                None => crate::domain::Provider::Aws,
                Some(p) => crate::domain::Provider::parse(&p).ok_or(ApiError::Misconfigured { variable: "DEFAULT_PROVIDER" })?,
            },
            allowed_images: match get("ALLOWED_IMAGES") {
                None => AllowedImages::parse(AllowedImages::DEFAULT),
                Some(raw) => AllowedImages::parse(&raw),
            }
            .ok_or(ApiError::Misconfigured { variable: "ALLOWED_IMAGES" })?,
            test_panic: get("HANGAR_TEST_PANIC").as_deref() == Some("1"),
            rate_limit_bindings: match get("RATE_LIMIT_BINDINGS") {
                None => vec![crate::http::rate_limit::BINDING.to_string()],
                Some(list) => list.split(',').map(str::trim).filter(|b| !b.is_empty() && *b != "none").map(str::to_string).collect(),
            },
            privy_app_id: get("PRIVY_APP_ID"),
            privy_key,
            secrets_key: get("SECRETS_KEY").map(Secret),
            secrets_key_previous: get("SECRETS_KEY_PREVIOUS").map(Secret),
        })
    }

    /// The runner webhook secret: needed by delivery and the callback.
    pub fn runner_secret(&self) -> Result<&str, ApiError> {
        self.runner_secret.as_ref().map(Secret::expose).ok_or(ApiError::Misconfigured { variable: "RUNNER_SECRET" })
    }

    /// The keys of secret values: `SECRETS_KEY` seals and opens, `SECRETS_KEY_PREVIOUS`
    /// (during a rotation) only opens. A missing or malformed one is named.
    pub fn secrets_keys(&self) -> Result<crate::crypto::KeyRing, ApiError> {
        let parse = |s: &Secret, variable| crate::crypto::Key::parse(s.expose()).ok_or(ApiError::Misconfigured { variable });
        let current = parse(self.secrets_key.as_ref().ok_or(ApiError::Misconfigured { variable: "SECRETS_KEY" })?, "SECRETS_KEY")?;
        let previous = self.secrets_key_previous.as_ref().map(|s| parse(s, "SECRETS_KEY_PREVIOUS")).transpose()?;
        Ok(crate::crypto::KeyRing { current, previous })
    }

    /// Privy settings are needed only where Privy tokens are verified (`exchange`).
    pub fn privy(&self) -> Result<PrivyConfig, ApiError> {
        let app_id = self
            .privy_app_id
            .clone()
            .ok_or(ApiError::Misconfigured { variable: "PRIVY_APP_ID" })?;
        let key = self
            .privy_key
            .clone()
            .ok_or(ApiError::Misconfigured { variable: "PRIVY_VERIFICATION_KEY" })?;
        Ok(PrivyConfig { app_id, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("SUPABASE_URL", "https://x.supabase.co/"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("SUPABASE_SERVICE_ROLE_KEY", "service"),
            ("SUPABASE_JWT_SECRET", "secret"),
        ])
    }

    fn load(vars: &HashMap<&'static str, &'static str>) -> Result<Config, ApiError> {
        Config::from_lookup(|k| vars.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn supabase_url_gets_rest_path_and_defaults_apply() {
        let c = load(&base()).unwrap();
        assert_eq!(c.postgrest_url, "https://x.supabase.co/rest/v1");
        assert_eq!(c.allowed_origins, Origins::Any);
        assert_eq!(c.session_ttl_secs, 3600);
    }

    #[test]
    fn rate_limit_bindings_default_to_the_general_one() {
        assert_eq!(load(&base()).unwrap().rate_limit_bindings, vec!["RATE_LIMITER"]);
        let mut v = base();
        v.insert("RATE_LIMIT_BINDINGS", "RATE_LIMITER, CREATE_RATE_LIMITER");
        assert_eq!(load(&v).unwrap().rate_limit_bindings, vec!["RATE_LIMITER", "CREATE_RATE_LIMITER"]);
        v.insert("RATE_LIMIT_BINDINGS", "none");
        assert!(load(&v).unwrap().rate_limit_bindings.is_empty());
    }

    #[test]
    fn postgrest_url_wins() {
        let mut v = base();
        v.insert("POSTGREST_URL", "http://127.0.0.1:3000/api/");
        assert_eq!(load(&v).unwrap().postgrest_url, "http://127.0.0.1:3000/api");
    }

    #[test]
    fn missing_variable_is_named() {
        for name in ["SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_JWT_SECRET", "SUPABASE_URL"] {
            let mut v = base();
            v.remove(name);
            assert_eq!(load(&v).unwrap_err(), ApiError::Misconfigured { variable: name });
        }
        let c = load(&base()).unwrap();
        assert_eq!(c.privy().unwrap_err(), ApiError::Misconfigured { variable: "PRIVY_APP_ID" });
    }

    #[test]
    fn bad_number_is_named() {
        let mut v = base();
        v.insert("REFRESH_TTL_DAYS", "ten");
        assert_eq!(load(&v).unwrap_err(), ApiError::Misconfigured { variable: "REFRESH_TTL_DAYS" });
    }

    #[test]
    fn debug_redacts_secrets() {
        let text = format!("{:?}", load(&base()).unwrap());
        assert!(!text.contains("service") || !text.contains("\"service\""), "{text}");
        assert!(!text.contains("\"secret\""), "{text}");
        assert!(text.contains("[redacted]"));
    }

    #[test]
    fn allowed_images() {
        use crate::domain::Provider;
        let c = load(&base()).unwrap();
        assert!(c.allowed_images.allows(Provider::Azure, "debian-12"));
        assert!(!c.allowed_images.allows(Provider::Gcp, "debian-12"));
        assert!(!c.allowed_images.allows(Provider::Aws, "evil"));
        let list = AllowedImages::parse("aws:ami-0abc:1, gcp:ubuntu-22.04").unwrap();
        assert!(list.allows(Provider::Aws, "ami-0abc:1"));
        assert!(!list.allows(Provider::Azure, "ubuntu-22.04"));
        assert_eq!(AllowedImages::parse("digitalocean:x"), None);
        let mut v = base();
        v.insert("ALLOWED_IMAGES", "nonsense");
        assert_eq!(load(&v).unwrap_err(), ApiError::Misconfigured { variable: "ALLOWED_IMAGES" });
    }

    #[test]
    fn secrets_keys_are_read_when_needed_and_named_when_bad() {
        let c = load(&base()).unwrap();
        assert_eq!(c.secrets_keys().unwrap_err(), ApiError::Misconfigured { variable: "SECRETS_KEY" });
        let mut v = base();
        v.insert("SECRETS_KEY", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
        let ring = load(&v).unwrap().secrets_keys().unwrap();
        assert!(ring.previous.is_none());
        assert!(!format!("{:?}", load(&v).unwrap()).contains("AQEBAQ"));
        v.insert("SECRETS_KEY_PREVIOUS", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=");
        let ring = load(&v).unwrap().secrets_keys().unwrap();
        assert_ne!(ring.previous.unwrap().id, ring.current.id);
        v.insert("SECRETS_KEY_PREVIOUS", "c2hvcnQ=");
        assert_eq!(load(&v).unwrap().secrets_keys().unwrap_err(), ApiError::Misconfigured { variable: "SECRETS_KEY_PREVIOUS" });
        v.insert("SECRETS_KEY", "not a key");
        assert_eq!(load(&v).unwrap().secrets_keys().unwrap_err(), ApiError::Misconfigured { variable: "SECRETS_KEY" });
    }

    #[test]
    fn origins_parse() {
        assert_eq!(
            Origins::parse("http://a.test, https://b.test/"),
            Origins::List(vec!["http://a.test".into(), "https://b.test".into()])
        );
        assert_eq!(Origins::parse("*"), Origins::Any);
    }
}
