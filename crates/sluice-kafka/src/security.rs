//! TLS and SASL settings, shared by every client, and the OAUTHBEARER token
//! source for Amazon MSK IAM.
//!
//! ```toml
//! [kafka]
//! bootstrap_servers = "b-1.example.kafka.us-east-1.amazonaws.com:9098"
//!
//! [kafka.security.tls]          # TLS with the system's CAs
//!
//! [kafka.security.sasl]
//! mechanism = "AWS_MSK_IAM"     # or "SCRAM-SHA-512" with username/password
//! region = "us-east-1"
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use rdkafka::client::OAuthToken;

/// A string that never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for handing to the client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the client authenticates and encrypts. The default is plaintext
/// without authentication, for local clusters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// TLS to the brokers; absent means plaintext (except with MSK IAM,
    /// which always uses TLS).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub sasl: Option<SaslConfig>,
}

/// TLS settings. Every field is optional: an empty table means TLS with the
/// system's trusted CAs and no client certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CAs that signed the brokers' certificates.
    #[serde(default)]
    pub ca_location: Option<PathBuf>,
    /// PEM client certificate, for mutual TLS.
    #[serde(default)]
    pub certificate_location: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default)]
    pub key_location: Option<PathBuf>,
    #[serde(default)]
    pub key_password: Option<Secret>,
    /// Check that the broker's certificate names the host connected to.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_location: None,
            certificate_location: None,
            key_location: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// SASL mechanism and its credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "mechanism", deny_unknown_fields)]
pub enum SaslConfig {
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512 { username: String, password: Secret },
    /// Amazon MSK IAM: SASL/OAUTHBEARER with tokens signed by the AWS
    /// credentials of the standard chain (environment, profile, SSO, web
    /// identity, container or instance role), refreshed before they expire.
    #[serde(rename = "AWS_MSK_IAM")]
    MskIam {
        region: String,
        /// A named profile instead of the default chain.
        #[serde(default)]
        profile: Option<String>,
    },
}

