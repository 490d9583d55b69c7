//! App credentials and callback secrets: where they come from and how they stay out of logs.
//!
//! The credentials are the JSON object
//! `{"app_id", "app_secret", "callback_token", "callback_key"}` (`callback_key` optional; an
//! empty string means none). [`CredentialSource::from_env`] (or
//! [`CredentialSource::from_env_with`], given an already loaded AWS configuration) picks the
//! source:
//!
//! - `FEISHU_SECRET_ID` set: AWS Secrets Manager holds that JSON as the secret's string value. It
//!   is cached for `FEISHU_SECRET_TTL_SECS` seconds (default 300) so rotation is picked up
//!   without a redeploy. The AWS client follows the usual AWS environment, including
//!   `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
//! - otherwise (the local default): `FEISHU_APP_ID`, `FEISHU_APP_SECRET`,
//!   `FEISHU_CALLBACK_TOKEN` and optionally `FEISHU_CALLBACK_KEY`.
//!
//! Secret values never appear in `Debug` output, logs or error messages.

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// How long Secrets Manager credentials are cached when `FEISHU_SECRET_TTL_SECS` is not set.
pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);

/// After a failed refresh, how long the cached credentials are served before the next attempt
/// (or the TTL, if shorter), so an outage does not add a Secrets Manager round trip to every call.
const FAILED_REFRESH_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Upper bounds for one Secrets Manager call attempt and for the call including retries, used
/// when the AWS configuration sets none: a callback must still answer within Lark's 5 s deadline.
const SECRETS_MANAGER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const SECRETS_MANAGER_OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

const SECRET_ID_VAR: &str = "FEISHU_SECRET_ID";
const SECRET_TTL_VAR: &str = "FEISHU_SECRET_TTL_SECS";
const APP_ID_VAR: &str = "FEISHU_APP_ID";
const APP_SECRET_VAR: &str = "FEISHU_APP_SECRET";
const CALLBACK_TOKEN_VAR: &str = "FEISHU_CALLBACK_TOKEN";
const CALLBACK_KEY_VAR: &str = "FEISHU_CALLBACK_KEY";

/// A secret string whose `Debug` never shows the value. It has no `Display`, so a secret cannot
/// be formatted into a message or request by accident: use [`Secret::expose`] deliberately.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the bridge needs from the app's secret: the JSON object
/// `{"app_id", "app_secret", "callback_token", "callback_key"}` (`callback_key` optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The app's ID (`cli_…`); not secret.
    pub app_id: String,
    /// The app secret, used only to obtain tenant tokens.
    pub app_secret: Secret,
    /// The definition's `action_callback_token`.
    pub callback_token: Secret,
    /// The definition's `action_callback_key`; `None` means callbacks arrive in plaintext.
    pub callback_key: Option<Secret>,
}

impl Credentials {
    /// Parses the secret's JSON object; `secret_id` only names the secret in errors.
    fn from_secret_json(secret_id: &str, text: &str) -> Result<Self, SecretError> {
        // serde_json's error text can quote the input, so it is dropped here on purpose.
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
            return Err(SecretError::NotJsonObject {
                secret_id: secret_id.to_owned(),
            });
        };
        let field = |name: &'static str| secret_field(secret_id, &object, name);
        Ok(Self {
            app_id: field("app_id")?.ok_or_else(|| missing_field(secret_id, "app_id"))?,
            app_secret: Secret::new(
                field("app_secret")?.ok_or_else(|| missing_field(secret_id, "app_secret"))?,
            ),
            callback_token: Secret::new(
                field("callback_token")?
                    .ok_or_else(|| missing_field(secret_id, "callback_token"))?,
            ),
            callback_key: field("callback_key")?.map(Secret::new),
        })
    }

    /// Reads the `FEISHU_APP_ID`, `FEISHU_APP_SECRET`, `FEISHU_CALLBACK_TOKEN` and optional
    /// `FEISHU_CALLBACK_KEY` variables through `lookup`.
    fn from_env_vars(lookup: &impl Fn(&str) -> Option<OsString>) -> Result<Self, SecretError> {
        let required =
            |name: &'static str| env_var(lookup, name)?.ok_or(SecretError::MissingEnvVar { name });
        Ok(Self {
            app_id: required(APP_ID_VAR)?,
            app_secret: Secret::new(required(APP_SECRET_VAR)?),
            callback_token: Secret::new(required(CALLBACK_TOKEN_VAR)?),
            callback_key: env_var(lookup, CALLBACK_KEY_VAR)?.map(Secret::new),
        })
    }
}

