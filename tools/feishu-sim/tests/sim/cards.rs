//! What the approver sees on a bot card, tapping its buttons, and what Feishu does to the card
//! after the callback (feishu-api.md §2.2–§2.4, §5.2).

use std::time::Duration;

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use feishu_sim::{
    CardButtons, CardCallback, MessageRecord, StatusSource, Tap, TapAttachment, TapError,
    TapOutcome,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{SEND, Sim, UPDATE, send_body};

const APPROVAL_CODE: &str = "C0DE-SYSTEM";

async fn send(sim: &Sim, body: &Value) -> String {
    let answer = sim.api(SEND, body).await;
    assert_eq!(answer.code(), 0, "send failed: {}", answer.body);
    answer.body["data"]["message_id"]
        .as_str()
        .expect("message_id")
        .to_owned()
}

fn card(sim: &Sim, message_id: &str) -> MessageRecord {
    sim.running.handle().card(message_id).expect("card stored")
}

/// Decrypts an `encrypt` value the way §2.3 describes.
fn decrypt(action_callback_key: &str, encrypt: &str) -> String {
    let key: [u8; 32] = Sha256::digest(action_callback_key.as_bytes()).into();
    let raw = BASE64.decode(encrypt).expect("standard base64");
    let (iv, ciphertext) = raw.split_at(16);
    let iv: [u8; 16] = iv.try_into().expect("16-byte IV");
    let plaintext = cbc::Decryptor::<Aes256>::new(&key.into(), &iv.into())
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .expect("PKCS#7 padded");
    String::from_utf8(plaintext).expect("UTF-8")
}

#[tokio::test]
async fn a_sent_card_is_pending_with_live_buttons_and_shows_on_the_admin_api() {
    let sim = Sim::start().await;
    let id = send(&sim, &send_body(Some("uuid-1"))).await;
    let card = card(&sim, &id);
    assert_eq!(
        (card.status.as_str(), card.buttons, card.updatable),
        ("PENDING", CardButtons::Live, true)
    );
    assert!(card.buttons_live());
    assert_eq!(
        (card.user_id.as_deref(), card.uuid.as_deref()),
        (Some("approver"), Some("uuid-1"))
    );
    assert_eq!(card.template_id, "1008");
    assert_eq!(card.status_history[0].source, StatusSource::Sent);
    assert!(card.taps.is_empty());

    let (status, listed) = sim.admin("GET", "/_sim/cards", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["message_id"], id.as_str());
    assert_eq!(listed[0]["buttons"], "live");
    let (status, one) = sim.admin("GET", &format!("/_sim/cards/{id}"), None).await;
    assert_eq!((status, one["status"].as_str()), (200, Some("PENDING")));
    let (missing, _) = sim.admin("GET", "/_sim/cards/123", None).await;
    assert_eq!(missing, 404);

    let mut plain = send_body(None);
    plain["template_id"] = json!("1002");
    for quick in ["action_callback", "action_configs"] {
        plain.as_object_mut().map(|o| o.remove(quick));
    }
    let plain_card = self::card(&sim, &send(&sim, &plain).await);
    assert_eq!(
        (plain_card.buttons, plain_card.updatable),
        (CardButtons::Absent, false)
    );
}

#[tokio::test]
async fn a_tap_gives_the_plaintext_callback_with_message_id_as_a_bare_number() {
    let sim = Sim::start().await;
    let id = send(&sim, &send_body(None)).await;
    let tap = Tap::new("REJECT", APPROVAL_CODE)
        .with_reason("too expensive")
        .with_attachment(TapAttachment {
            file_type: "IMAGE".into(),
            file_size: 12,
            file_name: "quote.png".into(),
            url: "https://cdn.example.com/quote.png".into(),
        });
    let callback = sim.running.handle().tap(&id, &tap).expect("tappable");
    assert_eq!(
        (callback.url.as_str(), callback.tap, callback.encrypted),
        ("https://bridge.example.com/callback", 1, false)
    );
    assert_eq!(callback.body, callback.plaintext);
    assert!(
        callback.body.contains(&format!("\"message_id\":{id}")),
        "message_id is an unquoted number: {}",
        callback.body
    );
    let fields: Value = serde_json::from_str(&callback.body).expect("JSON");
    assert_eq!(fields["message_id"].as_u64(), id.parse::<u64>().ok());
    assert_eq!(
        fields,
        json!({
            "action_type": "REJECT",
            "action_context": "PR-1",
            "user_id": "approver",
            "approval_code": APPROVAL_CODE,
            "message_id": fields["message_id"],
            "reason": "too expensive",
            "attachments": [{"file_type": "IMAGE", "file_size": 12, "file_name": "quote.png",
                "url": "https://cdn.example.com/quote.png"}],
            "token": "callback-token"
        })
    );

    let recorded = card(&sim, &id).taps;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (
            recorded[0].action_type.as_str(),
            recorded[0].user_id.as_str(),
            recorded[0].outcome
        ),
        ("REJECT", "approver", None)
    );
    assert_eq!(
        card(&sim, &id).status,
        "PENDING",
        "a tap alone changes nothing"
    );
}

