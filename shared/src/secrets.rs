//! App credentials and callback secrets: where they come from and how they stay out of logs.
//!
//! The credentials come in two parts, each its own secret, so that a function reads only what it
//! uses (the internet-facing callback function never sees the app secret):
//!
//! | part | secret's JSON object | variables without Secrets Manager |
//! |---|---|---|
//! | [`AppCredentials`] | `{"app_id", "app_secret"}` | `FEISHU_APP_ID`, `FEISHU_APP_SECRET` |
//! | [`CallbackCredentials`] | `{"callback_token", "callback_key"}` (`callback_key` optional; `""` means none), during a rotation also `"previous_callback_token"`, `"previous_callback_key"` | `FEISHU_CALLBACK_TOKEN`, optional `FEISHU_CALLBACK_KEY`, `FEISHU_PREVIOUS_CALLBACK_TOKEN`, `FEISHU_PREVIOUS_CALLBACK_KEY` |
//!
//! Each part is read by a [`SecretSource`]: with `FEISHU_APP_SECRET_ID` (or
//! `FEISHU_CALLBACK_SECRET_ID`) set, from that AWS Secrets Manager secret, cached for
//! `FEISHU_SECRET_TTL_SECS` seconds (default 300) so that a rotation is picked up without a
//! redeploy; otherwise from the variables, read once (the local default). The AWS client follows
//! the usual AWS environment, including `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
//! A [`CredentialSource`] reads both parts and hands them out together as [`Credentials`].
//!
//! During a rotation of the callback token and key the callback part also holds the pair in force
//! before it ([`CallbackPair`], `previous_callback_*`): bot cards carry their pair for 30 days, so
//! callbacks (and hand-off proofs) under the previous pair keep verifying until the operator
//! drops it (README, "Rotating the callback token and key"). New cards and the definition always
//! get the current pair.
//!
//! `FEISHU_SECRET_ID`, the one secret with all four fields that the bridge used to read, is
//! refused with an error that names its replacement, rather than silently ignored.
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

/// The retired variable naming one secret with every field.
const RETIRED_SECRET_ID_VAR: &str = "FEISHU_SECRET_ID";
const SECRET_TTL_VAR: &str = "FEISHU_SECRET_TTL_SECS";
const APP_SECRET_ID_VAR: &str = "FEISHU_APP_SECRET_ID";
const CALLBACK_SECRET_ID_VAR: &str = "FEISHU_CALLBACK_SECRET_ID";
const APP_ID_VAR: &str = "FEISHU_APP_ID";
const APP_SECRET_VAR: &str = "FEISHU_APP_SECRET";
const CALLBACK_TOKEN_VAR: &str = "FEISHU_CALLBACK_TOKEN";
const CALLBACK_KEY_VAR: &str = "FEISHU_CALLBACK_KEY";
const PREVIOUS_CALLBACK_TOKEN_VAR: &str = "FEISHU_PREVIOUS_CALLBACK_TOKEN";
const PREVIOUS_CALLBACK_KEY_VAR: &str = "FEISHU_PREVIOUS_CALLBACK_KEY";

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

/// Looks an environment variable up by name (the process environment, or a test's map).
type Lookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// One part of the credentials, kept in a secret of its own: how it is read from its secret's
/// JSON object and, without Secrets Manager, from environment variables.
pub trait CredentialPart: Sized + Send + Sync + 'static {
    /// The variable naming this part's Secrets Manager secret.
    const SECRET_ID_VAR: &'static str;

    /// Parses the secret's JSON object; `secret_id` only names the secret in errors.
    fn from_secret_json(secret_id: &str, text: &str) -> Result<Self, SecretError>;

    /// Reads this part's variables through `lookup`.
    fn from_env_vars(lookup: Lookup<'_>) -> Result<Self, SecretError>;
}

/// The app's identity at Feishu, used only to obtain tenant tokens: the secret
/// `{"app_id", "app_secret"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredentials {
    /// The app's ID (`cli_…`); not secret.
    pub app_id: String,
    /// The app secret.
    pub app_secret: Secret,
}

impl CredentialPart for AppCredentials {
    const SECRET_ID_VAR: &'static str = APP_SECRET_ID_VAR;

