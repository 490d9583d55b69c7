//! The endpoints the functions call, on local ports: a recording stand-in for Lambda's Invoke API,
//! moto for Secrets Manager (seeded with the bridge's secrets), and the Feishu simulator (seeded
//! with one bot card for the sync function to update).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The callback token and key of every run.
pub const CALLBACK_TOKEN: &str = "coldstart-callback-token";
/// See [`CALLBACK_TOKEN`].
pub const CALLBACK_KEY: &str = "coldstart-callback-key";
/// Secret names in moto.
pub const APP_SECRET_ID: &str = "coldstart/app";
/// See [`APP_SECRET_ID`].
pub const CALLBACK_SECRET_ID: &str = "coldstart/callback";
/// The one secret with all four fields that builds from before the split read.
pub const COMBINED_SECRET_ID: &str = "coldstart/combined";

/// A stand-in for `POST /2015-03-31/functions/{name}/invocations`: answers a dry run 204, an
/// `Event` invoke 202 (and counts it), anything else 200 `{}`.
pub struct LambdaApi {
    address: SocketAddr,
    events: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl LambdaApi {
    /// Starts on a free local port.
    pub async fn start() -> std::io::Result<Self> {
        let events = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(Arc::clone(&events));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            events,
            task,
        })
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `Event` invokes accepted so far.
    pub fn events(&self) -> usize {
        self.events.load(Ordering::SeqCst)
    }
}

impl Drop for LambdaApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn invoke(
    State(events): State<Arc<AtomicUsize>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    match headers
        .get("x-amz-invocation-type")
        .and_then(|value| value.to_str().ok())
    {
        Some("DryRun") => (StatusCode::NO_CONTENT, String::new()),
        Some("Event") => {
            events.fetch_add(1, Ordering::SeqCst);
            (StatusCode::ACCEPTED, String::new())
        }
        _ => (StatusCode::OK, "{}".to_owned()),
    }
}

/// Creates the bridge's secrets in moto: the app secret, the callback secret, and the combined
/// secret of builds from before the split.
pub async fn seed_secrets(
    moto: &testkit::MotoServer,
    app_id: &str,
    app_secret: &str,
) -> Result<(), String> {
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let secrets = [
        (
            APP_SECRET_ID,
            json!({"app_id": app_id, "app_secret": app_secret}),
        ),
        (
            CALLBACK_SECRET_ID,
            json!({"callback_token": CALLBACK_TOKEN, "callback_key": CALLBACK_KEY}),
        ),
        (
            COMBINED_SECRET_ID,
            json!({
                "app_id": app_id,
                "app_secret": app_secret,
                "callback_token": CALLBACK_TOKEN,
                "callback_key": CALLBACK_KEY
            }),
        ),
    ];
    for (name, value) in secrets {
        client
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .send()
            .await
            .map_err(|error| format!("creating secret {name} in moto: {error:?}"))?;
    }
    Ok(())
}

/// Sends one template-1008 bot card through the simulator and returns its message id, for the
/// sync function's message job to update.
pub async fn seed_card(sim_url: &str, app_id: &str, app_secret: &str) -> Result<String, String> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|error| error.to_string())?;
    let token: Value = http
        .post(format!(
            "{sim_url}/open-apis/auth/v3/tenant_access_token/internal"
        ))
        .json(&json!({"app_id": app_id, "app_secret": app_secret}))
        .send()
        .await
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| error.to_string())?;
    let token = token["tenant_access_token"]
        .as_str()
        .ok_or_else(|| format!("no tenant token from the simulator: {token}"))?;
    let link = "https://erp.example.com/po/1";
    let sent: Value = http
        .post(format!("{sim_url}/open-apis/approval/v1/message/send"))
        .bearer_auth(token)
        .json(&json!({
            "template_id": "1008",
            "user_id": "u-approver",
            "uuid": "coldstart-card-0001",
            "approval_name": "@i18n@name",
            "title_user_id": "u-applicant",
            "content": {"summaries": [{"summary": "@i18n@summary"}]},
            "actions": [{
                "action_name": "DETAIL",
                "url": link, "android_url": link, "ios_url": link, "pc_url": link
            }],
            "i18n_resources": [{
                "locale": "zh-CN",
                "is_default": true,
                "texts": {"@i18n@name": "采购申请", "@i18n@summary": "coldstart"}
            }]
        }))
        .send()
        .await
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| error.to_string())?;
    sent["data"]["message_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the simulator did not send the card: {sent}"))
}