#[tokio::test]
async fn cards_with_a_callback_key_get_encrypted_callbacks_with_the_token_inside() {
    let sim = Sim::start().await;
    let mut body = send_body(None);
    body["action_callback"]["action_callback_key"] = json!("card-key");
    let id = send(&sim, &body).await;
    let callback = sim
        .running
        .handle()
        .tap(&id, &Tap::new("APPROVE", APPROVAL_CODE).by("delegate"))
        .expect("tappable");
    assert!(callback.encrypted);
    let outer: Value = serde_json::from_str(&callback.body).expect("JSON");
    let keys: Vec<&String> = outer
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["encrypt"],
        "nothing but the ciphertext travels in clear"
    );
    let plaintext = decrypt("card-key", outer["encrypt"].as_str().unwrap_or_default());
    assert_eq!(plaintext, callback.plaintext);
    let fields: Value = serde_json::from_str(&plaintext).expect("JSON inside");
    assert_eq!(
        (&fields["token"], &fields["user_id"]),
        (&json!("callback-token"), &json!("delegate"))
    );

    // The same taps give the same bytes: the IV is derived, not random.
    let again = Sim::start().await;
    let again_id = send(&again, &body).await;
    let repeat = again
        .running
        .handle()
        .tap(
            &again_id,
            &Tap::new("APPROVE", APPROVAL_CODE).by("delegate"),
        )
        .expect("tappable");
    assert_eq!(repeat.body, callback.body);
}

#[tokio::test]
async fn a_successful_callback_applies_next_status_and_the_buttons_go() {
    let sim = Sim::start().await;
    let handle = sim.running.handle();
    let id = send(&sim, &send_body(None)).await;
    // send_body's APPROVE button carries next_status APPROVED.
    let callback = handle
        .tap(&id, &Tap::new("APPROVE", APPROVAL_CODE))
        .expect("tappable");
    let after = handle
        .settle_tap(&id, callback.tap, TapOutcome::from_http_status(200))
        .expect("settled");
    assert_eq!(
        (after.status.as_str(), after.buttons),
        ("APPROVED", CardButtons::Replaced)
    );
    let last = after.status_history.last().expect("history");
    assert_eq!(
        (last.status.as_str(), last.source),
        ("APPROVED", StatusSource::NextStatus)
    );
    assert_eq!(after.taps[0].outcome, Some(TapOutcome::Succeeded));
    assert_eq!(
        handle.tap(&id, &Tap::new("REJECT", APPROVAL_CODE)),
        Err(TapError::ButtonsGone(CardButtons::Replaced))
    );
    assert_eq!(
        handle.settle_tap(&id, callback.tap, TapOutcome::Succeeded),
        Err(TapError::AlreadySettled(1))
    );
}

#[tokio::test]
async fn success_without_next_status_leaves_the_buttons_live_until_message_update() {
    let sim = Sim::start().await;
    let handle = sim.running.handle();
    let id = send(&sim, &send_body(None)).await;
    let callback = handle
        .tap(&id, &Tap::new("REJECT", APPROVAL_CODE).with_reason("no"))
        .expect("tappable");
    let after = handle
        .settle_tap(&id, callback.tap, TapOutcome::Succeeded)
        .expect("settled");
    assert_eq!(
        (after.status.as_str(), after.buttons),
        ("PENDING", CardButtons::Live)
    );

    let update = sim
        .api(UPDATE, &json!({"message_id": id, "status": "REJECTED"}))
        .await;
    assert_eq!(update.code(), 0);
    let updated = card(&sim, &id);
    assert_eq!(
        (updated.status.as_str(), updated.buttons),
        ("REJECTED", CardButtons::Replaced)
    );
    assert_eq!(
        updated.status_history.last().map(|change| change.source),
        Some(StatusSource::Update)
    );
}

#[tokio::test]
async fn a_failed_callback_leaves_only_view_details_until_message_update() {
    let sim = Sim::start().await;
    let handle = sim.running.handle();
    let id = send(&sim, &send_body(None)).await;
    let callback = handle
        .tap(&id, &Tap::new("APPROVE", APPROVAL_CODE))
        .expect("tappable");
    let degraded = handle
        .settle_tap(&id, callback.tap, TapOutcome::from_http_status(500))
        .expect("settled");
    assert_eq!(
        (degraded.status.as_str(), degraded.buttons),
        ("PENDING", CardButtons::Degraded)
    );
    assert_eq!(
        handle.tap(&id, &Tap::new("APPROVE", APPROVAL_CODE)),
        Err(TapError::ButtonsGone(CardButtons::Degraded))
    );
    let update = sim
        .api(UPDATE, &json!({"message_id": id, "status": "APPROVED"}))
        .await;
    assert_eq!(update.code(), 0);
    assert_eq!(card(&sim, &id).buttons, CardButtons::Replaced);
}

