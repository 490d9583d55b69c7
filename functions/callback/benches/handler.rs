//! The in-process handler on an encrypted ~1 KB callback, handed off to an `InMemoryHandoff`:
//! parse, decrypt, token check, decision, job JSON, response (`encrypted_1kb_in_memory_handoff`).
//!
//! Beside it, `library_pipeline`: the same callback through the `feishu_bridge` calls the handler
//! makes (body parse, decrypt and parse, token check, decision), without HTTP, hand-off or
//! logging; the difference between the two is the handler's own overhead.
//!
//! `handoff_proof` is the hand-off proof alone (issue 16): the HMAC-SHA256 of the job the
//! handler hands off for that callback, its canonical JSON included — what proving a job adds
//! to every callback (the body digest that is its delivery id is `delivery_id_digest`).
//!
//! Last, `encrypted_1kb_in_memory_handoff_json_log`: the handler again with the subscriber
//! production installs (Lambda's JSON format, INFO), writing its one line per callback to a sink.
//! It runs after the others because a global subscriber cannot be removed once installed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use approval_callback::handler::{CallbackRequest, CallbackService, handle_callback};
use approval_callback::handoff::InMemoryHandoff;
use aws_lambda_events::http::{Method, StatusCode};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feishu_bridge::callback::{CallbackBody, CallbackToken, RawCallback, delivery_id};
use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::handoff::HandoffKey;
use feishu_bridge::job::DecisionJob;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{CallbackCredentialSource, CallbackCredentials, Secret};
use serde_json::json;

const KEY: &str = "kudryavtsev";
const TOKEN: &str = "aaaaa";

/// A realistic card callback of about 1 KB of plaintext.
fn plaintext() -> String {
    json!({
        "action_type": "APPROVE",
        "action_context": "{\"ticket\":\"PR-2026-000417\",\"version\":7,\"origin\":\"procurement\"}",
        "user_id": "b85s39b",
        "approval_code": "A3895051-9B16-4ABA-B785-AD2986177BB1",
        "instance_id": "procurement-PR-2026-000417",
        "task_id": "PR-2026-000417-step-2-finance",
        "message_id": 7690275278685244603u64,
        "reason": "Budget confirmed with the cost centre owner; vendor quote attached. Please \
                   proceed with the purchase order and notify the requester when it is placed.",
        "attachments": [
            {
                "file_type": "IMAGE",
                "file_name": "quote-page-1.png",
                "file_size": 482113,
                "url": "https://internal-api-drive-stream.feishu.cn/space/api/box/stream/download/preview/boxcnq3pZk8r0aYk5mJbEN0abcd/?preview_type=16"
            },
            {
                "file_type": "ATTACHMENTS",
                "file_name": "vendor-quote-2026-11.pdf",
                "file_size": 1733241,
                "url": "https://internal-api-drive-stream.feishu.cn/space/api/box/stream/download/all/boxcnq3pZk8r0aYk5mJbEN0efgh/"
            }
        ],
        "token": TOKEN
    })
    .to_string()
}

/// The encrypted body as Feishu posts it.
fn encrypted_body() -> String {
    json!({ "encrypt": CallbackCipher::new(KEY).encrypt(&plaintext()) }).to_string()
}

fn bench_handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let credentials = CallbackCredentialSource::fixed(CallbackCredentials {
        callback_token: Secret::new(TOKEN),
        callback_key: Some(Secret::new(KEY)),
        previous_callback: None,
    });
    let service = CallbackService::new(credentials, InMemoryHandoff::new(), Duration::from_secs(3));
    let body = encrypted_body();
    let request = CallbackRequest {
        method: &Method::POST,
        body: &body,
        body_is_base64: false,
        request_id: Some("8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a"),
        trace_id: None,
    };
    let plaintext_len = plaintext().len();

    let response = runtime.block_on(handle_callback(&service, &request));
    assert_eq!(
        response.status,
        StatusCode::OK,
        "the benchmark measures the success path"
    );
    assert_eq!(service.handoff().take_payloads().len(), 1);

    let handler = |b: &mut criterion::Bencher<'_>| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    black_box(handle_callback(&service, black_box(&request)).await);
                    // Free the job payload, as production does once the invoke returns,
                    // instead of letting the in-memory record grow.
                    drop(black_box(service.handoff().take_payloads()));
                }
                started.elapsed()
            })
        });
    };
    let mut group = c.benchmark_group("callback");
    group.throughput(Throughput::Bytes(plaintext_len as u64));
    group.bench_function("encrypted_1kb_in_memory_handoff", &handler);
    let cipher = CallbackCipher::new(KEY);
    let token = CallbackToken::new(TOKEN);
    let body = json!({ "encrypt": cipher.encrypt(&plaintext()) }).to_string();
    group.bench_function("library_pipeline", |b| {
        b.iter(|| {
            let Ok(CallbackBody::Encrypted(encrypt)) =
                CallbackBody::parse(black_box(body.as_bytes()))
            else {
                panic!("the benchmark body is encrypted");
            };
            let raw: RawCallback = cipher.decrypt_json(&encrypt).expect("decrypts");
            assert!(token.verify(raw.token().unwrap_or_default()));
            raw.into_decision().expect("complete")
        })
    });

    let plaintext = plaintext();
    let key = HandoffKey::derive(TOKEN, Some(KEY));
    let job = DecisionJob {
        decision: RawCallback::parse(&plaintext)
            .expect("parses")
            .into_decision()
            .expect("complete"),
        received_at: UnixMillis::now(),
        delivery_id: Some(delivery_id(plaintext.as_bytes())),
        proof: None,
    };
    group.bench_function("handoff_proof", |b| {
        b.iter(|| key.prove(black_box(&job)).expect("proven"))
    });
    group.bench_function("delivery_id_digest", |b| {
        b.iter(|| delivery_id(black_box(plaintext.as_bytes())))
    });

    // SAFETY: the benchmark is single-threaded here and nothing else reads the environment
    // while it is changed, before the subscriber reads it.
    unsafe {
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
        std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "INFO");
        std::env::remove_var("RUST_LOG");
    }
    feishu_bridge::logging::init_with_writer(std::io::sink);
    group.bench_function("encrypted_1kb_in_memory_handoff_json_log", &handler);
    group.finish();
}

criterion_group!(benches, bench_handler);
criterion_main!(benches);
