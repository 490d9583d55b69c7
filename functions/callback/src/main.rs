//! Lambda entry point: wires tracing, configuration and clients, then serves callbacks.

use approval_callback::config::Config;
use approval_callback::handler::{CallbackService, handle_callback};
use approval_callback::handoff::LambdaHandoff;
use feishu_bridge::secrets::CredentialSource;
use lambda_http::{Request, service_fn};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = Config::from_env()?;
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let handoff = LambdaHandoff::new(
        &sdk_config,
        config.sync_function_name,
        config.callback_deadline,
    );
    let credentials = CredentialSource::from_env().await?;
    let service = CallbackService::new(credentials, handoff, config.callback_deadline);
    let service = &service;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, lambda_http::Error>(handle_callback(service, &request).await)
    }))
    .await
}

/// JSON logs to stdout. The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging
/// controls; `FATAL` means `error`), else `RUST_LOG` (full filter directives), else `info`.
fn init_tracing() {
    let directives = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|level| {
            if level.eq_ignore_ascii_case("fatal") {
                "error".to_owned()
            } else {
                level.to_ascii_lowercase()
            }
        })
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_env_filter(filter)
        .init();
}
