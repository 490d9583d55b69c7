//! The function's Lambda event: an API Gateway HTTP API (payload format 2.0) or function URL
//! event in, its response out.
//!
//! The event is taken as it comes and its body handed to the handler undecoded, so a body flagged
//! base64 that is not base64 is the handler's 400 answer, not a panic in the event conversion.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderValue;
use aws_lambda_events::http::header::{ALLOW, CONTENT_TYPE};
use lambda_runtime::LambdaEvent;

use crate::handler::{CallbackRequest, CallbackResponse, CallbackService, handle_callback};
use crate::handoff::Handoff;
use feishu_bridge::store::InstanceReader;

/// Answers one API Gateway HTTP API event (see [`handle_callback`]). Never fails.
pub async fn handle_event<H: Handoff, R: InstanceReader>(
    service: &CallbackService<H, R>,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> ApiGatewayV2httpResponse {
    let LambdaEvent { payload, context } = event;
    let request_id = Some(context.request_id.as_str())
        .filter(|id| !id.is_empty())
        .or(payload.request_context.request_id.as_deref());
    let request = CallbackRequest {
        method: &payload.request_context.http.method,
        body: payload.body.as_deref().unwrap_or_default(),
        body_is_base64: payload.is_base64_encoded,
        request_id,
        trace_id: context.xray_trace_id.as_deref(),
    };
    into_event_response(handle_callback(service, &request).await)
}

/// The handler's answer as API Gateway reads it: a JSON text body.
fn into_event_response(answer: CallbackResponse) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(answer.status.as_u16());
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if answer.allow_post {
        response
            .headers
            .insert(ALLOW, HeaderValue::from_static("POST"));
    }
    response.body = Some(Body::Text(answer.body));
    response
}
