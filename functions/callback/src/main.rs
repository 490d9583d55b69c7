//! Lambda entry point: wires tracing, configuration and clients, then serves callbacks.

use approval_callback::config::Config;
use approval_callback::handler::{CallbackService, handle_callback};
use approval_callback::handoff::LambdaHandoff;
use feishu_bridge::metrics::EmfEmitter;
use feishu_bridge::secrets::CredentialSource;
use lambda_http::{Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // Lambda's logging controls, as in approval-sync: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON` (as
    // template.yaml sets), level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO.
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    approval_callback::metrics::install(EmfEmitter::from_env()?);
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let handoff = LambdaHandoff::new(
        &sdk_config,
        config.sync_function_name,
        config.callback_deadline,
    );
    let credentials = CredentialSource::from_env_with(&sdk_config)?;
    let service = CallbackService::new(credentials, handoff, config.callback_deadline);
    let service = &service;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, lambda_http::Error>(handle_callback(service, &request).await)
    }))
    .await
}