/// A string field of the secret's object: `None` when absent, null or empty.
fn secret_field(
    secret_id: &str,
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, SecretError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if value.is_empty() => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(SecretError::FieldNotString {
            secret_id: secret_id.to_owned(),
            field,
        }),
    }
}

fn missing_field(secret_id: &str, field: &'static str) -> SecretError {
    SecretError::MissingField {
        secret_id: secret_id.to_owned(),
        field,
    }
}

/// An environment variable through `lookup`: `None` when unset or empty.
fn env_var(
    lookup: &impl Fn(&str) -> Option<OsString>,
    name: &'static str,
) -> Result<Option<String>, SecretError> {
    match lookup(name) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => value
            .into_string()
            .map(Some)
            .map_err(|_| SecretError::InvalidEnvVar {
                name,
                reason: "is not valid UTF-8",
            }),
    }
}

/// What the environment asks for, before any AWS client exists.
#[derive(Debug, PartialEq, Eq)]
enum EnvChoice {
    Fixed(Credentials),
    SecretsManager { secret_id: String, ttl: Duration },
}

impl EnvChoice {
    fn from_lookup(lookup: &impl Fn(&str) -> Option<OsString>) -> Result<Self, SecretError> {
        let Some(secret_id) = env_var(lookup, SECRET_ID_VAR)? else {
            return Credentials::from_env_vars(lookup).map(Self::Fixed);
        };
        let ttl = match env_var(lookup, SECRET_TTL_VAR)? {
            None => DEFAULT_SECRET_TTL,
            Some(seconds) => seconds.parse().map(Duration::from_secs).map_err(|_| {
                SecretError::InvalidEnvVar {
                    name: SECRET_TTL_VAR,
                    reason: "must be a whole number of seconds",
                }
            })?,
        };
        Ok(Self::SecretsManager { secret_id, ttl })
    }
}

/// Where credentials come from.
#[derive(Debug)]
pub enum CredentialSource {
    /// Credentials known up front (environment variables, tests).
    Fixed(Arc<Credentials>),
    /// A secret in AWS Secrets Manager, cached for a TTL.
    SecretsManager(SecretsManagerSource),
}

impl CredentialSource {
    /// A source that always yields these credentials.
    pub fn fixed(credentials: Credentials) -> Self {
        Self::Fixed(Arc::new(credentials))
    }