/// A bad security setting.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("TLS setting `{0}` names a file that does not exist: {1}")]
    MissingFile(&'static str, PathBuf),
    #[error("TLS client certificate and key go together: set both or neither")]
    HalfClientCertificate,
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("could not start the AWS credentials runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl SecurityConfig {
    /// Checks the settings without contacting anything.
    pub fn validate(&self) -> Result<(), SecurityError> {
        if let Some(tls) = &self.tls {
            for (name, path) in [
                ("ca_location", &tls.ca_location),
                ("certificate_location", &tls.certificate_location),
                ("key_location", &tls.key_location),
            ] {
                if let Some(path) = path
                    && !path.exists()
                {
                    return Err(SecurityError::MissingFile(name, path.clone()));
                }
            }
            if tls.certificate_location.is_some() != tls.key_location.is_some() {
                return Err(SecurityError::HalfClientCertificate);
            }
        }
        match &self.sasl {
            Some(SaslConfig::ScramSha512 { username, password }) => {
                if username.is_empty() {
                    return Err(SecurityError::Empty("sasl.username"));
                }
                if password.expose().is_empty() {
                    return Err(SecurityError::Empty("sasl.password"));
                }
            }
            Some(SaslConfig::MskIam { region, .. }) if region.is_empty() => {
                return Err(SecurityError::Empty("sasl.region"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the connection is encrypted.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some() || matches!(self.sasl, Some(SaslConfig::MskIam { .. }))
    }

    /// Writes the librdkafka settings these options stand for.
    pub fn apply(&self, config: &mut rdkafka::ClientConfig) {
        let protocol = match (self.uses_tls(), self.sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        config.set("security.protocol", protocol);
        if let Some(tls) = &self.tls {
            let paths = [
                ("ssl.ca.location", &tls.ca_location),
                ("ssl.certificate.location", &tls.certificate_location),
                ("ssl.key.location", &tls.key_location),
            ];
            for (key, path) in paths {
                if let Some(path) = path {
                    config.set(key, path.to_string_lossy());
                }
            }
            if let Some(password) = &tls.key_password {
                config.set("ssl.key.password", password.expose());
            }
            let algorithm = if tls.verify_hostname { "https" } else { "none" };
            config.set("ssl.endpoint.identification.algorithm", algorithm);
        }
        match &self.sasl {
            Some(SaslConfig::ScramSha512 { username, password }) => {
                config.set("sasl.mechanism", "SCRAM-SHA-512");
                config.set("sasl.username", username);
                config.set("sasl.password", password.expose());
            }
            Some(SaslConfig::MskIam { .. }) => {
                config.set("sasl.mechanism", "OAUTHBEARER");
            }
            None => {}
        }
    }

    /// The OAUTHBEARER token source these settings need, if any.
    pub fn token_provider(&self) -> Result<Option<Arc<dyn TokenProvider>>, SecurityError> {
        match &self.sasl {
            Some(SaslConfig::MskIam { region, profile }) => Ok(Some(Arc::new(
                MskIamTokenProvider::from_chain(region, profile.as_deref())?,
            ))),
            _ => Ok(None),
        }
    }
}

/// Why no token could be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no OAUTHBEARER token source is configured")]
    NotConfigured,
    #[error("signing the MSK IAM token failed: {0}")]
    Signing(String),
    #[error("signing the MSK IAM token took longer than {0:?}")]
    TimedOut(Duration),
}

/// Makes OAUTHBEARER tokens for librdkafka's refresh callback.
///
/// librdkafka calls for a token when the client starts and again at 80 % of
/// the previous token's lifetime; the clients' contexts forward
/// [`ClientContext::generate_oauth_token`](rdkafka::ClientContext::generate_oauth_token)
/// to [`oauth_token`].
pub trait TokenProvider: Send + Sync + fmt::Debug {
    fn token(&self) -> Result<OAuthToken, TokenError>;
}

/// The token for a client context's refresh callback, or an error when the
/// client has no token source.
pub fn oauth_token(
    provider: Option<&Arc<dyn TokenProvider>>,
) -> Result<OAuthToken, Box<dyn std::error::Error>> {
    let provider = provider.ok_or(TokenError::NotConfigured)?;
    Ok(provider.token()?)
}

/// A client context that only answers librdkafka's token requests, for
/// clients that need no other callback (plain producers and consumers).
/// Clients with contexts of their own forward to [`oauth_token`] instead.
#[derive(Debug, Clone, Default)]
pub struct TokenContext {
    provider: Option<Arc<dyn TokenProvider>>,
}

impl TokenContext {
    pub fn new(provider: Option<Arc<dyn TokenProvider>>) -> Self {
        Self { provider }
    }
}

impl rdkafka::ClientContext for TokenContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        oauth_token(self.provider.as_ref())
    }
}

impl rdkafka::consumer::ConsumerContext for TokenContext {}

const SIGNING_TIMEOUT: Duration = Duration::from_secs(10);

/// Amazon MSK IAM tokens: a SigV4-presigned `kafka-cluster:Connect` URL,
/// base64url-encoded, valid for 15 minutes
/// (see `aws-msk-iam-sasl-signer`).
///
/// Signing may need the network (instance or container credentials, STS),
/// so it runs on a small runtime of its own, on a thread of its own: the
/// refresh callback arrives on librdkafka's threads or inside the caller's
/// async tasks, where blocking on the caller's runtime is not allowed.
pub struct MskIamTokenProvider {
    region: Region,
    credentials: SharedCredentialsProvider,
    runtime: Arc<SigningRuntime>,
}

/// A runtime that may be dropped anywhere, async contexts included.
struct SigningRuntime(Option<tokio::runtime::Runtime>);

impl SigningRuntime {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.0
            .as_ref()
            .expect("present until dropped")
            .block_on(future)
    }
}

impl Drop for SigningRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for MskIamTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MskIamTokenProvider")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl MskIamTokenProvider {
    /// Credentials from the standard AWS chain (or the named profile).
    pub fn from_chain(region: &str, profile: Option<&str>) -> Result<Self, SecurityError> {
        let runtime = signing_runtime()?;
        let region = Region::new(region.to_owned());
        let mut loader = aws_config::from_env().region(region.clone());
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        let config = std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(loader.load()))
                .join()
                .expect("loading the AWS configuration panicked")
        });
        let credentials = config
            .credentials_provider()
            .ok_or(SecurityError::Empty("AWS credentials chain"))?;
        Ok(Self {
            region,
            credentials,
            runtime,
        })
    }

    /// Credentials from the given provider (static credentials in tests,
    /// or a provider the service built itself).
    pub fn with_credentials(
        region: &str,
        credentials: SharedCredentialsProvider,
    ) -> Result<Self, SecurityError> {
        Ok(Self {
            region: Region::new(region.to_owned()),
            credentials,
            runtime: signing_runtime()?,
        })
    }
}

