"""The template's own rules: what cfn-lint and checkov cannot know about this bridge.

Each rule takes the template (as written, and as the SAM transform expands it) and returns the
list of what it finds wrong; `scripts/check-template` runs them all and fails on any finding.
`test_rules.py` shows that each rule fails on a template (or docs/deploy.md) with the hole it
guards against.

    .venv/bin/python scripts/template/rules.py [template.yaml] [docs/deploy.md]
"""

import json
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from translate import load, translate  # noqa: E402

NO_VALUE = {"Ref": "AWS::NoValue"}


# ---------------------------------------------------------------- reading policies


def as_list(value):
    return value if isinstance(value, list) else [value]


def key(expression):
    """A comparable form of an intrinsic expression (or literal)."""
    return json.dumps(expression, sort_keys=True)


def statements(document):
    """(statement, condition) for every statement of a policy document; a statement inside
    Fn::If comes with the condition's name ("!Name" for the else branch), others with None."""
    found = []
    for item in as_list(document.get("Statement", [])):
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            condition, then, otherwise = item["Fn::If"]
            for branch, name in ((then, condition), (otherwise, "!" + condition)):
                if branch != NO_VALUE:
                    found.append((branch, name))
        else:
            found.append((item, None))
    return found


def role_statements(role):
    """(statement, condition) of every inline policy of an AWS::IAM::Role."""
    found = []
    for policy in role.get("Properties", {}).get("Policies", []):
        if isinstance(policy, dict) and set(policy) == {"Fn::If"}:
            condition, then, _ = policy["Fn::If"]
            found += [(s, c or condition) for s, c in statements(then["PolicyDocument"])]
        else:
            found += statements(policy["PolicyDocument"])
    return found


