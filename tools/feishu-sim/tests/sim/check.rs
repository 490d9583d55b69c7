//! external_instances/check (feishu-api.md §4.2).

use serde_json::json;

use crate::helpers::{CHECK, INSTANCES, Sim, instance_body, task};

#[tokio::test]
async fn reports_unknown_and_out_of_date_instances_and_tasks() {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    let body = instance_body(
        &code,
        "PR-1",
        100,
        vec![task("t1", "PENDING", 100), task("t2", "PENDING", 90)],
    );
    assert_eq!(sim.api(INSTANCES, &body).await.code(), 0);

    let in_sync = sim
        .api(CHECK, &json!({"instances": [{"instance_id": "PR-1", "update_time": "100",
            "tasks": [{"task_id": "t1", "update_time": "100"}, {"task_id": "t2", "update_time": 90}]}]}))
        .await;
    assert_eq!(in_sync.code(), 0);
    assert_eq!(in_sync.body["data"], json!({"diff_instances": []}));

    let answer = sim
        .api(CHECK, &json!({"instances": [
            {"instance_id": "PR-404", "update_time": "5", "tasks": [{"task_id": "x", "update_time": "5"}]},
            {"instance_id": "PR-1", "update_time": "100", "tasks": [
                {"task_id": "t1", "update_time": "99"},
                {"task_id": "t2", "update_time": "90"},
                {"task_id": "t9", "update_time": "100"}
            ]}
        ]}))
        .await;
    assert_eq!(
        answer.body["data"]["diff_instances"],
        json!([
            {"instance_id": "PR-404", "update_time": "0", "tasks": []},
            {"instance_id": "PR-1", "update_time": "100", "tasks": [
                {"task_id": "t1", "update_time": "100"},
                {"task_id": "t9", "update_time": "0"}
            ]}
        ])
    );

    let stale_instance = sim
        .api(
            CHECK,
            &json!({"instances": [{"instance_id": "PR-1", "update_time": "50",
            "tasks": [{"task_id": "t1", "update_time": "1"}]}]}),
        )
        .await;
    assert_eq!(
        stale_instance.body["data"]["diff_instances"],
        json!([{"instance_id": "PR-1", "update_time": "100", "tasks": []}])
    );
}

#[tokio::test]
async fn update_time_and_tasks_are_required() {
    let sim = Sim::start().await;
    let missing_tasks = sim
        .api(
            CHECK,
            &json!({"instances": [{"instance_id": "PR-1", "update_time": "1"}]}),
        )
        .await;
    assert_eq!(
        (missing_tasks.status, missing_tasks.code()),
        (400, 99_992_402)
    );
    assert_eq!(missing_tasks.violations()[0].0, "instances[*].tasks");

    let missing_time = sim
        .api(
            CHECK,
            &json!({"instances": [{"instance_id": "PR-1", "tasks": []}]}),
        )
        .await;
    assert_eq!(missing_time.violations()[0].0, "instances[*].update_time");

    let missing_task_time = sim
        .api(
            CHECK,
            &json!({"instances": [{"instance_id": "PR-1", "update_time": "1",
            "tasks": [{"task_id": "t1"}]}]}),
        )
        .await;
    assert_eq!(
        missing_task_time.violations()[0].0,
        "instances[*].tasks[*].update_time"
    );
}
