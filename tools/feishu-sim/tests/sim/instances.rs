//! external_instances: validation layers, codes, REPLACE vs UPDATE (feishu-api.md §4.1, §7).

use feishu_sim::{InstanceRecord, PushOutcome};
use serde_json::{Value, json};

use crate::helpers::{INSTANCES, Sim, cc, instance_body, task};

fn remove(body: &mut Value, pointer_parent: &str, key: &str) {
    if let Some(object) = body
        .pointer_mut(pointer_parent)
        .and_then(Value::as_object_mut)
    {
        object.remove(key);
    }
}

fn stored(sim: &Sim, instance_id: &str) -> InstanceRecord {
    sim.running
        .handle()
        .state()
        .instances
        .into_iter()
        .find(|instance| instance.instance_id == instance_id)
        .expect("instance stored")
}

fn task_ids(record: &InstanceRecord) -> Vec<&str> {
    record
        .tasks
        .iter()
        .map(|task| task.task_id.as_str())
        .collect()
}

#[tokio::test]
async fn custom_code_is_not_found_and_system_code_syncs_with_double_data_echo() {
    let sim = Sim::start().await;
    let system_code = sim.definition("purchase").await;

    let wrong = sim
        .api(INSTANCES, &instance_body("purchase", "PR-1", 1, vec![]))
        .await;
    assert_eq!(
        (wrong.status, wrong.code(), wrong.msg()),
        (400, 1_390_002, "approval code not found")
    );

    let body = instance_body(&system_code, "PR-1", 1, vec![task("t1", "PENDING", 1)]);
    let ok = sim.api(INSTANCES, &body).await;
    assert_eq!((ok.status, ok.code(), ok.msg()), (200, 0, "success"));
    assert_eq!(ok.body["data"]["data"]["instance_id"], "PR-1");
    assert!(ok.header("x-tt-logid").is_some());
    assert_eq!(stored(&sim, "PR-1").approval_code, system_code);
}

#[tokio::test]
async fn validation_reports_one_layer_at_a_time() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    let mut body = instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]);
    remove(&mut body, "", "links");
    remove(&mut body, "", "start_time");
    remove(&mut body, "/task_list/0", "links");
    let top = sim.api(INSTANCES, &body).await;
    assert_eq!(
        (top.status, top.code(), top.msg()),
        (400, 99_992_402, "field validation failed")
    );
    let fields: Vec<String> = top
        .violations()
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(fields, ["links", "start_time"], "only the top layer");

    body["links"] = json!({"mobile_link": "https://erp.example.com/m"});
    body["start_time"] = json!("1700000000000");
    let nested = sim.api(INSTANCES, &body).await;
    assert_eq!(
        nested.violations(),
        [(
            "task_list[*].links".to_owned(),
            "task_list[*].links is required".to_owned()
        )]
    );

    body["task_list"][0]["links"] = json!({});
    let deeper = sim.api(INSTANCES, &body).await;
    assert_eq!(deeper.violations()[0].0, "task_list[*].links.pc_link");

    body["task_list"][0]["links"] = json!({"pc_link": "https://erp.example.com/t"});
    assert_eq!(sim.api(INSTANCES, &body).await.code(), 0);
}

#[tokio::test]
async fn task_fields_are_required_including_update_time_and_an_approver() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    for (field, expected) in [
        ("update_time", "task_list[*].update_time"),
        ("end_time", "task_list[*].end_time"),
        ("status", "task_list[*].status"),
        ("user_id", "task_list[*].user_id"),
    ] {
        let mut body = instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]);
        remove(&mut body, "/task_list/0", field);
        let answer = sim.api(INSTANCES, &body).await;
        assert_eq!(answer.code(), 99_992_402, "{field}");
        assert_eq!(answer.violations()[0].0, expected);
    }
    let mut body = instance_body(&code, "PR-1", 1, vec![]);
    body["cc_list"] = json!([cc("c1", "UNREAD", 1)]);
    remove(&mut body, "/cc_list/0", "read_status");
    assert_eq!(
        sim.api(INSTANCES, &body).await.violations()[0].0,
        "cc_list[*].read_status"
    );
}

#[tokio::test]
async fn wrong_types_enums_and_empty_generate_type_are_rejected() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;

    let mut body = instance_body(&code, "PR-1", 1, vec![]);
    body["i18n_resources"][0]["texts"] = json!({"@i18n@title": "采购申请"});
    let map_texts = sim.api(INSTANCES, &body).await;
    assert_eq!(
        (map_texts.status, map_texts.code(), map_texts.msg()),
        (400, 9_499, "Invalid parameter type in json: texts")
    );

    let mut body = instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]);
    body["task_list"][0]["generate_type"] = json!("");
    let empty_enum = sim.api(INSTANCES, &body).await;
    assert_eq!(empty_enum.code(), 99_992_402);
    assert_eq!(empty_enum.violations()[0].0, "task_list[*].generate_type");

    let mut body = instance_body(&code, "PR-1", 1, vec![]);
    body["status"] = json!("CANCELLED");
    let bad_status = sim.api(INSTANCES, &body).await;
    assert_eq!(bad_status.violations()[0].0, "status");
    assert_eq!(
        bad_status.body["error"]["field_violations"][0]["value"],
        "CANCELLED"
    );

    let mut body = instance_body(&code, "PR-1", 1, vec![]);
    body["extra"] = json!({"business_key": "PR-1"});
    assert_eq!(
        sim.api(INSTANCES, &body).await.msg(),
        "Invalid parameter type in json: extra"
    );
    assert!(sim.running.handle().state().instances.is_empty());
}

