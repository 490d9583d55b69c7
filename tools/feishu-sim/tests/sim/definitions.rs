//! external_approvals: validation, upsert and the two codes (feishu-api.md §3).

use serde_json::json;

use crate::helpers::{DEFINITIONS, Sim, definition_body};

#[tokio::test]
async fn upsert_returns_a_stable_system_code_different_from_the_custom_code() {
    let sim = Sim::start().await;
    let first = sim.definition("purchase").await;
    assert_ne!(first, "purchase");
    assert_eq!(first.len(), 36, "UUID-shaped system code");
    assert_eq!(sim.definition("purchase").await, first);

    // Sending the system code as approval_code silently creates a second definition.
    let second = sim.definition(&first).await;
    assert_ne!(second, first);
    let definitions = sim.running.handle().state().definitions;
    assert_eq!(definitions.len(), 2);
    let purchase = definitions.iter().find(|d| d.custom_code == "purchase");
    assert_eq!(
        purchase.map(|d| (d.revision, d.system_code.as_str())),
        Some((2, first.as_str()))
    );
}

#[tokio::test]
async fn missing_required_fields_are_field_violations() {
    let sim = Sim::start().await;
    let mut body = definition_body("c");
    body.as_object_mut().map(|o| o.remove("external"));
    let answer = sim.api(DEFINITIONS, &body).await;
    assert_eq!((answer.status, answer.code()), (400, 99_992_402));
    assert_eq!(
        answer.violations(),
        [("external".to_owned(), "external is required".to_owned())]
    );
}

#[tokio::test]
async fn approval_name_must_be_an_i18n_key() {
    let sim = Sim::start().await;
    for name in ["Purchase approval", "@i18n@a"] {
        let mut body = definition_body("c");
        body["approval_name"] = json!(name);
        let answer = sim.api(DEFINITIONS, &body).await;
        assert_eq!(answer.code(), 99_992_402, "{name}");
        assert_eq!(answer.violations()[0].0, "approval_name");
    }
}

#[tokio::test]
async fn texts_must_be_an_array_and_cover_every_key() {
    let sim = Sim::start().await;
    let mut body = definition_body("c");
    body["i18n_resources"][0]["texts"] = json!({"@i18n@approval_name": "采购审批"});
    let answer = sim.api(DEFINITIONS, &body).await;
    assert_eq!(
        (answer.code(), answer.msg()),
        (9_499, "Invalid parameter type in json: texts")
    );

    let mut body = definition_body("c");
    body["description"] = json!("@i18n@description");
    let answer = sim.api(DEFINITIONS, &body).await;
    assert_eq!(
        (answer.status, answer.code(), answer.msg()),
        (400, 1_390_001, "Default i18n has no key: @i18n@description")
    );
}

#[tokio::test]
async fn group_code_and_name_go_together_and_a_platform_is_needed() {
    let sim = Sim::start().await;
    let mut body = definition_body("c");
    body.as_object_mut().map(|o| o.remove("group_code"));
    let answer = sim.api(DEFINITIONS, &body).await;
    assert_eq!(
        (answer.code(), answer.msg()),
        (1_390_001, "Group code cannot be empty")
    );

    let mut body = definition_body("c");
    body.as_object_mut().map(|o| o.remove("group_name"));
    assert_eq!(sim.api(DEFINITIONS, &body).await.code(), 1_390_001);

    let mut body = definition_body("c");
    body["external"] = json!({"support_pc": false});
    assert_eq!(sim.api(DEFINITIONS, &body).await.code(), 1_390_001);
    assert!(sim.running.handle().state().definitions.is_empty());
}