    /// A source that reads the secret `secret_id` from Secrets Manager and caches it for `ttl`.
    /// Nothing is fetched until the first [`credentials`](Self::credentials) call.
    pub fn secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self::SecretsManager(SecretsManagerSource {
            client,
            secret_id: secret_id.into(),
            ttl,
            cache: Mutex::new(None),
        })
    }

    /// The source the environment configures (see the module docs): Secrets Manager when
    /// `FEISHU_SECRET_ID` is set, with an AWS client from the standard AWS environment (loaded
    /// only then); otherwise the `FEISHU_*` credential variables, read once here.
    ///
    /// A caller that loads the AWS configuration anyway should use [`Self::from_env_with`].
    pub async fn from_env() -> Result<Self, SecretError> {
        match EnvChoice::from_lookup(&|name| std::env::var_os(name))? {
            EnvChoice::Fixed(credentials) => Ok(Self::fixed(credentials)),
            EnvChoice::SecretsManager { secret_id, ttl } => {
                let sdk_config =
                    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                Ok(Self::secrets_manager_from_config(
                    &sdk_config,
                    secret_id,
                    ttl,
                ))
            }
        }
    }

    /// Like [`Self::from_env`], with the Secrets Manager client built from an AWS configuration
    /// the caller already loaded (its endpoint, region, credentials and timeouts).
    pub fn from_env_with(sdk_config: &aws_config::SdkConfig) -> Result<Self, SecretError> {
        Self::from_lookup_with(&|name| std::env::var_os(name), sdk_config)
    }

    /// [`Self::from_env_with`] over the variables `lookup` returns.
    fn from_lookup_with(
        lookup: &impl Fn(&str) -> Option<OsString>,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<Self, SecretError> {
        Ok(match EnvChoice::from_lookup(lookup)? {
            EnvChoice::Fixed(credentials) => Self::fixed(credentials),
            EnvChoice::SecretsManager { secret_id, ttl } => {
                Self::secrets_manager_from_config(sdk_config, secret_id, ttl)
            }
        })
    }

    /// A Secrets Manager source whose client keeps `sdk_config`'s timeouts and fills in the
    /// unset ones with bounds that keep a callback inside Lark's deadline.
    fn secrets_manager_from_config(
        sdk_config: &aws_config::SdkConfig,
        secret_id: String,
        ttl: Duration,
    ) -> Self {
        let timeouts = sdk_config
            .timeout_config()
            .map(TimeoutConfig::to_builder)
            .unwrap_or_default()
            .take_unset_from(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(SECRETS_MANAGER_ATTEMPT_TIMEOUT)
                    .operation_timeout(SECRETS_MANAGER_OPERATION_TIMEOUT),
            )
            .build();
        let config = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
            .timeout_config(timeouts)
            .build();
        let client = aws_sdk_secretsmanager::Client::from_conf(config);
        Self::secrets_manager(client, secret_id, ttl)
    }

    /// The current credentials.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, SecretError> {
        match self {
            Self::Fixed(credentials) => Ok(Arc::clone(credentials)),
            Self::SecretsManager(source) => source.credentials().await,
        }
    }
}

/// Credentials read from one Secrets Manager secret and cached for a TTL.
///
/// Callers that find the cache expired share one fetch. If a refresh fails while cached
/// credentials exist, the cached credentials keep being served (with a warning in the log) and
/// the refresh is retried after 30 s or the TTL, whichever is shorter.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cache: Mutex<Option<CachedCredentials>>,
}

struct CachedCredentials {
    credentials: Arc<Credentials>,
    refresh_at: Instant,
}

