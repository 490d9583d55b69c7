//! Bad input at the public callback URL: refused, never reaching Feishu, never crashing the
//! function; replays reach Feishu once.

use std::time::Duration;

use base64::Engine;
use feishu_bridge::crypto::CallbackCipher;
use serde_json::{Value, json};

use crate::stack::{
    Bridge, BridgeOptions, CALLBACK_FUNCTION, action_context, approver, eventually, instance_json,
};

/// How long a decision may take to reach Feishu.
const SETTLE: Duration = Duration::from_secs(60);
/// The simulator paths the sync function calls for a decision.
const UPDATE_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/update";
const INSTANCE_PATH: &str = "/open-apis/approval/v4/external_instances";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_callbacks_are_refused_without_touching_feishu_and_replays_apply_once() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approval_code = bridge.register("E2E_GUARD").await;
    let instance = instance_json(&approval_code, "po-2002", &["finance", "director"]);
    bridge.push(&instance, true).await;
    let finance_card = bridge.card("po-2002", "finance").expect("a card");
    let url = bridge.callback_url();
    let fields = |task_id: &str, action: &str| {
        json!({
            "action_type": action,
            "action_context": action_context("po-2002", task_id),
            "user_id": approver(task_id),
            "approval_code": approval_code,
        })
    };
    let valid =
        bridge.encrypted_callback(fields("finance", "APPROVE"), Some(&finance_card.message_id));

    let feishu_calls_before = bridge.sim.handle().requests().len();
    let mut bad: Vec<(&str, Vec<u8>, u16)> = vec![
        ("an empty body", Vec::new(), 422),
        ("text", b"approve please".to_vec(), 422),
        ("a JSON array", b"[1,2,3]".to_vec(), 422),
        ("truncated JSON", br#"{"encrypt":"abc"#.to_vec(), 422),
        (
            "a non-string ciphertext",
            br#"{"encrypt":42}"#.to_vec(),
            422,
        ),
        ("a body over 64 KiB", vec![b' '; 65 * 1024], 413),
    ];
    let mut plaintext = fields("finance", "APPROVE");
    plaintext["token"] = json!(bridge.callback_token());
    plaintext["message_id"] = json!(finance_card.message_id.parse::<u64>().expect("digits"));
    bad.push((
        "a plaintext callback while a key is configured",
        plaintext.to_string().into_bytes(),
        401,
    ));
    let mut wrong_token = fields("finance", "APPROVE");
    wrong_token["token"] = json!("not-the-token");
    bad.push((
        "a wrong token",
        json!({"encrypt": bridge.cipher.encrypt(&wrong_token.to_string())})
            .to_string()
            .into_bytes(),
        401,
    ));
    let mut no_token = fields("finance", "APPROVE");
    no_token["message_id"] = json!(1);
    bad.push((
        "no token",
        json!({"encrypt": bridge.cipher.encrypt(&no_token.to_string())})
            .to_string()
            .into_bytes(),
        401,
    ));
    let mut other_key = fields("finance", "APPROVE");
    other_key["token"] = json!(bridge.callback_token());
    bad.push((
        "another key",
        json!({"encrypt": CallbackCipher::new("another-key").encrypt(&other_key.to_string())})
            .to_string()
            .into_bytes(),
        401,
    ));
    bad.push(("tampered ciphertext", tamper(&valid).into_bytes(), 401));
    bad.push((
        "ciphertext that is not base64",
        br#"{"encrypt":"%%% not base64 %%%"}"#.to_vec(),
        401,
    ));
    bad.push((
        "encrypted text that is not JSON",
        json!({"encrypt": bridge.cipher.encrypt("approve please")})
            .to_string()
            .into_bytes(),
        401,
    ));
    let mut no_approval_code = fields("finance", "APPROVE");
    no_approval_code
        .as_object_mut()
        .expect("an object")
        .remove("approval_code");
    bad.push((
        "a callback without approval_code",
        bridge
            .encrypted_callback(no_approval_code, Some(&finance_card.message_id))
            .into_bytes(),
        422,
    ));

    for (what, body, expected) in bad {
        let (status, answer) = bridge.post(&url, body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert_eq!(answer["without_prefix"], "true", "{what}: {answer}");
        assert!(answer["message"].is_string(), "{what}: {answer}");
    }
    let (status, _) = bridge
        .get(&bridge.watch.function_url(CALLBACK_FUNCTION))
        .await;
    assert_eq!(status, 405, "GET");

    assert_eq!(
        bridge.lambda_async.stats().accepted,
        0,
        "no bad callback was handed to the sync function"
    );
    assert_eq!(
        bridge.sim.handle().requests().len(),
        feishu_calls_before,
        "no bad callback reached Feishu"
    );

    // A replayed callback (the same body three times) is applied once.
    for _ in 0..3 {
        let (status, answer) = bridge.post(&url, valid.clone()).await;
        assert_eq!((status, &answer["code"]), (200, &json!(0)), "{answer}");
    }
    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    assert_eq!((stats.accepted, stats.succeeded), (3, 3));
    let updates = successful(&bridge, UPDATE_MESSAGE_PATH);
    assert_eq!(updates.len(), 1, "one card update: {updates:?}");
    assert_eq!(updates[0]["message_id"], finance_card.message_id.as_str());
    assert_eq!(updates[0]["status"], "APPROVED");
    // The instance was pushed once by the instance job, once for the decision.
    assert_eq!(successful(&bridge, INSTANCE_PATH).len(), 2);
    let events = eventually("the decision event", SETTLE, || async {
        let events = bridge.decision_events().await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 1, "one event for the replayed decision");

    // The function still answers and works.
    let director_card = bridge.card("po-2002", "director").expect("a card");
    let reject = bridge.encrypted_callback(
        fields("director", "REJECT"),
        Some(&director_card.message_id),
    );
    let (status, _) = bridge.post(&url, reject).await;
    assert_eq!(status, 200);
    eventually("the second decision on its card", SETTLE, || async {
        let card = bridge.card("po-2002", "director")?;
        (card.status == "REJECTED").then_some(())
    })
    .await;
    assert!(
        !bridge.watch.log().contains("panicked"),
        "a function panicked; see {:?}",
        bridge.watch.log_path()
    );
}

/// `body` (`{"encrypt": …}`) with one bit of the ciphertext's last block flipped.
fn tamper(body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).expect("JSON");
    let ciphertext = parsed["encrypt"].as_str().expect("a ciphertext");
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(ciphertext).expect("base64");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    json!({"encrypt": engine.encode(bytes)}).to_string()
}

/// The bodies of the requests to `path` that Feishu accepted.
fn successful(bridge: &Bridge, path: &str) -> Vec<Value> {
    bridge
        .sim
        .handle()
        .requests_to(path)
        .into_iter()
        .filter(|request| request.http_status == 200 && request.code == 0)
        .map(|request| request.body)
        .collect()
}
