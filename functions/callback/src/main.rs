//! Lambda entry point: wires tracing, configuration and clients, warms up, then serves callbacks.

use std::sync::Arc;

use approval_callback::config::{Config, INIT_WARM_UP_BUDGET};
use approval_callback::event::handle_event;
use approval_callback::handler::CallbackService;
use approval_callback::handoff::LambdaHandoff;
use approval_callback::lookup::{dynamodb_records, lookup_budget};
use approval_callback::warm::warm_up_within;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use feishu_bridge::metrics::EmfEmitter;
use feishu_bridge::secrets::CallbackCredentialSource;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Lambda's logging controls, as in approval-sync: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON` (as
    // template.yaml sets), level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO.
    feishu_bridge::logging::init();
    let config = Config::from_env()?;
    approval_callback::metrics::install(EmfEmitter::from_env()?);
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let handoff = LambdaHandoff::new(&sdk_config, config.sync_function_name);
    let credentials = CallbackCredentialSource::from_env_with(&sdk_config)?;
    // The look-up's DynamoDB client shares the SDK config (TLS stack, credentials) of the others.
    let records = config.table_name.map(|table_name| {
        dynamodb_records(
            &sdk_config,
            table_name,
            lookup_budget(config.callback_deadline),
        )
    });
    let service = Arc::new(
        CallbackService::new(credentials, handoff, config.callback_deadline).with_records(records),
    );
    // The secret and the hand-off's connection, at the same time, before the first event.
    warm_up_within(&service, INIT_WARM_UP_BUDGET).await;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let service = Arc::clone(&service);
            // Boxed, as lambda_http boxes its handlers: the SDK's futures nest too deeply for the
            // compiler to lay out `main`'s future with them inline.
            Box::pin(async move { Ok::<_, Error>(handle_event(&service, event).await) })
        },
    ))
    .await
}