def getatt_target(expression, attribute="Arn"):
    """The logical id in {"Fn::GetAtt": [id, attribute]}, else None."""
    if isinstance(expression, dict) and "Fn::GetAtt" in expression:
        target = expression["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        if target[1] == attribute:
            return target[0]
    return None


def ref_target(expression):
    return expression.get("Ref") if isinstance(expression, dict) else None


def functions(translated):
    return {
        name: resource
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


def of_type(template, kind):
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


# ---------------------------------------------------------------- rules


def failure_queue_sealed(template, translated):
    """Only the sync functions' on-failure destination may send to the failure queue, and every
    function sending its failures there does so with the one role the queue lets in."""
    problems = []
    destinations = {}
    for name, config in of_type(translated, "AWS::Lambda::EventInvokeConfig").items():
        on_failure = config["Properties"].get("DestinationConfig", {}).get("OnFailure", {})
        queue = getatt_target(on_failure.get("Destination"))
        function = ref_target(config["Properties"]["FunctionName"])
        if queue:
            destinations.setdefault(queue, []).append(function)
    if not destinations:
        return ["no function sends its failed jobs to a queue of the template"]
    lambdas = functions(translated)
    for queue, senders in destinations.items():
        policies = [
            policy
            for policy in of_type(template, "AWS::SQS::QueuePolicy").values()
            if {"Ref": queue} in policy["Properties"]["Queues"]
        ]
        if not policies:
            problems.append(f"{queue} has no queue policy: anyone allowed sqs:SendMessage can plant a job")
            continue
        document = policies[0]["Properties"]["PolicyDocument"]
        sealing_roles = set()
        for statement, condition in statements(document):
            actions = as_list(statement.get("Action", []))
            sends = any(action in ("sqs:SendMessage", "sqs:*", "*") for action in actions)
            if statement.get("Effect") == "Allow" and sends:
                problems.append(f"{queue}'s policy allows sending: {statement.get('Sid')}")
            if (
                statement.get("Effect") == "Deny"
                and sends
                and condition is None
                and statement.get("Principal") == "*"
                and getatt_target(statement.get("Resource")) == queue
            ):
                arn = statement.get("Condition", {}).get("ArnNotEquals", {}).get("aws:PrincipalArn")
                role = getatt_target(arn)
                if role and set(statement["Condition"]) == {"ArnNotEquals"}:
                    sealing_roles.add(role)
        if len(sealing_roles) != 1:
            problems.append(
                f"{queue}'s policy does not deny sqs:SendMessage to every principal but one role "
                "(an unconditional Deny, Principal *, ArnNotEquals aws:PrincipalArn)"
            )
            continue
        (role,) = sealing_roles
        trust = template["Resources"].get(role, {}).get("Properties", {}).get("AssumeRolePolicyDocument", {})
        principals = [s.get("Principal") for s, _ in statements(trust)]
        if principals != [{"Service": "lambda.amazonaws.com"}]:
            problems.append(f"{role}, the role the queue lets in, is not assumable by Lambda alone")
        for function in senders:
            if getatt_target(lambdas[function]["Properties"].get("Role")) != role:
                problems.append(
                    f"{function} sends its failed jobs to {queue} with another role than {role}: "
                    "the queue policy would refuse them"
                )
    return problems


def function_roles_least_privilege(template, translated):
    """Every function's role: no AWS managed policy, logs to the function's own log group only,
    X-Ray only while tracing is on, no other action on every resource."""
    problems = []
    conditions = template.get("Conditions", {})
    for name, function in functions(translated).items():
        properties = function["Properties"]
        role_name = getatt_target(properties.get("Role"))
        role = translated["Resources"].get(role_name)
        if role is None or role["Type"] != "AWS::IAM::Role":
            problems.append(f"{name}: its role is not a role of the template")
            continue
        if role["Properties"].get("ManagedPolicyArns"):
            problems.append(
                f"{name}: {role_name} has managed policies {role['Properties']['ManagedPolicyArns']}"
                " (AWSLambdaBasicExecutionRole: logs on every log group; AWSXrayWriteOnlyAccess:"
                " X-Ray whatever the tracing)"
            )
        log_group = ref_target(properties.get("LoggingConfig", {}).get("LogGroup"))
        tracing = properties.get("TracingConfig", {}).get("Mode")
        for statement, condition in role_statements(role):
            actions = as_list(statement.get("Action", []))
            resources = as_list(statement.get("Resource", []))
            sid = statement.get("Sid", "?")
            if any(action.startswith("logs:") for action in actions):
                if log_group is None or resources != [{"Fn::GetAtt": [log_group, "Arn"]}]:
                    problems.append(f"{name}: {role_name} {sid} writes logs beyond {log_group}")
            if any(action.startswith("xray:") for action in actions):
                active = conditions.get(condition or "", {}).get("Fn::Equals")
                if active is None or {"Ref": "Tracing"} not in active or "Active" not in active:
                    problems.append(f"{name}: {role_name} {sid} grants X-Ray without Tracing=Active")
                if tracing != {"Ref": "Tracing"}:
                    problems.append(f"{name}: its tracing is not the Tracing parameter")
            elif "*" in resources:
                problems.append(f"{name}: {role_name} {sid} grants {actions} on every resource")
    return problems


def kms_via_service(template, translated):
    """Every KMS permission of the template's roles is bound to the service it is meant for."""
    problems = []
    for name, role in of_type(translated, "AWS::IAM::Role").items():
        for statement, _ in role_statements(role):
            actions = as_list(statement.get("Action", []))
            if any(action.startswith("kms:") for action in actions):
                via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
                if via is None:
                    problems.append(f"{name} {statement.get('Sid', '?')}: {actions} without kms:ViaService")
    return problems


def scheduler_trust(template, translated):
    """A role EventBridge Scheduler assumes names the source: the account and the stack's own
    schedule group, which every schedule using the role belongs to."""
    problems = []
    schedules = of_type(template, "AWS::Scheduler::Schedule")
    for name, role in of_type(template, "AWS::IAM::Role").items():
        trust = role["Properties"]["AssumeRolePolicyDocument"]
        for statement, _ in statements(trust):
            if statement.get("Principal") != {"Service": "scheduler.amazonaws.com"}:
                continue
            equals = statement.get("Condition", {}).get("StringEquals", {})
            if equals.get("aws:SourceAccount") != {"Ref": "AWS::AccountId"}:
                problems.append(f"{name}: trusts Scheduler without aws:SourceAccount")
            group = getatt_target(equals.get("aws:SourceArn"))
            if group is None or template["Resources"].get(group, {}).get("Type") != "AWS::Scheduler::ScheduleGroup":
                problems.append(f"{name}: trusts Scheduler without aws:SourceArn of a schedule group of the stack")
                continue
            for schedule_name, schedule in schedules.items():
                target = schedule["Properties"]["Target"]
                if getatt_target(target.get("RoleArn")) == name and schedule["Properties"].get("GroupName") != {"Ref": group}:
                    problems.append(f"{schedule_name} uses {name} outside {group}")
    return problems


SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:feishu/callback-AbCdEf"
NOT_ONE_SECRET = [
    "*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:feishu/*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:feishu-?pp-AbCdEf",
]


def callback_secret_is_its_own(template, translated):
    """ExistingCallbackSecretArn names one secret (no wildcard) and never the app secret."""
    problems = []
    for parameter in ("ExistingCallbackSecretArn", "ExistingAppSecretArn"):
        pattern = template["Parameters"][parameter].get("AllowedPattern", ".*")
        if not (re.fullmatch(pattern, SECRET) and re.fullmatch(pattern, "")):
            problems.append(f"{parameter}: the pattern refuses a plain secret ARN or empty")
        for value in NOT_ONE_SECRET:
            if re.fullmatch(pattern, value):
                problems.append(f"{parameter}: the pattern accepts the wildcard {value}")
    different = {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingCallbackSecretArn"}, {"Ref": "ExistingAppSecretArn"}]}]}
    flipped = {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingAppSecretArn"}, {"Ref": "ExistingCallbackSecretArn"}]}]}
    asserted = [
        assertion.get("Assert")
        for rule in template.get("Rules", {}).values()
        for assertion in rule.get("Assertions", [])
    ]
    if different not in asserted and flipped not in asserted:
        problems.append("no template rule refuses ExistingCallbackSecretArn = ExistingAppSecretArn")
    return problems


def concurrency_bounded(template, translated):
    """Every function has a reserved concurrency, none skips checkov's check of it."""
    problems = []
    for name, function in functions(translated).items():
        if "ReservedConcurrentExecutions" not in function["Properties"]:
            problems.append(f"{name} has no reserved concurrency: any invoker can spend Feishu's rate")
        skips = (function.get("Metadata", {}).get("checkov") or {}).get("skip", [])
        if any(skip.get("id") == "CKV_AWS_115" for skip in skips):
            problems.append(f"{name} skips CKV_AWS_115 (reserved concurrency)")
    return problems


def callback_segment_random(template, translated):
    """A new stack's callback URL segment is random (generated by Secrets Manager), not derived
    from the time-based stack id, and every use of the URL reads the stage's name."""
    problems = []
    default = template["Parameters"]["CallbackPathSegment"].get("Default")
    generate = template["Conditions"].get("GenerateCallbackSegment")
    if generate != {"Fn::Equals": [{"Ref": "CallbackPathSegment"}, default]}:
        problems.append("CallbackPathSegment's default does not generate the segment")
    stage = template["Resources"].get("CallbackStage", {}).get("Properties", {}).get("StageName", {})
    branch = stage.get("Fn::If", [None, None])
    secret = re.fullmatch(r"\{\{resolve:secretsmanager:\$\{(\w+)\}:SecretString:segment\}\}", str(branch[1].get("Fn::Sub") if isinstance(branch[1], dict) else ""))
    if branch[0] != "GenerateCallbackSegment" or secret is None:
        problems.append("CallbackStage's name is not the generated secret when the segment is generated")
    elif "GenerateSecretString" not in template["Resources"].get(secret.group(1), {}).get("Properties", {}):
        problems.append(f"{secret.group(1)} is not a generated secret")
    url = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${CallbackStage}/feishu/approval/callback"
    uses = [template["Outputs"]["CallbackUrl"]["Value"]] + [
        function["Properties"]["Environment"]["Variables"]["CALLBACK_URL"]
        for function in of_type(template, "AWS::Serverless::Function").values()
        if "CALLBACK_URL" in function["Properties"].get("Environment", {}).get("Variables", {})
    ]
    if any(use != {"Fn::Sub": url} for use in uses):
        problems.append("a CALLBACK_URL or the CallbackUrl output is not built from the stage's name")
    return problems


def checkov_skips_explained(template, translated):
    """Every checkov suppression says why."""
    problems = []
    for name, resource in template.get("Resources", {}).items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            if not str(skip.get("comment", "")).strip():
                problems.append(f"{name}: checkov skip {skip.get('id')} has no comment saying why")
    return problems


def dashboard_is_json(template, translated):
    """The dashboard body is JSON with widgets once its ${…} are substituted."""
    problems = []
    for name, resource in of_type(template, "AWS::CloudWatch::Dashboard").items():
        body = resource["Properties"]["DashboardBody"]
        text = body["Fn::Sub"][0] if isinstance(body.get("Fn::Sub"), list) else body.get("Fn::Sub", body)
        try:
            if not json.loads(re.sub(r"\$\{[^}]+\}", "x", text))["widgets"]:
                problems.append(f"{name}: the dashboard has no widgets")
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"{name}: the dashboard body is not JSON with widgets: {error}")
    return problems


# ---------------------------------------------------------------- path B (docs/deploy.md)

# What each of the template's expressions is called in path B's shell variables.
PATH_B_NAMES = {
    key({"Fn::GetAtt": ["InstanceTable", "Arn"]}): "$TABLE_ARN",
    key({"Fn::Sub": "${InstanceTable.Arn}/index/recent-changes"}): "$TABLE_ARN/index/recent-changes",
    key({"Fn::If": ["CreateAppSecret", {"Ref": "FeishuAppSecret"}, {"Ref": "ExistingAppSecretArn"}]}): "$APP_SECRET_ARN",
    key({"Fn::If": ["CreateCallbackSecret", {"Ref": "FeishuCallbackSecret"}, {"Ref": "ExistingCallbackSecretArn"}]}): "$CALLBACK_SECRET_ARN",
    key({"Fn::If": ["CreateBus", {"Fn::GetAtt": ["DecisionEventBus", "Arn"]}, {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}]}): "$EVENT_BUS_ARN",
    key({"Fn::GetAtt": ["FailureQueue", "Arn"]}): "$QUEUE_ARN",
    key({"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-sync"}): "$SYNC_ARN",
    key({"Fn::GetAtt": ["SyncLogGroup", "Arn"]}): "$SYNC_LOG_GROUP_ARN",
    key({"Fn::GetAtt": ["CallbackLogGroup", "Arn"]}): "$CALLBACK_LOG_GROUP_ARN",
    key({"Fn::GetAtt": ["SyncFunctionRole", "Arn"]}): "$SYNC_ROLE_ARN",
}

# Path B's policy files and the template's resources they stand for.
PATH_B_POLICIES = {
    "sync-policy.json": "SyncFunctionRole",
    "callback-policy.json": "CallbackFunctionRole",
    "queue-policy.json": "FailureQueuePolicy",
}


def path_b(deploy_md):
    """docs/deploy.md's section B."""
    start = deploy_md.find("\n## B. ")
    end = deploy_md.find("\n## ", start + 1)
    return deploy_md[start:end] if start >= 0 else ""


def shell_blocks(markdown):
    return re.findall(r"```sh\n(.*?)```", markdown, re.S)


def heredoc_files(markdown):
    """{file name: content} of every `cat > NAME <<EOF … EOF` in the shell blocks."""
    files = {}
    for block in shell_blocks(markdown):
        for match in re.finditer(r"cat > (\S+) <<'?EOF'?\n(.*?)\nEOF\n", block, re.S):
            files[match.group(1)] = match.group(2)
    return files


def commands(markdown, prefix):
    """Every command line (continuations joined) starting with `prefix`, as shell words."""
    found = []
    for block in shell_blocks(markdown):
        pending = ""
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            pending += line + "\n"
            try:
                words = shlex.split(pending)
            except ValueError:
                continue  # a quoted string goes on on the next line
            pending = ""
            if " ".join(words).startswith(prefix):
                found.append(words)
    return found


def shorthand(items):
    """AWS CLI shorthand `A=x,B=y` items as dicts."""
    return [dict(part.split("=", 1) for part in item.split(",")) for item in items]


def option_values(words, option):
    """The words after `option` up to the next option."""
    if option not in words:
        return None
    values = []
    for word in words[words.index(option) + 1:]:
        if word.startswith("--"):
            break
        values.append(word)
    return values


def pairs(found_statements, names, problems, where):
    """{(Effect, action, resource, condition)} of the unconditional statements of a policy,
    resources and condition values as path B names them."""
    found = set()
    for statement, condition in found_statements:
        if condition is not None:
            continue
        def named(value):
            if isinstance(value, str):
                return value
            name = names.get(key(value))
            if name is None:
                problems.append(f"{where}: no path B name for {key(value)}")
            return name
        condition_value = json.dumps(
            {
                operator: {k: named(v) for k, v in entries.items()}
                for operator, entries in statement.get("Condition", {}).items()
            },
            sort_keys=True,
        )
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                found.add((statement["Effect"], action, named(resource), condition_value))
    return found


def path_b_matches_template(template, translated, deploy_md):
    """Path B creates the template's table and grants the template's permissions."""
    problems = []
    section = path_b(deploy_md)
    if not section:
        return ["docs/deploy.md has no section B"]

    table = template["Resources"]["InstanceTable"]["Properties"]
    create = commands(section, "aws dynamodb create-table")
    if len(create) != 1:
        problems.append(f"path B has {len(create)} create-table commands, not one")
    else:
        words = create[0]
        attributes = shorthand(option_values(words, "--attribute-definitions") or [])
        keys = shorthand(option_values(words, "--key-schema") or [])
        indexes = json.loads((option_values(words, "--global-secondary-indexes") or ["[]"])[0])
        billing = option_values(words, "--billing-mode")
        if sorted(attributes, key=key) != sorted(table["AttributeDefinitions"], key=key):
            problems.append(f"path B's table attributes {attributes} are not the template's")
        if keys != table["KeySchema"]:
            problems.append(f"path B's key schema {keys} is not the template's")
        if indexes != table.get("GlobalSecondaryIndexes", []):
            problems.append(f"path B's indexes {indexes} are not the template's")
        if billing != [table["BillingMode"]]:
            problems.append(f"path B's billing mode {billing} is not the template's")
    if not any("--point-in-time-recovery-specification" in w for w in commands(section, "aws dynamodb update-continuous-backups")):
        problems.append("path B does not turn on point-in-time recovery")
    ttl = table["TimeToLiveSpecification"]["AttributeName"]
    if not any(f"AttributeName={ttl}" in " ".join(w) for w in commands(section, "aws dynamodb update-time-to-live")):
        problems.append(f"path B does not set the TTL attribute {ttl}")

    files = heredoc_files(section)
    for file_name, resource_name in PATH_B_POLICIES.items():
        if file_name not in files:
            problems.append(f"path B writes no {file_name}")
            continue
        documented = statements(json.loads(files[file_name]))
        resource = translated["Resources"].get(resource_name)
        if resource is None:
            problems.append(f"the template has no {resource_name} to compare {file_name} with")
            continue
        if resource["Type"] == "AWS::IAM::Role":
            in_template = role_statements(resource)
        else:
            in_template = statements(resource["Properties"]["PolicyDocument"])
        wanted = pairs(in_template, PATH_B_NAMES, problems, resource_name)
        written = pairs(documented, {}, problems, file_name)
        for missing in sorted(wanted - written, key=str):
            problems.append(f"{file_name} lacks {missing} that {resource_name} has")
        for extra in sorted(written - wanted, key=str):
            problems.append(f"{file_name} has {extra} that {resource_name} has not")
    if "AWSLambdaBasicExecutionRole" in " ".join(" ".join(w) for w in commands(section, "aws iam attach-role-policy")):
        problems.append("path B attaches AWSLambdaBasicExecutionRole (logs on every log group)")
    return problems


# ---------------------------------------------------------------- path A's guided deploy (docs/deploy.md)

# What `sam deploy --guided` asks besides the template's parameters, in its order (aws-sam-cli,
# samcli/commands/deploy/guided_context.py): the stack and region, then the parameters in the
# template's order, then these confirmations, then a question per function without
# authorization, then where to save the answers.
SAM_PROMPTS_FIRST = ["Stack Name", "AWS Region"]
SAM_CONFIRMATIONS = ["Confirm changes before deploy", "Allow SAM CLI IAM role creation", "Disable rollback"]
SAM_PROMPTS_LAST = ["Save arguments to configuration file", "SAM configuration file", "SAM configuration environment"]
SAM_AUTH_QUESTION = "{} may not have authorization defined, Is this okay?"
# The API resources SAM counts as authorized whatever they say (it cannot look inside them).
SAM_OPAQUE_APIS = {"AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"}


def guided_deploy_table(deploy_md):
    """The prompts docs/deploy.md's guided-deploy table answers, one per row (a row
    "Parameters `A`, `B`" answers "Parameter A" and "Parameter B")."""
    start = deploy_md.find("\n| prompt | answer |")
    if start < 0:
        return []
    prompts = []
    for line in deploy_md[start + 1:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1].strip()
        if first.startswith("Parameter"):
            prompts += [f"Parameter {name}" for name in re.findall(r"`([^`]+)`", first)]
        else:
            prompts.append(first)
    return prompts


def sam_auth_questions(template):
    """The "may not have authorization defined" questions `sam deploy --guided` asks of this
    template (aws-sam-cli, samcli/commands/deploy/auth_utils.py): one per function with an `Api`
    or `HttpApi` event that has no `Auth` and no authorized (or opaque) API, and one per function
    URL with `AuthType: NONE`."""
    resources = template.get("Resources", {})
    global_url = template.get("Globals", {}).get("Function", {}).get("FunctionUrlConfig")
    questions = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        for event in properties.get("Events", {}).values():
            for event_type, api_key in (("Api", "RestApiId"), ("HttpApi", "ApiId")):
                if event.get("Type") != event_type:
                    continue
                event_properties = event.get("Properties", {})
                api = event_properties.get(api_key)
                api = resources.get(api.get("Ref") if isinstance(api, dict) else api, {})
                authorized = (
                    bool(event_properties.get("Auth"))
                    or api.get("Type") in SAM_OPAQUE_APIS
                    or bool(api.get("Properties", {}).get("Auth"))
                )
                if not authorized:
                    questions.append(SAM_AUTH_QUESTION.format(name))
        url = properties.get("FunctionUrlConfig", global_url)
        if url and url.get("AuthType") == "NONE":
            questions.append(SAM_AUTH_QUESTION.format(f"{name} Function Url"))
    return questions


def guided_deploy_matches_template(template, deploy_md):
    """docs/deploy.md's guided-deploy table answers exactly what `sam deploy --guided` asks for
    this template (every parameter, no question it never asks), in the order it asks."""
    documented = guided_deploy_table(deploy_md)
    if not documented:
        return ["docs/deploy.md has no guided-deploy table (| prompt | answer |)"]
    asked = (
        SAM_PROMPTS_FIRST
        + [f"Parameter {name}" for name in template.get("Parameters", {})]
        + SAM_CONFIRMATIONS
        + sam_auth_questions(template)
        + SAM_PROMPTS_LAST
    )
    problems = [f"the guided-deploy table lacks the prompt {prompt!r}" for prompt in asked if prompt not in documented]
    problems += [
        f"the guided-deploy table answers {prompt!r}, which sam deploy --guided does not ask for this template"
        for prompt in documented
        if prompt not in asked
    ]
    if not problems and documented != asked:
        first = next(index for index, (row, prompt) in enumerate(zip(documented, asked)) if row != prompt)
        problems.append(
            f"the guided-deploy table's prompt {first + 1} is {documented[first]!r} where SAM asks {asked[first]!r}"
        )
    return problems


TEMPLATE_RULES = [
    failure_queue_sealed,
    function_roles_least_privilege,
    kms_via_service,
    scheduler_trust,
    callback_secret_is_its_own,
    concurrency_bounded,
    callback_segment_random,
    checkov_skips_explained,
    dashboard_is_json,
]


def check(template, deploy_md):
    """Every finding of every rule, each prefixed by its rule's name."""
    translated = translate(template)
    findings = []
    for rule in TEMPLATE_RULES:
        findings += [f"{rule.__name__}: {problem}" for problem in rule(template, translated)]
    findings += [
        f"path_b_matches_template: {problem}"
        for problem in path_b_matches_template(template, translated, deploy_md)
    ]
    findings += [
        f"guided_deploy_matches_template: {problem}"
        for problem in guided_deploy_matches_template(template, deploy_md)
    ]
    return findings


def main():
    template_path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    deploy_path = sys.argv[2] if len(sys.argv) > 2 else "docs/deploy.md"
    findings = check(load(template_path), Path(deploy_path).read_text())
    for finding in findings:
        print(f"check-template: {finding}", file=sys.stderr)
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
