//! Per-callback cost of the shared pieces on an encrypted ~1 KB callback: decrypt, parse, token
//! check and decision (the callback handler's budget is < 5 µs in total).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feishu_bridge::callback::{CallbackBody, CallbackToken, RawCallback};
use feishu_bridge::crypto::CallbackCipher;
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
                "url": "https://example.invalid/space/api/box/stream/download/preview/boxcnq3pZk8r0aYk5mJbEN0abcd/?preview_type=16"
            },
            {
                "file_type": "ATTACHMENTS",
                "file_name": "vendor-quote-2026-11.pdf",
                "file_size": 1733241,
                "url": "https://example.invalid/space/api/box/stream/download/all/boxcnq3pZk8r0aYk5mJbEN0efgh/"
            }
        ],
        "token": TOKEN
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let cipher = CallbackCipher::new(KEY);
    let token = CallbackToken::new(TOKEN);
    let plaintext = plaintext();
    let body = json!({ "encrypt": cipher.encrypt(&plaintext) }).to_string();

    let mut group = c.benchmark_group("callback");
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    group.bench_function("decrypt", |b| {
        let encrypt = cipher.encrypt(&plaintext);
        b.iter(|| cipher.decrypt(black_box(&encrypt)))
    });
    group.bench_function("parse_plaintext", |b| {
        b.iter(|| RawCallback::parse(black_box(&plaintext)))
    });
    group.bench_function("body_to_decision", |b| {
        b.iter(|| {
            let Ok(CallbackBody::Encrypted(encrypt)) =
                CallbackBody::parse(black_box(body.as_bytes()))
            else {
                panic!("benchmark body is encrypted");
            };
            let raw =
                RawCallback::parse(&cipher.decrypt(&encrypt).expect("decrypts")).expect("parses");
            assert!(token.verify(raw.token().unwrap_or_default()));
            raw.into_decision().expect("complete")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