impl fmt::Debug for SecretsManagerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsManagerSource")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerSource {
    async fn credentials(&self) -> Result<Arc<Credentials>, SecretError> {
        // Holding the lock across the fetch makes concurrent callers wait for one fetch.
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(cached) = cache.as_ref()
            && now < cached.refresh_at
        {
            return Ok(Arc::clone(&cached.credentials));
        }
        match self.fetch().await {
            Ok(credentials) => {
                let credentials = Arc::new(credentials);
                *cache = Some(CachedCredentials {
                    credentials: Arc::clone(&credentials),
                    refresh_at: Instant::now() + self.ttl,
                });
                tracing::debug!(secret_id = %self.secret_id, "loaded credentials from Secrets Manager");
                Ok(credentials)
            }
            Err(error) => match cache.as_mut() {
                Some(cached) => {
                    tracing::warn!(
                        secret_id = %self.secret_id,
                        %error,
                        "refreshing credentials from Secrets Manager failed; serving the cached credentials"
                    );
                    cached.refresh_at = Instant::now() + self.ttl.min(FAILED_REFRESH_RETRY_AFTER);
                    Ok(Arc::clone(&cached.credentials))
                }
                None => Err(error),
            },
        }
    }

    async fn fetch(&self) -> Result<Credentials, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|error| self.call_failed(&error))?;
        let text = output
            .secret_string()
            .ok_or_else(|| SecretError::NotJsonObject {
                secret_id: self.secret_id.clone(),
            })?;
        Credentials::from_secret_json(&self.secret_id, text)
    }

    fn call_failed<R>(&self, error: &SdkError<GetSecretValueError, R>) -> SecretError {
        let secret_id = self.secret_id.clone();
        // Only the error code is kept: the raw response is never carried into the error.
        let code = match error {
            SdkError::ServiceError(service) if service.err().is_resource_not_found_exception() => {
                return SecretError::NotFound { secret_id };
            }
            SdkError::ServiceError(service) => {
                service.err().code().unwrap_or("UnknownServiceError")
            }
            SdkError::TimeoutError(_) => "Timeout",
            SdkError::DispatchFailure(failure) if failure.is_timeout() => "ConnectTimeout",
            SdkError::DispatchFailure(failure) if failure.is_io() => "ConnectionFailed",
            SdkError::DispatchFailure(_) => "DispatchFailure",
            SdkError::ResponseError(_) => "UnparseableResponse",
            SdkError::ConstructionFailure(_) => "RequestConstructionFailed",
            _ => "Unknown",
        };
        SecretError::SecretsManager {
            secret_id,
            code: code.to_owned(),
        }
    }
}

