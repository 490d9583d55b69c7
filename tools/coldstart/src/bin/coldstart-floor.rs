//! The floor of the cold-start measurements: a minimal `lambda_http` function that answers every
//! request `200 {"ok":true}`, built with the same profile and features as the functions.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        let mut response = Response::new(Body::from(r#"{"ok":true}"#));
        response.headers_mut().insert(
            "content-type",
            lambda_http::http::HeaderValue::from_static("application/json"),
        );
        Ok::<_, Error>(response)
    }))
    .await
}
