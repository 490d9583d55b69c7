"""Each rule of rules.py passes on the real template and docs, and fails on a copy with the hole
it guards against (run by scripts/check-template before the rules themselves):

    .venv/bin/python -m unittest discover -s scripts/template
"""

import copy
import re
import unittest
from pathlib import Path

import rules
from translate import load, translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load(str(ROOT / "template.yaml"))
DEPLOY_MD = (ROOT / "docs" / "deploy.md").read_text()


def findings(rule, change=None):
    """What `rule` finds in the template after `change` (a function editing a copy)."""
    template = copy.deepcopy(TEMPLATE)
    if change:
        change(template)
    return rule(template, translate(template))


def resources(template):
    return template["Resources"]


def statement(role, sid):
    """The statement `sid` of the role's policy, looking inside Fn::If."""
    for item, _ in rules.role_statements(role):
        if item.get("Sid") == sid:
            return item
    raise KeyError(sid)


def replace_statement(role, sid, new):
    document = role["Properties"]["Policies"][0]["PolicyDocument"]
    for index, item in enumerate(document["Statement"]):
        if item.get("Sid") == sid or (set(item) == {"Fn::If"} and item["Fn::If"][1].get("Sid") == sid):
            document["Statement"][index] = new
            return
    raise KeyError(sid)


class TheRealTemplate(unittest.TestCase):
    def test_has_no_findings(self):
        self.assertEqual(rules.check(copy.deepcopy(TEMPLATE), DEPLOY_MD), [])