#[tokio::test]
async fn impossible_taps_are_refused() {
    let sim = Sim::start().await;
    let handle = sim.running.handle();
    let mut body = send_body(None);
    body["action_configs"][1]["is_reason_required"] = json!(true);
    let id = send(&sim, &body).await;

    assert_eq!(
        handle.tap(&id, &Tap::new("FORWARD", APPROVAL_CODE)),
        Err(TapError::NoSuchButton {
            action_type: "FORWARD".into(),
            offered: vec!["APPROVE".into(), "REJECT".into()],
        })
    );
    assert_eq!(
        handle.tap(&id, &Tap::new("REJECT", APPROVAL_CODE)),
        Err(TapError::ReasonRequired("REJECT".into()))
    );
    assert_eq!(
        handle.tap("7000000000000009999", &Tap::new("APPROVE", APPROVAL_CODE)),
        Err(TapError::UnknownCard("7000000000000009999".into()))
    );
    assert_eq!(
        handle.settle_tap(&id, 1, TapOutcome::Succeeded),
        Err(TapError::UnknownTap(1))
    );

    let mut by_open_id = send_body(None);
    by_open_id.as_object_mut().map(|o| o.remove("user_id"));
    by_open_id["open_id"] = json!("ou_approver");
    let open_id_card = send(&sim, &by_open_id).await;
    assert_eq!(
        handle.tap(&open_id_card, &Tap::new("APPROVE", APPROVAL_CODE)),
        Err(TapError::NoOperator)
    );
    assert!(
        handle
            .tap(&open_id_card, &Tap::new("APPROVE", APPROVAL_CODE).by("u-1"))
            .is_ok()
    );

    let mut plain = send_body(None);
    plain["template_id"] = json!("1002");
    for quick in ["action_callback", "action_configs"] {
        plain.as_object_mut().map(|o| o.remove(quick));
    }
    let plain_card = send(&sim, &plain).await;
    assert_eq!(
        handle.tap(&plain_card, &Tap::new("APPROVE", APPROVAL_CODE)),
        Err(TapError::NoButtons)
    );
    assert!(
        card(&sim, &id).taps.is_empty(),
        "refused taps leave no trace"
    );
}

#[tokio::test]
async fn taps_and_their_outcomes_over_the_admin_api() {
    let sim = Sim::start().await;
    let id = send(&sim, &send_body(None)).await;
    let (status, callback) = sim
        .admin(
            "POST",
            &format!("/_sim/cards/{id}/tap"),
            Some(&json!({"action_type": "APPROVE", "approval_code": APPROVAL_CODE})),
        )
        .await;
    assert_eq!(status, 200, "{callback}");
    let callback: CardCallback = serde_json::from_value(callback).expect("a CardCallback");
    assert_eq!(callback.tap, 1);

    let (status, bad) = sim
        .admin(
            "POST",
            &format!("/_sim/cards/{id}/taps/1"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, settled) = sim
        .admin(
            "POST",
            &format!("/_sim/cards/{id}/taps/1"),
            Some(&json!({"http_status": 200})),
        )
        .await;
    assert_eq!(
        (status, settled["status"].as_str()),
        (200, Some("APPROVED"))
    );
    let (status, gone) = sim
        .admin(
            "POST",
            &format!("/_sim/cards/{id}/tap"),
            Some(&json!({"action_type": "REJECT", "approval_code": APPROVAL_CODE})),
        )
        .await;
    assert_eq!(status, 409, "{gone}");
    let (status, _) = sim
        .admin(
            "POST",
            &format!("/_sim/cards/{id}/taps/9"),
            Some(&json!({"outcome": "failed"})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_card_stops_being_updatable_after_30_days() {
    let sim = Sim::start().await;
    let id = send(&sim, &send_body(None)).await;
    sim.running
        .handle()
        .advance_clock(Duration::from_secs(30 * 24 * 3600 - 60));
    assert!(card(&sim, &id).updatable);
    sim.running.handle().advance_clock(Duration::from_secs(120));
    let old = card(&sim, &id);
    assert!(!old.updatable);
    let refused = sim
        .api(UPDATE, &json!({"message_id": id, "status": "APPROVED"}))
        .await;
    assert_eq!(refused.code(), 60_001);
    assert_eq!(card(&sim, &id).status, "PENDING");
}
