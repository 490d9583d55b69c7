//! external_instances/check (feishu-api.md §4.2).

use std::num::NonZeroUsize;

use feishu_sim::{RollbackError, SimConfig, SimSettings};
use serde_json::{Value, json};

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

/// One check of `PR-1` at `update_time` asking about `tasks`; the `diff_instances` answer.
async fn diff(sim: &Sim, update_time: &str, tasks: Value) -> Value {
    let answer = sim
        .api(
            CHECK,
            &json!({"instances": [{"instance_id": "PR-1", "update_time": update_time, "tasks": tasks}]}),
        )
        .await;
    assert_eq!(answer.code(), 0, "check failed: {}", answer.body);
    answer.body["data"]["diff_instances"].clone()
}

/// A simulator holding `PR-1` at version 100 with tasks t1 (100) and t2 (90).
async fn with_pr1() -> (Sim, String) {
    let sim = Sim::start().await;
    let code = sim.definition("purchase").await;
    let body = instance_body(
        &code,
        "PR-1",
        100,
        vec![task("t1", "PENDING", 100), task("t2", "PENDING", 90)],
    );
    assert_eq!(sim.api(INSTANCES, &body).await.code(), 0);
    (sim, code)
}

#[tokio::test]
async fn check_rule_unknown_instance_comes_back_with_time_0_and_no_tasks() {
    let (sim, _) = with_pr1().await;
    let answer = sim
        .api(
            CHECK,
            &json!({"instances": [{"instance_id": "PR-9", "update_time": "100",
            "tasks": [{"task_id": "t1", "update_time": "100"}]}]}),
        )
        .await;
    assert_eq!(
        answer.body["data"]["diff_instances"],
        json!([{"instance_id": "PR-9", "update_time": "0", "tasks": []}])
    );
}

#[tokio::test]
async fn check_rule_unknown_task_comes_back_with_task_time_0() {
    let (sim, _) = with_pr1().await;
    assert_eq!(
        diff(
            &sim,
            "100",
            json!([{"task_id": "t7", "update_time": "100"}])
        )
        .await,
        json!([{"instance_id": "PR-1", "update_time": "100",
            "tasks": [{"task_id": "t7", "update_time": "0"}]}])
    );
}

#[tokio::test]
async fn check_rule_stale_task_comes_back_with_the_latest_task_time() {
    let (sim, _) = with_pr1().await;
    // Older and newer than stored both differ; tasks in sync or not asked about are left out.
    assert_eq!(
        diff(
            &sim,
            "100",
            json!([
                {"task_id": "t1", "update_time": "99"},
                {"task_id": "t2", "update_time": "91"}
            ])
        )
        .await,
        json!([{"instance_id": "PR-1", "update_time": "100", "tasks": [
            {"task_id": "t1", "update_time": "100"},
            {"task_id": "t2", "update_time": "90"}
        ]}])
    );
    assert_eq!(
        diff(&sim, "100", json!([{"task_id": "t2", "update_time": "90"}])).await,
        json!([])
    );
}

#[tokio::test]
async fn check_rule_stale_instance_comes_back_with_the_latest_time_and_no_tasks() {
    let (sim, _) = with_pr1().await;
    for asked in ["99", "101"] {
        assert_eq!(
            diff(&sim, asked, json!([{"task_id": "t1", "update_time": "1"}])).await,
            json!([{"instance_id": "PR-1", "update_time": "100", "tasks": []}]),
            "asked {asked}"
        );
    }
}

#[tokio::test]
async fn check_rule_in_sync_is_an_empty_diff() {
    let (sim, _) = with_pr1().await;
    assert_eq!(
        diff(
            &sim,
            "100",
            json!([
                {"task_id": "t1", "update_time": 100},
                {"task_id": "t2", "update_time": "90"}
            ])
        )
        .await,
        json!([])
    );
    assert_eq!(diff(&sim, "100", json!([])).await, json!([]));
}

#[tokio::test]
async fn a_lost_instance_is_unknown_to_check_until_pushed_again() {
    let (sim, code) = with_pr1().await;
    let handle = sim.running.handle();
    let forgotten = handle.forget_instance("PR-1").expect("PR-1 was stored");
    assert_eq!(forgotten.update_time, 100);
    assert!(handle.instance("PR-1").is_none());
    assert_eq!(handle.forget_instance("PR-1"), None);
    assert_eq!(
        diff(
            &sim,
            "100",
            json!([{"task_id": "t1", "update_time": "100"}])
        )
        .await,
        json!([{"instance_id": "PR-1", "update_time": "0", "tasks": []}])
    );

    // The reconcile's repair: push it again (UPDATE on an unknown instance stores it whole).
    let mut repair = instance_body(
        &code,
        "PR-1",
        100,
        vec![task("t1", "PENDING", 100), task("t2", "PENDING", 90)],
    );
    repair["update_mode"] = json!("UPDATE");
    assert_eq!(sim.api(INSTANCES, &repair).await.code(), 0);
    assert_eq!(
        diff(
            &sim,
            "100",
            json!([{"task_id": "t1", "update_time": "100"}])
        )
        .await,
        json!([])
    );
    let stored = handle.instance("PR-1").expect("stored again");
    assert_eq!(
        (stored.version, stored.pushes.len()),
        (1, 1),
        "a fresh start"
    );
}