fn signing_runtime() -> Result<Arc<SigningRuntime>, SecurityError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("sluice-msk-iam")
        .build()
        .map(|runtime| Arc::new(SigningRuntime(Some(runtime))))
        .map_err(SecurityError::Runtime)
}

impl TokenProvider for MskIamTokenProvider {
    fn token(&self) -> Result<OAuthToken, TokenError> {
        let region = self.region.clone();
        let credentials = self.credentials.clone();
        let runtime = Arc::clone(&self.runtime);
        let signed = std::thread::spawn(move || {
            runtime.block_on(async move {
                tokio::time::timeout(
                    SIGNING_TIMEOUT,
                    aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(
                        region,
                        credentials,
                    ),
                )
                .await
            })
        })
        .join()
        .map_err(|_| TokenError::Signing("the signing thread panicked".to_owned()))?;
        let (token, expires_at_ms) = signed
            .map_err(|_| TokenError::TimedOut(SIGNING_TIMEOUT))?
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(OAuthToken {
            token,
            principal_name: String::new(),
            lifetime_ms: expires_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_and_tls_from_toml() {
        let security: SecurityConfig = toml::from_str(
            r#"
            [tls]
            ca_location = "/etc/ssl/certs/ca-certificates.crt"
            [sasl]
            mechanism = "SCRAM-SHA-512"
            username = "svc"
            password = "hunter2"
            "#,
        )
        .unwrap();
        let mut config = rdkafka::ClientConfig::new();
        security.apply(&mut config);
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.password"), Some("hunter2"));
        assert_eq!(
            config.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        assert!(!format!("{security:?}").contains("hunter2"));
    }

    #[test]
    fn msk_iam_means_oauthbearer_over_tls() {
        let security: SecurityConfig = toml::from_str(
            r#"
            [sasl]
            mechanism = "AWS_MSK_IAM"
            region = "eu-west-1"
            "#,
        )
        .unwrap();
        let mut config = rdkafka::ClientConfig::new();
        security.apply(&mut config);
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanism"), Some("OAUTHBEARER"));
    }

    #[test]
    fn bad_settings_are_refused_with_what_is_wrong() {
        let unknown = toml::from_str::<SecurityConfig>("[sasl]\nmechanism = \"PLAIN\"\n");
        assert!(unknown.unwrap_err().to_string().contains("PLAIN"));
        let half = SecurityConfig {
            tls: Some(TlsConfig {
                certificate_location: Some("/etc/hostname".into()),
                ..TlsConfig::default()
            }),
            sasl: None,
        };
        assert!(matches!(
            half.validate(),
            Err(SecurityError::HalfClientCertificate)
        ));
        let missing = SecurityConfig {
            tls: Some(TlsConfig {
                ca_location: Some("/nonexistent/ca.pem".into()),
                ..TlsConfig::default()
            }),
            sasl: None,
        };
        assert!(matches!(
            missing.validate(),
            Err(SecurityError::MissingFile("ca_location", _))
        ));
        let empty = SecurityConfig {
            tls: None,
            sasl: Some(SaslConfig::ScramSha512 {
                username: "svc".into(),
                password: Secret::new(""),
            }),
        };
        assert!(matches!(
            empty.validate(),
            Err(SecurityError::Empty("sasl.password"))
        ));
    }
}