#[tokio::test]
async fn every_i18n_field_needs_a_key_in_the_default_locale() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    let mut body = instance_body(&code, "PR-1", 1, vec![]);
    body["title"] = json!("Purchase request PR-1");
    let plain = sim.api(INSTANCES, &body).await;
    assert_eq!(
        (plain.code(), plain.msg()),
        (1_390_001, "Default i18n has no key: Purchase request PR-1")
    );

    let mut body = instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]);
    body["task_list"][0]["node_name"] = json!("@i18n@node");
    assert_eq!(
        sim.api(INSTANCES, &body).await.msg(),
        "Default i18n has no key: @i18n@node"
    );
}

#[tokio::test]
async fn numeric_times_are_accepted() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    let mut body = instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]);
    body["start_time"] = json!(1_700_000_000_000_i64);
    body["end_time"] = json!(0);
    body["task_list"][0]["update_time"] = json!(5);
    assert_eq!(sim.api(INSTANCES, &body).await.code(), 0);
    assert_eq!(stored(&sim, "PR-1").tasks[0].update_time, 5);
}

#[tokio::test]
async fn replace_makes_the_payload_the_whole_instance() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    let first = instance_body(
        &code,
        "PR-1",
        10,
        vec![task("t1", "PENDING", 10), task("t2", "PENDING", 10)],
    );
    assert_eq!(sim.api(INSTANCES, &first).await.code(), 0);

    // REPLACE ignores versions: an older update_time still replaces, and t2 disappears.
    let mut second = instance_body(&code, "PR-1", 5, vec![task("t1", "APPROVED", 5)]);
    second["status"] = json!("APPROVED");
    assert_eq!(sim.api(INSTANCES, &second).await.code(), 0);
    let record = stored(&sim, "PR-1");
    assert_eq!(task_ids(&record), ["t1"]);
    assert_eq!(
        (record.status.as_str(), record.update_time),
        ("APPROVED", 5)
    );
    assert_eq!(record.tasks[0].status, "APPROVED");
}

#[tokio::test]
async fn update_mode_versions_instance_tasks_and_ccs_separately() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    let mut first = instance_body(
        &code,
        "PR-1",
        10,
        vec![task("t1", "PENDING", 10), task("t2", "PENDING", 10)],
    );
    first["cc_list"] = json!([cc("c1", "UNREAD", 10)]);
    assert_eq!(sim.api(INSTANCES, &first).await.code(), 0);

    // Equal instance update_time is stale: the whole payload is ignored, still code 0.
    let mut stale = instance_body(&code, "PR-1", 10, vec![task("t1", "APPROVED", 20)]);
    stale["update_mode"] = json!("UPDATE");
    stale["status"] = json!("APPROVED");
    assert_eq!(sim.api(INSTANCES, &stale).await.code(), 0);
    let record = stored(&sim, "PR-1");
    assert_eq!(record.status, "PENDING");
    assert_eq!(record.tasks[0].status, "PENDING");
    assert_eq!(
        record.pushes.last().map(|p| p.outcome),
        Some(PushOutcome::StaleIgnored)
    );

    // Newer instance: t1 (newer) updates, t2 (equal time) is skipped, t3 is added, nothing removed;
    // the approver of t1 cannot change under UPDATE.
    let mut newer_t1 = task("t1", "APPROVED", 11);
    newer_t1["user_id"] = json!("someone-else");
    let mut update = instance_body(
        &code,
        "PR-1",
        11,
        vec![
            newer_t1,
            task("t2", "REJECTED", 10),
            task("t3", "PENDING", 11),
        ],
    );
    update["update_mode"] = json!("UPDATE");
    update["cc_list"] = json!([cc("c1", "READ", 9), cc("c2", "UNREAD", 11)]);
    assert_eq!(sim.api(INSTANCES, &update).await.code(), 0);
    let record = stored(&sim, "PR-1");
    assert_eq!(record.update_time, 11);
    assert_eq!(task_ids(&record), ["t1", "t2", "t3"]);
    let statuses: Vec<&str> = record.tasks.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, ["APPROVED", "PENDING", "PENDING"]);
    assert_eq!(record.tasks[0].task["user_id"], "user-t1");
    let ccs: Vec<(&str, &str)> = record
        .ccs
        .iter()
        .map(|c| (c.cc_id.as_str(), c.read_status.as_str()))
        .collect();
    assert_eq!(ccs, [("c1", "UNREAD"), ("c2", "UNREAD")]);
    let last = record.pushes.last().expect("push recorded");
    assert_eq!(
        (last.outcome, last.skipped_tasks.as_slice()),
        (PushOutcome::Applied, &["t2".to_owned()][..])
    );
    assert_eq!(last.skipped_ccs, ["c1"]);
}