#[tokio::test]
async fn an_instance_rolled_back_to_an_older_version_is_stale_to_check() {
    let (sim, code) = with_pr1().await;
    let handle = sim.running.handle();
    let mut newer = instance_body(&code, "PR-1", 120, vec![task("t1", "APPROVED", 120)]);
    newer["update_mode"] = json!("UPDATE");
    newer["status"] = json!("APPROVED");
    assert_eq!(sim.api(INSTANCES, &newer).await.code(), 0);
    let mut stale = newer.clone();
    stale["update_time"] = json!("110");
    assert_eq!(sim.api(INSTANCES, &stale).await.code(), 0);

    let versions = handle.instance_versions("PR-1");
    let numbered: Vec<(u32, i64, &str)> = versions
        .iter()
        .map(|v| (v.version, v.update_time, v.status.as_str()))
        .collect();
    assert_eq!(numbered, [(1, 100, "PENDING"), (2, 120, "APPROVED")]);
    let pushes: Vec<Option<u32>> = handle
        .instance("PR-1")
        .map(|record| record.pushes.iter().map(|push| push.version).collect())
        .unwrap_or_default();
    assert_eq!(
        pushes,
        [Some(1), Some(2), None],
        "the stale push stored nothing"
    );

    let rolled = handle
        .roll_back_instance("PR-1", 1)
        .expect("version 1 exists");
    assert_eq!(
        (rolled.version, rolled.update_time, rolled.status.as_str()),
        (1, 100, "PENDING")
    );
    assert_eq!(rolled.tasks[0].status, "PENDING");
    assert_eq!(
        diff(
            &sim,
            "120",
            json!([{"task_id": "t1", "update_time": "120"}])
        )
        .await,
        json!([{"instance_id": "PR-1", "update_time": "100", "tasks": []}])
    );
    assert_eq!(
        handle.roll_back_instance("PR-1", 3),
        Err(RollbackError::UnknownVersion {
            version: 3,
            latest: 2
        })
    );
    assert_eq!(
        handle.roll_back_instance("PR-9", 1),
        Err(RollbackError::UnknownInstance("PR-9".into()))
    );

    // UPDATE versions now compare against the rolled-back time.
    assert_eq!(sim.api(INSTANCES, &stale).await.code(), 0);
    let repaired = handle.instance("PR-1").expect("stored");
    assert_eq!((repaired.update_time, repaired.version), (110, 3));
}

#[tokio::test]
async fn losing_and_rolling_back_over_the_admin_api() {
    let (sim, code) = with_pr1().await;
    let mut newer = instance_body(&code, "PR-1", 120, vec![task("t1", "APPROVED", 120)]);
    newer["status"] = json!("APPROVED");
    assert_eq!(sim.api(INSTANCES, &newer).await.code(), 0);

    let (status, versions) = sim
        .admin("GET", "/_sim/instances/PR-1/versions", None)
        .await;
    assert_eq!((status, versions.as_array().map(Vec::len)), (200, Some(2)));
    let (status, rolled) = sim
        .admin(
            "POST",
            "/_sim/instances/PR-1/rollback",
            Some(&json!({"version": 1})),
        )
        .await;
    assert_eq!((status, rolled["update_time"].as_i64()), (200, Some(100)));
    let (status, _) = sim
        .admin(
            "POST",
            "/_sim/instances/PR-1/rollback",
            Some(&json!({"version": 7})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, current) = sim.admin("GET", "/_sim/instances/PR-1", None).await;
    assert_eq!((status, current["version"].as_u64()), (200, Some(1)));

    let (status, forgotten) = sim.admin("DELETE", "/_sim/instances/PR-1", None).await;
    assert_eq!(
        (status, forgotten["instance_id"].as_str()),
        (200, Some("PR-1"))
    );
    let (status, _) = sim.admin("GET", "/_sim/instances/PR-1", None).await;
    assert_eq!(status, 404);
    let (status, _) = sim.admin("DELETE", "/_sim/instances/PR-1", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_batch_limit_refuses_larger_checks() {
    let sim = Sim::start_with(SimConfig {
        settings: SimSettings {
            check_batch_limit: NonZeroUsize::new(2),
            ..SimSettings::default()
        },
        ..SimConfig::default()
    })
    .await;
    let asked = |n: usize| {
        let instances: Vec<Value> = (0..n)
            .map(|i| json!({"instance_id": format!("PR-{i}"), "update_time": "1", "tasks": []}))
            .collect();
        json!({ "instances": instances })
    };
    let two = sim.api(CHECK, &asked(2)).await;
    assert_eq!(two.code(), 0);
    assert_eq!(
        two.body["data"]["diff_instances"].as_array().map(Vec::len),
        Some(2)
    );
    let three = sim.api(CHECK, &asked(3)).await;
    assert_eq!((three.status, three.code()), (400, 99_992_402));
    assert_eq!(
        three.violations(),
        [(
            "instances".to_owned(),
            "instances holds more than 2 items".to_owned()
        )]
    );

    let (status, _) = sim
        .admin(
            "POST",
            "/_sim/settings",
            Some(&json!({"check_batch_limit": null})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(sim.api(CHECK, &asked(3)).await.code(), 0);
}