    fn from_secret_json(secret_id: &str, text: &str) -> Result<Self, SecretError> {
        let object = SecretObject::parse(secret_id, text)?;
        Ok(Self {
            app_id: object.required("app_id")?,
            app_secret: Secret::new(object.required("app_secret")?),
        })
    }

    fn from_env_vars(lookup: Lookup<'_>) -> Result<Self, SecretError> {
        let required = |name| required_env_var(lookup, name, APP_SECRET_ID_VAR);
        Ok(Self {
            app_id: required(APP_ID_VAR)?,
            app_secret: Secret::new(required(APP_SECRET_VAR)?),
        })
    }
}

/// What authenticates and decrypts callbacks, as configured in the approval definition and bot
/// cards: the secret `{"callback_token", "callback_key"}`, and during a rotation the pair before
/// it (`"previous_callback_token"`, `"previous_callback_key"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackCredentials {
    /// The definition's `action_callback_token`.
    pub callback_token: Secret,
    /// The definition's `action_callback_key`; `None` means callbacks arrive in plaintext.
    pub callback_key: Option<Secret>,
    /// The pair in force before a rotation, while cards that carry it may still post; `None`
    /// once the operator dropped it (or when nothing was rotated).
    pub previous_callback: Option<CallbackPair>,
}

/// One callback token with its key, as a definition or a bot card carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackPair {
    /// The `action_callback_token`.
    pub token: Secret,
    /// The `action_callback_key`; `None` means callbacks under this pair arrive in plaintext.
    pub key: Option<Secret>,
}

/// Which of the configured callback pairs something was verified under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairInUse {
    /// The current pair.
    Current,
    /// The pair before a rotation still in progress.
    Previous,
}

impl PairInUse {
    /// `current` or `previous`: the label in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }
}

impl CallbackCredentials {
    /// The current pair.
    pub fn current(&self) -> CallbackPair {
        CallbackPair {
            token: self.callback_token.clone(),
            key: self.callback_key.clone(),
        }
    }

    /// Every configured pair: the current one first, then the previous one, if kept.
    pub fn pairs(&self) -> impl Iterator<Item = (PairInUse, CallbackPair)> + '_ {
        std::iter::once((PairInUse::Current, self.current())).chain(
            self.previous_callback
                .clone()
                .map(|pair| (PairInUse::Previous, pair)),
        )
    }
}

/// The previous pair from its two parts: none without a previous token; a previous key alone
/// is refused, since it cannot tell which token went with it.
fn previous_pair(
    token: Option<String>,
    key: Option<String>,
    missing: impl FnOnce() -> SecretError,
) -> Result<Option<CallbackPair>, SecretError> {
    match (token, key) {
        (Some(token), key) => Ok(Some(CallbackPair {
            token: Secret::new(token),
            key: key.map(Secret::new),
        })),
        (None, Some(_)) => Err(missing()),
        (None, None) => Ok(None),
    }
}

impl CredentialPart for CallbackCredentials {
    const SECRET_ID_VAR: &'static str = CALLBACK_SECRET_ID_VAR;

    fn from_secret_json(secret_id: &str, text: &str) -> Result<Self, SecretError> {
        let object = SecretObject::parse(secret_id, text)?;
        Ok(Self {
            callback_token: Secret::new(object.required("callback_token")?),
            callback_key: object.optional("callback_key")?.map(Secret::new),
            previous_callback: previous_pair(
                object.optional("previous_callback_token")?,
                object.optional("previous_callback_key")?,
                || SecretError::MissingField {
                    secret_id: secret_id.to_owned(),
                    field: "previous_callback_token",
                },
            )?,
        })
    }

    fn from_env_vars(lookup: Lookup<'_>) -> Result<Self, SecretError> {
        Ok(Self {
            callback_token: Secret::new(required_env_var(
                lookup,
                CALLBACK_TOKEN_VAR,
                CALLBACK_SECRET_ID_VAR,
            )?),
            callback_key: env_var(lookup, CALLBACK_KEY_VAR)?.map(Secret::new),
            previous_callback: previous_pair(
                env_var(lookup, PREVIOUS_CALLBACK_TOKEN_VAR)?,
                env_var(lookup, PREVIOUS_CALLBACK_KEY_VAR)?,
                || SecretError::MissingEnvVar {
                    name: PREVIOUS_CALLBACK_TOKEN_VAR,
                    secret_id_var: CALLBACK_SECRET_ID_VAR,
                },
            )?,
        })
    }
}

