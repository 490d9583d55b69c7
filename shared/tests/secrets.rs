//! Credentials from AWS Secrets Manager, against a local moto server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept};
use aws_sdk_secretsmanager::error::BoxError;
use feishu_bridge::secrets::{
    AppCredentialSource, CallbackCredentialSource, CallbackCredentials, CredentialSource,
    Credentials, Secret, SecretError,
};
use testkit::MotoServer;

const SECRET_ID: &str = "feishu/approval-bridge/app";
const CALLBACK_SECRET_ID: &str = "feishu/approval-bridge/callback";
const LONG_TTL: Duration = Duration::from_secs(3600);

/// The app secret's value.
fn secret_json(app_secret: &str) -> String {
    serde_json::json!({"app_id": "cli_a1b2c3", "app_secret": app_secret}).to_string()
}

/// The callback secret's value.
fn callback_secret_json(callback_key: Option<&str>) -> String {
    let mut object = serde_json::json!({"callback_token": "token-value"});
    if let Some(key) = callback_key {
        object["callback_key"] = key.into();
    }
    object.to_string()
}

async fn client(moto: &MotoServer) -> Client {
    Client::new(&moto.sdk_config().await)
}

async fn create_secret_named(client: &Client, name: &str, value: &str) {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret");
}

async fn create_secret(client: &Client, value: &str) {
    create_secret_named(client, SECRET_ID, value).await;
}

async fn rotate_secret(client: &Client, value: &str) {
    client
        .put_secret_value()
        .secret_id(SECRET_ID)
        .secret_string(value)
        .send()
        .await
        .expect("moto stores the new version");
}

async fn load_error(client: Client) -> SecretError {
    AppCredentialSource::secrets_manager(client, SECRET_ID, LONG_TTL)
        .get()
        .await
        .expect_err("the secret is unusable")
}

#[tokio::test]
async fn reads_both_parts_each_from_its_own_secret() {
    let moto = MotoServer::start().await;
    let client = client(&moto).await;
    create_secret(&client, &secret_json("app-secret-1")).await;
    create_secret_named(
        &client,
        CALLBACK_SECRET_ID,
        &callback_secret_json(Some("key-value")),
    )
    .await;

    let source = CredentialSource::new(
        AppCredentialSource::secrets_manager(client.clone(), SECRET_ID, LONG_TTL),
        CallbackCredentialSource::secrets_manager(client, CALLBACK_SECRET_ID, LONG_TTL),
    );
    let credentials = source.credentials().await.expect("credentials load");

    assert_eq!(
        *credentials,
        Credentials {
            app_id: "cli_a1b2c3".into(),
            app_secret: Secret::new("app-secret-1"),
            callback_token: Secret::new("token-value"),
            callback_key: Some(Secret::new("key-value")),
            previous_callback: None,
        }
    );
}

#[tokio::test]
async fn callback_part_alone_reads_only_the_callback_secret_and_its_key_is_optional() {
    let moto = MotoServer::start().await;
    let client = client(&moto).await;
    create_secret_named(&client, CALLBACK_SECRET_ID, &callback_secret_json(None)).await;

    let source = CallbackCredentialSource::secrets_manager(client, CALLBACK_SECRET_ID, LONG_TTL);
    let part = source.get().await.expect("callback credentials load");

    assert_eq!(
        *part,
        CallbackCredentials {
            callback_token: Secret::new("token-value"),
            callback_key: None,
            previous_callback: None,
        }
    );
}

#[tokio::test]
async fn missing_secret_is_not_found_naming_the_id() {
    let moto = MotoServer::start().await;

    let error = load_error(client(&moto).await).await;

    assert!(
        matches!(&error, SecretError::NotFound { secret_id } if secret_id == SECRET_ID),
        "{error:?}"
    );
    assert!(error.to_string().contains(SECRET_ID), "{error}");
}