class FailureQueueSealed(unittest.TestCase):
    rule = staticmethod(rules.failure_queue_sealed)

    def test_without_a_queue_policy(self):
        found = findings(self.rule, lambda t: resources(t).pop("FailureQueuePolicy"))
        self.assertIn("FailureQueue has no queue policy", " ".join(found))

    def test_with_the_deny_for_another_role(self):
        def other_role(template):
            first = resources(template)["FailureQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
            first["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] = {"Fn::GetAtt": ["CallbackFunctionRole", "Arn"]}
        found = findings(self.rule, other_role)
        self.assertIn("SyncFunction sends its failed jobs to FailureQueue with another role", " ".join(found))

    def test_with_an_allow_for_everyone(self):
        def allow(template):
            document = resources(template)["FailureQueuePolicy"]["Properties"]["PolicyDocument"]
            document["Statement"].append(
                {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
            )
        self.assertIn("allows sending: Open", " ".join(findings(self.rule, allow)))

    def test_with_the_direct_function_on_another_role(self):
        def other_role(template):
            resources(template)["SyncDirectFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["CallbackFunctionRole", "Arn"]}
        found = findings(self.rule, other_role)
        self.assertIn("SyncDirectFunction sends its failed jobs to FailureQueue with another role", " ".join(found))


class FunctionRoles(unittest.TestCase):
    rule = staticmethod(rules.function_roles_least_privilege)

    def test_sams_generated_roles_have_logs_and_xray_everywhere(self):
        def sam_roles(template):
            for name in ("CallbackFunction", "SyncFunction"):
                function = resources(template)[name]["Properties"]
                function.pop("Role")
                function["Policies"] = [{"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["FailureQueue", "Arn"]}}]}]
                resources(template).pop(f"{name}Role")
            resources(template)["DecisionEventBusPolicy"]["Properties"]["Statement"]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] = "x"
            resources(template)["FailureQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] = "x"
            resources(template)["SyncDirectFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["SyncFunctionRole", "Arn"]}
            template["Outputs"].pop("SyncRoleId")
        found = " ".join(findings(self.rule, sam_roles))
        self.assertIn("AWSLambdaBasicExecutionRole", found)
        self.assertIn("AWSXrayWriteOnlyAccess", found)

    def test_logs_on_every_log_group(self):
        def everywhere(template):
            statement(resources(template)["SyncFunctionRole"], "WriteOwnLogs")["Resource"] = "*"
        self.assertIn("SyncFunction: SyncFunctionRole WriteOwnLogs writes logs beyond SyncLogGroup", " ".join(findings(self.rule, everywhere)))

    def test_logs_on_the_other_functions_group(self):
        def other_group(template):
            statement(resources(template)["CallbackFunctionRole"], "WriteOwnLogs")["Resource"] = {"Fn::GetAtt": ["SyncLogGroup", "Arn"]}
        self.assertIn("CallbackFunction: CallbackFunctionRole WriteOwnLogs writes logs beyond", " ".join(findings(self.rule, other_group)))

    def test_xray_whatever_the_tracing(self):
        def always(template):
            role = resources(template)["SyncFunctionRole"]
            replace_statement(role, "WriteTraces", statement(role, "WriteTraces"))
        self.assertIn("WriteTraces grants X-Ray without Tracing=Active", " ".join(findings(self.rule, always)))

    def test_another_action_on_every_resource(self):
        def wide(template):
            statement(resources(template)["CallbackFunctionRole"], "HandOffToSync")["Resource"] = "*"
        self.assertIn("HandOffToSync grants ['lambda:InvokeFunction'] on every resource", " ".join(findings(self.rule, wide)))


class KmsViaService(unittest.TestCase):
    def test_decrypt_without_via_service(self):
        def unbound(template):
            statement(resources(template)["CallbackFunctionRole"], "DecryptSecrets").pop("Condition")
        found = findings(rules.kms_via_service, unbound)
        self.assertEqual(found, ["CallbackFunctionRole DecryptSecrets: ['kms:Decrypt'] without kms:ViaService"])


class SchedulerTrust(unittest.TestCase):
    def trust(self, template):
        return resources(template)["ReconcileSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]

    def test_account_only(self):
        found = findings(rules.scheduler_trust, lambda t: self.trust(t)["Condition"]["StringEquals"].pop("aws:SourceArn"))
        self.assertEqual(found, ["ReconcileSchedulerRole: trusts Scheduler without aws:SourceArn of a schedule group of the stack"])

    def test_schedule_outside_the_group(self):
        found = findings(rules.scheduler_trust, lambda t: resources(t)["ReconcileSchedule"]["Properties"].pop("GroupName"))
        self.assertEqual(found, ["ReconcileSchedule uses ReconcileSchedulerRole outside ReconcileScheduleGroup"])


class CallbackSecret(unittest.TestCase):
    def test_any_arn_pattern(self):
        def loose(template):
            template["Parameters"]["ExistingCallbackSecretArn"]["AllowedPattern"] = "^(|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)$"
        found = " ".join(findings(rules.callback_secret_is_its_own, loose))
        self.assertIn("ExistingCallbackSecretArn: the pattern accepts the wildcard arn:aws:secretsmanager:us-east-1:123456789012:secret:*", found)

    def test_without_the_rule(self):
        found = findings(rules.callback_secret_is_its_own, lambda t: t["Rules"].pop("CallbackSecretIsNotTheAppSecret"))
        self.assertEqual(found, ["no template rule refuses ExistingCallbackSecretArn = ExistingAppSecretArn"])


class Concurrency(unittest.TestCase):
    def test_direct_function_unbounded(self):
        found = findings(rules.concurrency_bounded, lambda t: resources(t)["SyncDirectFunction"]["Properties"].pop("ReservedConcurrentExecutions"))
        self.assertEqual(found, ["SyncDirectFunction has no reserved concurrency: any invoker can spend Feishu's rate"])


class CallbackSegment(unittest.TestCase):
    def test_stack_id_by_default(self):
        def stack_id(template):
            template["Parameters"]["CallbackPathSegment"]["Default"] = ""
        found = findings(rules.callback_segment_random, stack_id)
        self.assertEqual(found, ["CallbackPathSegment's default does not generate the segment"])

    def test_url_built_apart_from_the_stage(self):
        def apart(template):
            template["Outputs"]["CallbackUrl"]["Value"] = {"Fn::Sub": "https://x/${AWS::StackId}/feishu/approval/callback"}
        found = findings(rules.callback_segment_random, apart)
        self.assertEqual(found, ["a CALLBACK_URL or the CallbackUrl output is not built from the stage's name"])


class PathB(unittest.TestCase):
    def check(self, deploy_md):
        template = copy.deepcopy(TEMPLATE)
        return " ".join(rules.path_b_matches_template(template, translate(template), deploy_md))

    def test_the_pk_only_table_of_before(self):
        old = re.sub(
            r"aws dynamodb create-table .*?--billing-mode PAY_PER_REQUEST",
            'aws dynamodb create-table --table-name "$TABLE" \\\\\n  --attribute-definitions AttributeName=pk,AttributeType=S \\\\\n'
            "  --key-schema AttributeName=pk,KeyType=HASH \\\\\n  --billing-mode PAY_PER_REQUEST",
            DEPLOY_MD,
            flags=re.S,
        )
        found = self.check(old)
        self.assertIn("path B's key schema [{'AttributeName': 'pk', 'KeyType': 'HASH'}] is not the template's", found)
        self.assertIn("path B's indexes [] are not the template's", found)

    def test_delete_item_instead_of_query(self):
        found = self.check(DEPLOY_MD.replace('"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"', '"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem"'))
        self.assertIn("sync-policy.json lacks ('Allow', 'dynamodb:Query', '$TABLE_ARN', '{}') that SyncFunctionRole has", found)
        self.assertIn("sync-policy.json has ('Allow', 'dynamodb:DeleteItem', '$TABLE_ARN', '{}') that SyncFunctionRole has not", found)

    def test_a_callback_without_table_read(self):
        without = re.sub(r'\n    \{"Sid": "ReadInstanceRecords".*?"\$TABLE_ARN"\},', "", DEPLOY_MD, flags=re.S)
        self.assertNotEqual(without, DEPLOY_MD)
        self.assertIn("callback-policy.json lacks ('Allow', 'dynamodb:GetItem', '$TABLE_ARN', '{}')", self.check(without))

    def test_an_unsealed_queue(self):
        found = self.check(DEPLOY_MD.replace("cat > queue-policy.json", "cat > other.json"))
        self.assertIn("path B writes no queue-policy.json", found)


class GuidedDeployTable(unittest.TestCase):
    def check(self, deploy_md=DEPLOY_MD, change=None):
        template = copy.deepcopy(TEMPLATE)
        if change:
            change(template)
        return " ".join(rules.guided_deploy_matches_template(template, deploy_md))

    def row(self, name):
        """The table row answering parameter `name`."""
        return re.search(rf"\n\| Parameter `{name}` \|[^\n]*", DEPLOY_MD).group(0)

    def test_a_parameter_without_a_row(self):
        found = self.check(DEPLOY_MD.replace(self.row("RecordTtlDays"), ""))
        self.assertEqual(found, "the guided-deploy table lacks the prompt 'Parameter RecordTtlDays'")

    def test_a_parameter_added_to_the_template_only(self):
        def add(template):
            template["Parameters"]["ReconcileBatch"] = {"Type": "Number", "Default": 20}
        self.assertEqual(self.check(change=add), "the guided-deploy table lacks the prompt 'Parameter ReconcileBatch'")

    def test_a_parameter_in_a_grouped_row_counts(self):
        grouped = DEPLOY_MD.replace("`LogsKmsKeyArn`, `SecretsKmsKeyArn` |", "`LogsKmsKeyArn` |")
        self.assertNotEqual(grouped, DEPLOY_MD)
        self.assertEqual(self.check(grouped), "the guided-deploy table lacks the prompt 'Parameter SecretsKmsKeyArn'")

    def test_a_prompt_sam_never_asks(self):
        stale = "\n| CallbackFunction has no authentication. Is this okay? | `y` |"
        found = self.check(DEPLOY_MD.replace("\n| Save arguments to configuration file", stale + "\n| Save arguments to configuration file"))
        self.assertEqual(
            found,
            "the guided-deploy table answers 'CallbackFunction has no authentication. Is this okay?', "
            "which sam deploy --guided does not ask for this template",
        )

    def test_rows_out_of_sams_order(self):
        first, second = self.row("RecordTtlDays"), self.row("TombstoneTtlDays")
        swapped = DEPLOY_MD.replace(first + second, second + first)
        self.assertNotEqual(swapped, DEPLOY_MD)
        self.assertEqual(
            self.check(swapped),
            "the guided-deploy table's prompt 18 is 'Parameter TombstoneTtlDays' where SAM asks 'Parameter RecordTtlDays'",
        )

    def test_a_function_event_without_auth_makes_sam_ask(self):
        def http_api_event(auth):
            def change(template):
                event = {"Type": "HttpApi", "Properties": {"Path": "/callback", "Method": "post"}}
                if auth:
                    event["Properties"]["Auth"] = {"Authorizer": "AWS_IAM"}
                resources(template)["CallbackFunction"]["Properties"]["Events"] = {"Callback": event}
            return change

        self.assertEqual(
            self.check(change=http_api_event(auth=False)),
            "the guided-deploy table lacks the prompt 'CallbackFunction may not have authorization defined, Is this okay?'",
        )
        self.assertEqual(self.check(change=http_api_event(auth=True)), "")

    def test_a_public_function_url_makes_sam_ask(self):
        def url(template):
            resources(template)["SyncFunction"]["Properties"]["FunctionUrlConfig"] = {"AuthType": "NONE"}
        self.assertIn("'SyncFunction Function Url may not have authorization defined, Is this okay?'", self.check(change=url))

    def test_no_table(self):
        self.assertEqual(self.check("# Deploying\n"), "docs/deploy.md has no guided-deploy table (| prompt | answer |)")


if __name__ == "__main__":
    unittest.main()