/// Everything the sync function and `approvalctl` need: both parts together.
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
    /// The callback pair before a rotation still in progress (see [`CallbackCredentials`]).
    pub previous_callback: Option<CallbackPair>,
}

impl Credentials {
    /// Both parts as one value.
    pub fn from_parts(app: &AppCredentials, callback: &CallbackCredentials) -> Self {
        Self {
            app_id: app.app_id.clone(),
            app_secret: app.app_secret.clone(),
            callback_token: callback.callback_token.clone(),
            callback_key: callback.callback_key.clone(),
            previous_callback: callback.previous_callback.clone(),
        }
    }

    /// The app part.
    pub fn app(&self) -> AppCredentials {
        AppCredentials {
            app_id: self.app_id.clone(),
            app_secret: self.app_secret.clone(),
        }
    }

    /// The callback part.
    pub fn callback(&self) -> CallbackCredentials {
        CallbackCredentials {
            callback_token: self.callback_token.clone(),
            callback_key: self.callback_key.clone(),
            previous_callback: self.previous_callback.clone(),
        }
    }
}

/// A secret's JSON object, for reading its string fields.
struct SecretObject<'a> {
    secret_id: &'a str,
    object: Map<String, Value>,
}

impl<'a> SecretObject<'a> {
    fn parse(secret_id: &'a str, text: &str) -> Result<Self, SecretError> {
        // serde_json's error text can quote the input, so it is dropped here on purpose.
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Ok(Self { secret_id, object }),
            _ => Err(SecretError::NotJsonObject {
                secret_id: secret_id.to_owned(),
            }),
        }
    }

    /// A string field: `None` when absent, null or empty.
    fn optional(&self, field: &'static str) -> Result<Option<String>, SecretError> {
        match self.object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) if value.is_empty() => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(SecretError::FieldNotString {
                secret_id: self.secret_id.to_owned(),
                field,
            }),
        }
    }

    /// A string field that must be present and non-empty.
    fn required(&self, field: &'static str) -> Result<String, SecretError> {
        self.optional(field)?
            .ok_or_else(|| SecretError::MissingField {
                secret_id: self.secret_id.to_owned(),
                field,
            })
    }
}