#[tokio::test]
async fn secret_without_a_required_field_names_the_field() {
    let moto = MotoServer::start().await;
    let client = client(&moto).await;
    create_secret(&client, r#"{"app_id": "cli_a1b2c3"}"#).await;

    let error = load_error(client).await;

    assert!(
        matches!(
            &error,
            SecretError::MissingField {
                field: "app_secret",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("app_secret"), "{error}");
}

#[tokio::test]
async fn non_json_secret_is_rejected_without_echoing_it() {
    let moto = MotoServer::start().await;
    let client = client(&moto).await;
    create_secret(&client, "app_secret=plain-text-secret").await;

    let error = load_error(client).await;

    assert!(
        matches!(&error, SecretError::NotJsonObject { .. }),
        "{error:?}"
    );
    let shown = format!("{error} {error:?}");
    assert!(shown.contains(SECRET_ID), "{shown}");
    assert!(!shown.contains("plain-text-secret"), "{shown}");
}

#[tokio::test]
async fn cached_credentials_are_served_until_the_ttl_expires() {
    let moto = MotoServer::start().await;
    let client = client(&moto).await;
    create_secret(&client, &secret_json("before-rotation")).await;
    let source = AppCredentialSource::secrets_manager(client.clone(), SECRET_ID, LONG_TTL);
    assert_eq!(
        source.get().await.unwrap().app_secret.expose(),
        "before-rotation"
    );

    rotate_secret(&client, &secret_json("after-rotation")).await;

    assert_eq!(
        source.get().await.unwrap().app_secret.expose(),
        "before-rotation"
    );
}

#[tokio::test]
async fn rotation_is_picked_up_after_the_ttl() {
    let ttl = Duration::from_millis(100);
    let moto = MotoServer::start().await;
    let client = client(&moto).await;
    create_secret(&client, &secret_json("before-rotation")).await;
    let source = AppCredentialSource::secrets_manager(client.clone(), SECRET_ID, ttl);
    assert_eq!(
        source.get().await.unwrap().app_secret.expose(),
        "before-rotation"
    );

    rotate_secret(&client, &secret_json("after-rotation")).await;
    // Waiting longer than the TTL guarantees expiry; a slow machine only waits longer.
    tokio::time::sleep(ttl * 2).await;

    assert_eq!(
        source.get().await.unwrap().app_secret.expose(),
        "after-rotation"
    );
}

#[tokio::test]
async fn cached_credentials_are_served_when_a_refresh_fails() {
    let ttl = Duration::from_millis(100);
    let moto = MotoServer::start().await;
    let client = client(&moto).await;
    create_secret(&client, &secret_json("still-valid")).await;
    let (counted, calls) = counting_client(&moto).await;
    let source = AppCredentialSource::secrets_manager(counted, SECRET_ID, ttl);
    source.get().await.expect("first load succeeds");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    client
        .delete_secret()
        .secret_id(SECRET_ID)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("moto deletes the secret");
    tokio::time::sleep(ttl * 2).await;

    let credentials = source
        .get()
        .await
        .expect("the cached credentials are still served");
    assert_eq!(credentials.app_secret.expose(), "still-valid");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the expired cache was refreshed, and the refresh failed"
    );
}

/// Counts Secrets Manager calls made through a client.
#[derive(Debug)]
struct CallCounter(Arc<AtomicUsize>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A client of `moto` whose calls are counted.
async fn counting_client(moto: &MotoServer) -> (Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let config = aws_sdk_secretsmanager::config::Builder::from(&moto.sdk_config().await)
        .interceptor(CallCounter(Arc::clone(&calls)))
        .build();
    (Client::from_conf(config), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_on_an_empty_cache_share_one_fetch() {
    let moto = MotoServer::start().await;
    create_secret(&client(&moto).await, &secret_json("shared")).await;
    let (counted, calls) = counting_client(&moto).await;
    let source = Arc::new(AppCredentialSource::secrets_manager(
        counted, SECRET_ID, LONG_TTL,
    ));

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let source = Arc::clone(&source);
        callers.spawn(async move { source.get().await });
    }
    while let Some(result) = callers.join_next().await {
        let credentials = result.expect("task completes").expect("credentials load");
        assert_eq!(credentials.app_secret.expose(), "shared");
    }

    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unreachable_secrets_manager_is_a_call_failure_naming_the_secret() {
    // Nothing listens on a port that was just free; retries are off to fail fast.
    let endpoint = format!("http://127.0.0.1:{}", testkit::free_port());
    let config =
        aws_sdk_secretsmanager::config::Builder::from(&testkit::aws_sdk_config(&endpoint).await)
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build();

    let error = load_error(Client::from_conf(config)).await;

    assert!(
        matches!(&error, SecretError::SecretsManager { secret_id, .. } if secret_id == SECRET_ID),
        "{error:?}"
    );
}