/// Why credentials could not be loaded. No variant carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager has no secret with this id (or it is scheduled for deletion).
    #[error("secret `{secret_id}` was not found in Secrets Manager")]
    NotFound {
        /// The secret id (name or ARN) that was asked for.
        secret_id: String,
    },
    /// The secret's object lacks a required field (or it is null or empty).
    #[error("secret `{secret_id}` has no `{field}` field (or it is empty)")]
    MissingField {
        /// The secret id (name or ARN).
        secret_id: String,
        /// The missing field.
        field: &'static str,
    },
    /// A field of the secret's object is present but not a string.
    #[error("field `{field}` of secret `{secret_id}` is not a string")]
    FieldNotString {
        /// The secret id (name or ARN).
        secret_id: String,
        /// The offending field.
        field: &'static str,
    },
    /// The secret's value is not a JSON object (or is binary).
    #[error("secret `{secret_id}` is not a JSON object string")]
    NotJsonObject {
        /// The secret id (name or ARN).
        secret_id: String,
    },
    /// The Secrets Manager call failed for another reason.
    #[error("reading secret `{secret_id}` from Secrets Manager failed: {code}")]
    SecretsManager {
        /// The secret id (name or ARN).
        secret_id: String,
        /// The service error code (e.g. `AccessDeniedException`) or the kind of transport failure.
        code: String,
    },
    /// A required environment variable is unset or empty.
    #[error("environment variable `{name}` is not set")]
    MissingEnvVar {
        /// The variable's name.
        name: &'static str,
    },
    /// An environment variable is set to an unusable value.
    #[error("environment variable `{name}` {reason}")]
    InvalidEnvVar {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET_ID: &str = "feishu/test";
    const APP_SECRET: &str = "app-secret-value-1";
    const TOKEN: &str = "callback-token-value-2";
    const KEY: &str = "callback-key-value-3";

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), OsString::from(value)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn full_env() -> Vec<(&'static str, &'static str)> {
        vec![
            (APP_ID_VAR, "cli_123"),
            (APP_SECRET_VAR, APP_SECRET),
            (CALLBACK_TOKEN_VAR, TOKEN),
            (CALLBACK_KEY_VAR, KEY),
        ]
    }

    fn expected(callback_key: Option<&str>) -> Credentials {
        Credentials {
            app_id: "cli_123".into(),
            app_secret: Secret::new(APP_SECRET),
            callback_token: Secret::new(TOKEN),
            callback_key: callback_key.map(Secret::new),
        }
    }

    fn assert_no_secret_values(text: &str) {
        for value in [APP_SECRET, TOKEN, KEY] {
            assert!(!text.contains(value), "secret value leaked into {text:?}");
        }
    }

    #[test]
    fn env_vars_give_fixed_credentials() {
        let choice = EnvChoice::from_lookup(&lookup(&full_env())).unwrap();
        assert_eq!(choice, EnvChoice::Fixed(expected(Some(KEY))));
    }

    #[test]
    fn callback_key_is_optional_and_empty_means_none() {
        let mut vars = full_env();
        vars.retain(|(name, _)| *name != CALLBACK_KEY_VAR);
        let choice = EnvChoice::from_lookup(&lookup(&vars)).unwrap();
        assert_eq!(choice, EnvChoice::Fixed(expected(None)));

        vars.push((CALLBACK_KEY_VAR, ""));
        let choice = EnvChoice::from_lookup(&lookup(&vars)).unwrap();
        assert_eq!(choice, EnvChoice::Fixed(expected(None)));
    }

    #[test]
    fn missing_or_empty_required_env_var_is_named() {
        for required in [APP_ID_VAR, APP_SECRET_VAR, CALLBACK_TOKEN_VAR] {
            let mut vars = full_env();
            vars.retain(|(name, _)| *name != required);
            let error = EnvChoice::from_lookup(&lookup(&vars)).unwrap_err();
            assert!(
                matches!(error, SecretError::MissingEnvVar { name } if name == required),
                "{error:?}"
            );
            assert!(error.to_string().contains(required));

            vars.push((required, ""));
            let error = EnvChoice::from_lookup(&lookup(&vars)).unwrap_err();
            assert!(matches!(error, SecretError::MissingEnvVar { name } if name == required));
        }
    }

    #[test]
    fn secret_id_selects_secrets_manager_with_default_ttl() {
        let mut vars = full_env();
        vars.push((SECRET_ID_VAR, SECRET_ID));
        let choice = EnvChoice::from_lookup(&lookup(&vars)).unwrap();
        assert_eq!(
            choice,
            EnvChoice::SecretsManager {
                secret_id: SECRET_ID.into(),
                ttl: DEFAULT_SECRET_TTL
            }
        );
    }

    #[test]
    fn secrets_manager_needs_no_credential_env_vars_and_honours_ttl() {
        let vars = [(SECRET_ID_VAR, SECRET_ID), (SECRET_TTL_VAR, "42")];
        let choice = EnvChoice::from_lookup(&lookup(&vars)).unwrap();
        assert_eq!(
            choice,
            EnvChoice::SecretsManager {
                secret_id: SECRET_ID.into(),
                ttl: Duration::from_secs(42)
            }
        );
    }

    #[test]
    fn bad_ttl_is_rejected_by_name() {
        for bad in ["5m", "-1", "1.5"] {
            let vars = [(SECRET_ID_VAR, SECRET_ID), (SECRET_TTL_VAR, bad)];
            let error = EnvChoice::from_lookup(&lookup(&vars)).unwrap_err();
            assert!(
                matches!(error, SecretError::InvalidEnvVar { name, .. } if name == SECRET_TTL_VAR),
                "{error:?}"
            );
        }
    }

    #[test]
    fn secret_json_parses_all_fields() {
        let json = format!(
            r#"{{"app_id":"cli_123","app_secret":"{APP_SECRET}","callback_token":"{TOKEN}","callback_key":"{KEY}","extra":1}}"#
        );
        let credentials = Credentials::from_secret_json(SECRET_ID, &json).unwrap();
        assert_eq!(credentials, expected(Some(KEY)));
    }

    #[test]
    fn secret_json_callback_key_absent_null_or_empty_is_none() {
        for key in ["", r#","callback_key":null"#, r#","callback_key":"""#] {
            let json = format!(
                r#"{{"app_id":"cli_123","app_secret":"{APP_SECRET}","callback_token":"{TOKEN}"{key}}}"#
            );
            let credentials = Credentials::from_secret_json(SECRET_ID, &json).unwrap();
            assert_eq!(credentials, expected(None), "{json}");
        }
    }

    #[test]
    fn secret_json_missing_or_empty_field_is_named() {
        let json =
            format!(r#"{{"app_id":"cli_123","app_secret":"{APP_SECRET}","callback_token":""}}"#);
        let error = Credentials::from_secret_json(SECRET_ID, &json).unwrap_err();
        assert!(
            matches!(
                &error,
                SecretError::MissingField {
                    field: "callback_token",
                    ..
                }
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("callback_token") && message.contains(SECRET_ID));
        assert_no_secret_values(&message);
    }

    #[test]
    fn secret_json_non_string_field_is_named_without_value() {
        let json = format!(
            r#"{{"app_id":"cli_123","app_secret":["{APP_SECRET}"],"callback_token":"{TOKEN}"}}"#
        );
        let error = Credentials::from_secret_json(SECRET_ID, &json).unwrap_err();
        assert!(matches!(
            &error,
            SecretError::FieldNotString {
                field: "app_secret",
                ..
            }
        ));
        assert_no_secret_values(&format!("{error} {error:?}"));
    }

    #[test]
    fn non_json_or_non_object_secret_is_rejected_without_quoting_it() {
        for text in [
            format!("app_secret={APP_SECRET}"),
            format!(r#"{{"app_secret":"{APP_SECRET}""#),
            format!(r#"["{APP_SECRET}"]"#),
            format!(r#""{APP_SECRET}""#),
        ] {
            let error = Credentials::from_secret_json(SECRET_ID, &text).unwrap_err();
            assert!(
                matches!(&error, SecretError::NotJsonObject { .. }),
                "{error:?}"
            );
            assert!(error.to_string().contains(SECRET_ID));
            assert_no_secret_values(&format!("{error} {error:?}"));
        }
    }

    #[test]
    fn debug_output_never_shows_secret_values() {
        let credentials = expected(Some(KEY));
        let debug = format!(
            "{credentials:?} {:?}",
            CredentialSource::fixed(credentials.clone())
        );
        assert!(debug.contains("cli_123"), "app_id is not secret: {debug}");
        assert_no_secret_values(&debug);
        assert_eq!(credentials.app_secret.expose(), APP_SECRET);
    }

    #[tokio::test]
    async fn from_env_with_builds_the_secrets_manager_client_from_the_given_config() {
        use wiremock::matchers::{header, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let server = MockServer::start().await;
        let secret = format!(
            r#"{{"app_id":"cli_123","app_secret":"{APP_SECRET}","callback_token":"{TOKEN}"}}"#
        );
        Mock::given(method("POST"))
            .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "Name": SECRET_ID,
                "SecretString": secret,
            })))
            .expect(1)
            .mount(&server)
            .await;
        let sdk_config = aws_config::SdkConfig::builder()
            .endpoint_url(server.uri())
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .credentials_provider(
                aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(
                    aws_sdk_secretsmanager::config::Credentials::new(
                        "AKIDTEST", "secret", None, None, "test",
                    ),
                ),
            )
            .build();

        let vars = [(SECRET_ID_VAR, SECRET_ID)];
        let source = CredentialSource::from_lookup_with(&lookup(&vars), &sdk_config).unwrap();
        assert!(matches!(source, CredentialSource::SecretsManager(_)));
        assert_eq!(*source.credentials().await.unwrap(), expected(None));

        let source = CredentialSource::from_lookup_with(&lookup(&full_env()), &sdk_config).unwrap();
        assert_eq!(*source.credentials().await.unwrap(), expected(Some(KEY)));
    }

    #[tokio::test]
    async fn fixed_source_yields_its_credentials() {
        let source = CredentialSource::fixed(expected(None));
        assert_eq!(*source.credentials().await.unwrap(), expected(None));
    }
}