/// An environment variable through `lookup`: `None` when unset or empty.
fn env_var(lookup: Lookup<'_>, name: &'static str) -> Result<Option<String>, SecretError> {
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

/// A variable that must be set when the secret named by `secret_id_var` is not used.
fn required_env_var(
    lookup: Lookup<'_>,
    name: &'static str,
    secret_id_var: &'static str,
) -> Result<String, SecretError> {
    env_var(lookup, name)?.ok_or(SecretError::MissingEnvVar {
        name,
        secret_id_var,
    })
}

/// Where the environment says a part comes from, before any AWS client exists.
#[derive(Debug, PartialEq, Eq)]
enum EnvChoice<T> {
    Fixed(T),
    SecretsManager { secret_id: String, ttl: Duration },
}

impl<T: CredentialPart> EnvChoice<T> {
    fn from_lookup(lookup: Lookup<'_>) -> Result<Self, SecretError> {
        let Some(secret_id) = env_var(lookup, T::SECRET_ID_VAR)? else {
            if env_var(lookup, RETIRED_SECRET_ID_VAR)?.is_some() {
                return Err(SecretError::RetiredEnvVar {
                    name: RETIRED_SECRET_ID_VAR,
                    replacement: T::SECRET_ID_VAR,
                });
            }
            return T::from_env_vars(lookup).map(Self::Fixed);
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

    fn uses_secrets_manager(&self) -> bool {
        matches!(self, Self::SecretsManager { .. })
    }

    fn into_source(self, sdk_config: Option<&aws_config::SdkConfig>) -> SecretSource<T> {
        match (self, sdk_config) {
            (Self::SecretsManager { secret_id, ttl }, Some(sdk_config)) => {
                SecretSource::secrets_manager(secrets_manager_client(sdk_config), secret_id, ttl)
            }
            (Self::Fixed(part), _) => SecretSource::fixed(part),
            (Self::SecretsManager { .. }, None) => {
                unreachable!("the AWS configuration is loaded whenever a secret id is set")
            }
        }
    }
}

/// The AWS configuration, loaded from the environment.
async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A Secrets Manager client that keeps `sdk_config`'s timeouts and fills in the unset ones with
/// bounds that keep a callback inside Lark's deadline.
fn secrets_manager_client(sdk_config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
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
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// Where one part of the credentials comes from.
#[derive(Debug)]
pub enum SecretSource<T> {
    /// Known up front (environment variables, tests).
    Fixed(Arc<T>),
    /// A secret in AWS Secrets Manager, cached for a TTL.
    SecretsManager(SecretsManagerSource<T>),
}

/// The source of the callback token and key: all the callback function reads.
pub type CallbackCredentialSource = SecretSource<CallbackCredentials>;

/// The source of the app id and secret.
pub type AppCredentialSource = SecretSource<AppCredentials>;

impl<T: CredentialPart> SecretSource<T> {
    /// A source that always yields `part`.
    pub fn fixed(part: T) -> Self {
        Self::Fixed(Arc::new(part))
    }

    /// A source that reads the secret `secret_id` from Secrets Manager and caches it for `ttl`.
    /// Nothing is fetched until the first [`get`](Self::get) call.
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

    /// The source the environment configures for this part (see the module docs), with an AWS
    /// client from the standard AWS environment, loaded only when a secret id is set.
    ///
    /// A caller that loads the AWS configuration anyway should use [`Self::from_env_with`].
    pub async fn from_env() -> Result<Self, SecretError> {
        let choice = EnvChoice::<T>::from_lookup(&|name| std::env::var_os(name))?;
        let sdk_config = match choice.uses_secrets_manager() {
            true => Some(load_aws_config().await),
            false => None,
        };
        Ok(choice.into_source(sdk_config.as_ref()))
    }

    /// Like [`Self::from_env`], with the Secrets Manager client built from an AWS configuration
    /// the caller already loaded (its endpoint, region, credentials and timeouts).
    pub fn from_env_with(sdk_config: &aws_config::SdkConfig) -> Result<Self, SecretError> {
        Self::from_lookup_with(&|name| std::env::var_os(name), sdk_config)
    }

    /// [`Self::from_env_with`] over the variables `lookup` returns.
    fn from_lookup_with(
        lookup: Lookup<'_>,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<Self, SecretError> {
        Ok(EnvChoice::<T>::from_lookup(lookup)?.into_source(Some(sdk_config)))
    }

    /// The current value. A Secrets Manager source hands out the same `Arc` until it reloads the
    /// secret, so a caller may key what it derives from the value on the `Arc`'s identity.
    pub async fn get(&self) -> Result<Arc<T>, SecretError> {
        match self {
            Self::Fixed(part) => Ok(Arc::clone(part)),
            Self::SecretsManager(source) => source.get().await,
        }
    }
}

/// Where the credentials come from: both parts, each from its own source.
#[derive(Debug)]
pub struct CredentialSource {
    app: AppCredentialSource,
    callback: CallbackCredentialSource,
}

impl CredentialSource {
    /// A source of both parts.
    pub fn new(app: AppCredentialSource, callback: CallbackCredentialSource) -> Self {
        Self { app, callback }
    }

    /// A source that always yields these credentials.
    pub fn fixed(credentials: Credentials) -> Self {
        Self::new(
            SecretSource::fixed(credentials.app()),
            SecretSource::fixed(credentials.callback()),
        )
    }

    /// The sources the environment configures for both parts (see the module docs), with an AWS
    /// client from the standard AWS environment, loaded only when a secret id is set.
    pub async fn from_env() -> Result<Self, SecretError> {
        let lookup = |name: &str| std::env::var_os(name);
        let app = EnvChoice::<AppCredentials>::from_lookup(&lookup)?;
        let callback = EnvChoice::<CallbackCredentials>::from_lookup(&lookup)?;
        let sdk_config = match app.uses_secrets_manager() || callback.uses_secrets_manager() {
            true => Some(load_aws_config().await),
            false => None,
        };
        Ok(Self::new(
            app.into_source(sdk_config.as_ref()),
            callback.into_source(sdk_config.as_ref()),
        ))
    }

    /// Like [`Self::from_env`], with the Secrets Manager client built from an AWS configuration
    /// the caller already loaded.
    pub fn from_env_with(sdk_config: &aws_config::SdkConfig) -> Result<Self, SecretError> {
        let lookup = |name: &str| std::env::var_os(name);
        Ok(Self::new(
            SecretSource::from_lookup_with(&lookup, sdk_config)?,
            SecretSource::from_lookup_with(&lookup, sdk_config)?,
        ))
    }

    /// The current credentials; the two parts are read at the same time.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, SecretError> {
        let (app, callback) = tokio::try_join!(self.app.get(), self.callback.get())?;
        Ok(Arc::new(Credentials::from_parts(&app, &callback)))
    }

    /// The source of the callback part alone.
    pub fn callback(&self) -> &CallbackCredentialSource {
        &self.callback
    }
}

/// One part of the credentials read from one Secrets Manager secret and cached for a TTL.
///
/// Callers that find the cache expired share one fetch. If a refresh fails while a cached value
/// exists, it keeps being served (with a warning in the log) and the refresh is retried after
/// 30 s or the TTL, whichever is shorter.
pub struct SecretsManagerSource<T> {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cache: Mutex<Option<Cached<T>>>,
}

struct Cached<T> {
    value: Arc<T>,
    refresh_at: Instant,
}

impl<T> fmt::Debug for SecretsManagerSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsManagerSource")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<T: CredentialPart> SecretsManagerSource<T> {
    async fn get(&self) -> Result<Arc<T>, SecretError> {
        // Holding the lock across the fetch makes concurrent callers wait for one fetch.
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(cached) = cache.as_ref()
            && now < cached.refresh_at
        {
            return Ok(Arc::clone(&cached.value));
        }
        match self.fetch().await {
            Ok(value) => {
                let value = Arc::new(value);
                *cache = Some(Cached {
                    value: Arc::clone(&value),
                    refresh_at: Instant::now() + self.ttl,
                });
                tracing::debug!(secret_id = %self.secret_id, "loaded a secret from Secrets Manager");
                Ok(value)
            }
            Err(error) => match cache.as_mut() {
                Some(cached) => {
                    tracing::warn!(
                        secret_id = %self.secret_id,
                        %error,
                        "refreshing a secret from Secrets Manager failed; serving the cached value"
                    );
                    cached.refresh_at = Instant::now() + self.ttl.min(FAILED_REFRESH_RETRY_AFTER);
                    Ok(Arc::clone(&cached.value))
                }
                None => Err(error),
            },
        }
    }

    async fn fetch(&self) -> Result<T, SecretError> {
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
        T::from_secret_json(&self.secret_id, text)
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
    /// A required environment variable is unset or empty (and the secret that would replace it
    /// is not named either).
    #[error("environment variable `{name}` is not set (nor `{secret_id_var}`)")]
    MissingEnvVar {
        /// The variable's name.
        name: &'static str,
        /// The variable naming the secret that would be read instead.
        secret_id_var: &'static str,
    },
    /// A variable the bridge no longer reads is set, and its replacement is not.
    #[error(
        "environment variable `{name}` is no longer read; set `{replacement}` (see the README)"
    )]
    RetiredEnvVar {
        /// The retired variable.
        name: &'static str,
        /// The variable to set instead.
        replacement: &'static str,
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

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), OsString::from(value)))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn choice<T: CredentialPart>(vars: &[(&str, &str)]) -> Result<EnvChoice<T>, SecretError> {
        EnvChoice::from_lookup(&lookup(vars))
    }

    fn full_env() -> Vec<(&'static str, &'static str)> {
        vec![
            (APP_ID_VAR, "cli_123"),
            (APP_SECRET_VAR, APP_SECRET),
            (CALLBACK_TOKEN_VAR, TOKEN),
            (CALLBACK_KEY_VAR, KEY),
        ]
    }

    fn app() -> AppCredentials {
        AppCredentials {
            app_id: "cli_123".into(),
            app_secret: Secret::new(APP_SECRET),
        }
    }

    fn callback(callback_key: Option<&str>) -> CallbackCredentials {
        CallbackCredentials {
            callback_token: Secret::new(TOKEN),
            callback_key: callback_key.map(Secret::new),
            previous_callback: None,
        }
    }

    fn expected(callback_key: Option<&str>) -> Credentials {
        Credentials::from_parts(&app(), &callback(callback_key))
    }

    fn assert_no_secret_values(text: &str) {
        for value in [APP_SECRET, TOKEN, KEY] {
            assert!(!text.contains(value), "secret value leaked into {text:?}");
        }
    }

    #[test]
    fn env_vars_give_fixed_parts() {
        assert_eq!(choice(&full_env()).unwrap(), EnvChoice::Fixed(app()));
        assert_eq!(
            choice(&full_env()).unwrap(),
            EnvChoice::Fixed(callback(Some(KEY)))
        );
    }

    #[test]
    fn callback_key_is_optional_and_empty_means_none() {
        let mut vars = full_env();
        vars.retain(|(name, _)| *name != CALLBACK_KEY_VAR);
        assert_eq!(choice(&vars).unwrap(), EnvChoice::Fixed(callback(None)));

        vars.push((CALLBACK_KEY_VAR, ""));
        assert_eq!(choice(&vars).unwrap(), EnvChoice::Fixed(callback(None)));
    }

    #[test]
    fn missing_or_empty_required_env_var_is_named_with_the_secret_that_would_replace_it() {
        let cases = [
            (APP_ID_VAR, APP_SECRET_ID_VAR),
            (APP_SECRET_VAR, APP_SECRET_ID_VAR),
            (CALLBACK_TOKEN_VAR, CALLBACK_SECRET_ID_VAR),
        ];
        for (required, secret_id_var) in cases {
            let mut vars = full_env();
            vars.retain(|(name, _)| *name != required);
            let app = choice::<AppCredentials>(&vars).err();
            let callback = choice::<CallbackCredentials>(&vars).err();
            let error = app.or(callback).expect("one part is incomplete");
            assert!(
                matches!(
                    error,
                    SecretError::MissingEnvVar { name, secret_id_var: var }
                        if name == required && var == secret_id_var
                ),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(required) && message.contains(secret_id_var));

            vars.push((required, ""));
            let app = choice::<AppCredentials>(&vars).err();
            let callback = choice::<CallbackCredentials>(&vars).err();
            let error = app.or(callback).expect("one part is incomplete");
            assert!(matches!(error, SecretError::MissingEnvVar { name, .. } if name == required));
        }
    }

    #[test]
    fn each_part_reads_its_own_secret_and_needs_no_variable_of_the_other() {
        let vars = [(CALLBACK_SECRET_ID_VAR, SECRET_ID)];
        assert_eq!(
            choice::<CallbackCredentials>(&vars).unwrap(),
            EnvChoice::SecretsManager {
                secret_id: SECRET_ID.into(),
                ttl: DEFAULT_SECRET_TTL
            }
        );
        // The callback function's environment: nothing about the app.
        let error = choice::<AppCredentials>(&vars).unwrap_err();
        assert!(
            matches!(
                error,
                SecretError::MissingEnvVar {
                    name: APP_ID_VAR,
                    ..
                }
            ),
            "{error:?}"
        );

        let vars = [(APP_SECRET_ID_VAR, "feishu/app"), (SECRET_TTL_VAR, "42")];
        assert_eq!(
            choice::<AppCredentials>(&vars).unwrap(),
            EnvChoice::SecretsManager {
                secret_id: "feishu/app".into(),
                ttl: Duration::from_secs(42)
            }
        );
        assert!(choice::<CallbackCredentials>(&vars).is_err());
    }

    #[test]
    fn the_retired_single_secret_is_refused_naming_its_replacement() {
        let vars = [(RETIRED_SECRET_ID_VAR, SECRET_ID)];
        let error = choice::<CallbackCredentials>(&vars).unwrap_err();
        assert!(
            matches!(
                error,
                SecretError::RetiredEnvVar {
                    name: RETIRED_SECRET_ID_VAR,
                    replacement: CALLBACK_SECRET_ID_VAR
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains(CALLBACK_SECRET_ID_VAR));

        // Set beside its replacement (a stack being migrated), it is ignored.
        let vars = [
            (RETIRED_SECRET_ID_VAR, SECRET_ID),
            (APP_SECRET_ID_VAR, "feishu/app"),
        ];
        assert!(
            choice::<AppCredentials>(&vars)
                .unwrap()
                .uses_secrets_manager()
        );
    }

    #[test]
    fn bad_ttl_is_rejected_by_name() {
        for bad in ["5m", "-1", "1.5"] {
            let vars = [(CALLBACK_SECRET_ID_VAR, SECRET_ID), (SECRET_TTL_VAR, bad)];
            let error = choice::<CallbackCredentials>(&vars).unwrap_err();
            assert!(
                matches!(error, SecretError::InvalidEnvVar { name, .. } if name == SECRET_TTL_VAR),
                "{error:?}"
            );
        }
    }

    #[test]
    fn secret_json_parses_each_part_ignoring_other_fields() {
        let json = format!(
            r#"{{"app_id":"cli_123","app_secret":"{APP_SECRET}","callback_token":"{TOKEN}","callback_key":"{KEY}","extra":1}}"#
        );
        assert_eq!(
            AppCredentials::from_secret_json(SECRET_ID, &json).unwrap(),
            app()
        );
        assert_eq!(
            CallbackCredentials::from_secret_json(SECRET_ID, &json).unwrap(),
            callback(Some(KEY))
        );
    }

    #[test]
    fn a_rotation_keeps_the_previous_pair_beside_the_current_one() {
        let json = format!(
            r#"{{"callback_token":"{TOKEN}","callback_key":"{KEY}","previous_callback_token":"old-token","previous_callback_key":"old-key"}}"#
        );
        let part = CallbackCredentials::from_secret_json(SECRET_ID, &json).unwrap();
        let previous = CallbackPair {
            token: Secret::new("old-token"),
            key: Some(Secret::new("old-key")),
        };
        assert_eq!(part.previous_callback.as_ref(), Some(&previous));
        let pairs: Vec<_> = part.pairs().collect();
        assert_eq!(
            pairs,
            [
                (PairInUse::Current, callback(Some(KEY)).current()),
                (PairInUse::Previous, previous)
            ]
        );
        assert_no_secret_values(&format!("{part:?}"));
        assert!(!format!("{part:?}").contains("old-key"));

        // A previous pair without a key had plaintext callbacks; empty fields mean none.
        let json = format!(
            r#"{{"callback_token":"{TOKEN}","previous_callback_token":"old-token","previous_callback_key":""}}"#
        );
        let part = CallbackCredentials::from_secret_json(SECRET_ID, &json).unwrap();
        assert_eq!(
            part.previous_callback.map(|pair| pair.key),
            Some(None),
            "{json}"
        );
        let json = format!(r#"{{"callback_token":"{TOKEN}","previous_callback_token":""}}"#);
        let part = CallbackCredentials::from_secret_json(SECRET_ID, &json).unwrap();
        assert_eq!(part.previous_callback, None);
        assert_eq!(part.pairs().count(), 1);
    }

    #[test]
    fn a_previous_key_without_its_token_is_refused_by_name() {
        let json = format!(r#"{{"callback_token":"{TOKEN}","previous_callback_key":"old-key"}}"#);
        let error = CallbackCredentials::from_secret_json(SECRET_ID, &json).unwrap_err();
        assert!(
            matches!(
                error,
                SecretError::MissingField {
                    field: "previous_callback_token",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.to_string().contains("old-key"));

        let mut vars = full_env();
        vars.push((PREVIOUS_CALLBACK_KEY_VAR, "old-key"));
        assert!(matches!(
            choice::<CallbackCredentials>(&vars),
            Err(SecretError::MissingEnvVar {
                name: PREVIOUS_CALLBACK_TOKEN_VAR,
                ..
            })
        ));
        vars.push((PREVIOUS_CALLBACK_TOKEN_VAR, "old-token"));
        let EnvChoice::Fixed(part) = choice::<CallbackCredentials>(&vars).unwrap() else {
            panic!("variables give a fixed part");
        };
        assert_eq!(part.pairs().count(), 2);
    }

    #[test]
    fn secret_json_callback_key_absent_null_or_empty_is_none() {
        for key in ["", r#","callback_key":null"#, r#","callback_key":"""#] {
            let json = format!(r#"{{"callback_token":"{TOKEN}"{key}}}"#);
            let part = CallbackCredentials::from_secret_json(SECRET_ID, &json).unwrap();
            assert_eq!(part, callback(None), "{json}");
        }
    }

    #[test]
    fn secret_json_missing_or_empty_field_is_named() {
        let error = CallbackCredentials::from_secret_json(SECRET_ID, r#"{"callback_token":""}"#)
            .unwrap_err();
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

        let json = format!(r#"{{"app_secret":"{APP_SECRET}"}}"#);
        let error = AppCredentials::from_secret_json(SECRET_ID, &json).unwrap_err();
        assert!(matches!(
            &error,
            SecretError::MissingField {
                field: "app_id",
                ..
            }
        ));
        assert_no_secret_values(&format!("{error} {error:?}"));
    }

    #[test]
    fn secret_json_non_string_field_is_named_without_value() {
        let json = format!(r#"{{"app_id":"cli_123","app_secret":["{APP_SECRET}"]}}"#);
        let error = AppCredentials::from_secret_json(SECRET_ID, &json).unwrap_err();
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
            let error = AppCredentials::from_secret_json(SECRET_ID, &text).unwrap_err();
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
            "{credentials:?} {:?} {:?} {:?}",
            CredentialSource::fixed(credentials.clone()),
            app(),
            callback(Some(KEY)),
        );
        assert!(debug.contains("cli_123"), "app_id is not secret: {debug}");
        assert_no_secret_values(&debug);
        assert_eq!(credentials.app_secret.expose(), APP_SECRET);
    }

    #[tokio::test]
    async fn from_env_with_reads_each_part_from_its_own_secret_through_the_given_config() {
        use wiremock::matchers::{body_partial_json, header, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let server = MockServer::start().await;
        let secrets = [
            (
                "feishu/app",
                format!(r#"{{"app_id":"cli_123","app_secret":"{APP_SECRET}"}}"#),
            ),
            (
                "feishu/callback",
                format!(r#"{{"callback_token":"{TOKEN}"}}"#),
            ),
        ];
        for (secret_id, secret) in secrets {
            Mock::given(method("POST"))
                .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
                .and(body_partial_json(
                    serde_json::json!({"SecretId": secret_id}),
                ))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "Name": secret_id,
                    "SecretString": secret,
                })))
                .expect(1)
                .mount(&server)
                .await;
        }
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

        let vars = lookup(&[
            (APP_SECRET_ID_VAR, "feishu/app"),
            (CALLBACK_SECRET_ID_VAR, "feishu/callback"),
        ]);
        let source = CredentialSource::new(
            SecretSource::from_lookup_with(&vars, &sdk_config).unwrap(),
            SecretSource::from_lookup_with(&vars, &sdk_config).unwrap(),
        );
        assert_eq!(*source.credentials().await.unwrap(), expected(None));

        let env = lookup(&full_env());
        let callback_only = CallbackCredentialSource::from_lookup_with(&env, &sdk_config).unwrap();
        assert!(matches!(callback_only, SecretSource::Fixed(_)));
        assert_eq!(*callback_only.get().await.unwrap(), callback(Some(KEY)));
    }

    #[tokio::test]
    async fn fixed_source_yields_its_credentials() {
        let source = CredentialSource::fixed(expected(None));
        assert_eq!(*source.credentials().await.unwrap(), expected(None));
        assert_eq!(*source.callback().get().await.unwrap(), callback(None));
    }
}
