//! Shared helpers: a simulator plus an HTTP client, and valid request bodies to vary.

use feishu_sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSimulator, SimConfig, SimHandle, SimResponse,
    Simulator,
};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const TOKEN: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub const DEFINITIONS: &str = "/open-apis/approval/v4/external_approvals";
pub const INSTANCES: &str = "/open-apis/approval/v4/external_instances";
pub const CHECK: &str = "/open-apis/approval/v4/external_instances/check";
pub const SEND: &str = "/open-apis/approval/v1/message/send";
pub const UPDATE: &str = "/open-apis/approval/v1/message/update";

/// One HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(i64::MIN)
    }

    pub fn msg(&self) -> &str {
        self.body["msg"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `(field, description)` of every `error.field_violations` entry.
    pub fn violations(&self) -> Vec<(String, String)> {
        self.body["error"]["field_violations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                (
                    v["field"].as_str().unwrap_or_default().to_owned(),
                    v["description"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// A running simulator and a client for it.
pub struct Sim {
    pub running: RunningSimulator,
    pub http: reqwest::Client,
}

impl Sim {
    pub async fn start() -> Sim {
        Self::start_with(SimConfig::default()).await
    }

    pub async fn start_with(config: SimConfig) -> Sim {
        let running = Simulator::start(config).await.expect("simulator starts");
        Sim {
            running,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.expect("JSON answer");
        Answer {
            status,
            headers,
            body,
        }
    }

    /// POST `body` to `path`, with `Authorization: Bearer <token>` when given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::answer(request.send().await.expect("request sent")).await
    }

    /// POST with a raw `Authorization` header value.
    pub async fn post_with_authorization(
        &self,
        path: &str,
        authorization: &str,
        body: &Value,
    ) -> Answer {
        let request = self
            .http
            .post(self.url(path))
            .header("authorization", authorization)
            .json(body);
        Self::answer(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        Self::answer(
            self.http
                .get(self.url(path))
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// An admin request (`GET`, `POST` with a JSON body, `DELETE`): HTTP status and JSON answer.
    pub async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("admin answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON admin answer"))
    }

    pub async fn token_answer(&self, app_id: &str, app_secret: &str) -> Answer {
        self.post(
            TOKEN,
            None,
            &json!({"app_id": app_id, "app_secret": app_secret}),
        )
        .await
    }

    /// A tenant token for the default app.
    pub async fn token(&self) -> String {
        let answer = self.token_answer(DEFAULT_APP_ID, DEFAULT_APP_SECRET).await;
        assert_eq!(answer.code(), 0, "token request failed: {}", answer.body);
        answer.body["tenant_access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// POST to an API with a fresh (or reused) tenant token.
    pub async fn api(&self, path: &str, body: &Value) -> Answer {
        let token = self.token().await;
        self.post(path, Some(&token), body).await
    }

    /// Creates a definition; its system code.
    pub async fn definition(&self, custom_code: &str) -> String {
        let answer = self.api(DEFINITIONS, &definition_body(custom_code)).await;
        assert_eq!(answer.code(), 0, "definition failed: {}", answer.body);
        answer.body["data"]["approval_code"]
            .as_str()
            .expect("approval_code")
            .to_owned()
    }
}

/// A valid definition body.
pub fn definition_body(custom_code: &str) -> Value {
    json!({
        "approval_name": "@i18n@approval_name",
        "approval_code": custom_code,
        "group_code": "procurement",
        "group_name": "@i18n@group_name",
        "external": {
            "support_pc": true,
            "support_mobile": true,
            "action_callback_url": "https://bridge.example.com/callback",
            "action_callback_token": "callback-token"
        },
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [
                {"key": "@i18n@approval_name", "value": "采购审批"},
                {"key": "@i18n@group_name", "value": "采购"}
            ]
        }]
    })
}

/// A valid task.
pub fn task(task_id: &str, status: &str, update_time: i64) -> Value {
    json!({
        "task_id": task_id,
        "user_id": format!("user-{task_id}"),
        "title": "@i18n@task_title",
        "links": {"pc_link": "https://erp.example.com/t", "mobile_link": "https://erp.example.com/m"},
        "status": status,
        "create_time": "1700000000000",
        "end_time": "0",
        "update_time": update_time.to_string(),
        "action_configs": [{"action_type": "APPROVE"}, {"action_type": "REJECT"}]
    })
}

/// A valid CC entry.
pub fn cc(cc_id: &str, read_status: &str, update_time: i64) -> Value {
    json!({
        "cc_id": cc_id,
        "user_id": "cc-user",
        "links": {"pc_link": "https://erp.example.com/cc"},
        "read_status": read_status,
        "create_time": "1700000000000",
        "update_time": update_time.to_string()
    })
}

/// A valid instance with the given tasks.
pub fn instance_body(
    approval_code: &str,
    instance_id: &str,
    update_time: i64,
    tasks: Vec<Value>,
) -> Value {
    json!({
        "approval_code": approval_code,
        "status": "PENDING",
        "instance_id": instance_id,
        "links": {"pc_link": "https://erp.example.com/i", "mobile_link": "https://erp.example.com/mi"},
        "title": "@i18n@title",
        "form": [{"name": "@i18n@form_name", "value": "@i18n@form_value"}],
        "user_id": "applicant",
        "start_time": "1700000000000",
        "end_time": "0",
        "update_time": update_time.to_string(),
        "task_list": tasks,
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [
                {"key": "@i18n@title", "value": "采购申请 PR-1"},
                {"key": "@i18n@form_name", "value": "金额"},
                {"key": "@i18n@form_value", "value": "100"},
                {"key": "@i18n@task_title", "value": "审批"}
            ]
        }]
    })
}

/// A valid template-1008 card send body.
pub fn send_body(uuid: Option<&str>) -> Value {
    let mut body = json!({
        "template_id": "1008",
        "user_id": "approver",
        "approval_name": "@i18n@approval_name",
        "title_user_id": "applicant",
        "content": {"summaries": [{"summary": "@i18n@summary"}]},
        "actions": [{
            "action_name": "DETAIL",
            "url": "https://erp.example.com/i",
            "android_url": "https://erp.example.com/a",
            "ios_url": "https://erp.example.com/ios",
            "pc_url": "https://erp.example.com/pc"
        }],
        "action_callback": {
            "action_callback_url": "https://bridge.example.com/callback",
            "action_callback_token": "callback-token",
            "action_context": "PR-1"
        },
        "action_configs": [
            {"action_type": "APPROVE", "next_status": "APPROVED"},
            {"action_type": "REJECT", "is_need_reason": true}
        ],
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": {"@i18n@approval_name": "采购审批", "@i18n@summary": "金额：100"}
        }]
    });
    if let (Some(uuid), Some(object)) = (uuid, body.as_object_mut()) {
        object.insert("uuid".into(), json!(uuid));
    }
    body
}

/// A tenant token from an in-process simulator.
pub fn token_in_process(sim: &SimHandle) -> String {
    let body = json!({"app_id": DEFAULT_APP_ID, "app_secret": DEFAULT_APP_SECRET});
    let answer = sim.exchange("POST", TOKEN, &[], body.to_string().as_bytes());
    json_of(&answer)["tenant_access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// The JSON body of an in-process answer.
pub fn json_of(answer: &SimResponse) -> Value {
    answer.json().expect("a JSON answer")
}

/// POSTs `body` to `path` of an in-process simulator with a fresh or reused token.
pub fn api_in_process(sim: &SimHandle, path: &str, body: &Value) -> SimResponse {
    let authorization = format!("Bearer {}", token_in_process(sim));
    sim.exchange(
        "POST",
        path,
        &[
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}
