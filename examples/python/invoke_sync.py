#!/usr/bin/env python3
"""Push an instance to Feishu through the approval-sync function, with boto3.

    python invoke_sync.py INSTANCE.json [--notify] [--async]

INSTANCE.json is a whole Feishu external instance (schemas/sync-job.schema.json, `instance`).
The job sent is {"type": "instance", "instance": ..., "notify": ...}; see the README section
"The integrators' contract" for the other jobs and the events.

The function name comes from SYNC_FUNCTION_NAME (default "approval-sync"); the endpoint, region
and credentials from the usual AWS environment (AWS_ENDPOINT_URL_LAMBDA points boto3 at
`cargo lambda watch` locally). A synchronous invoke prints the function's summary and exits 1
when the job failed (its errorType and errorMessage say why) or Feishu refused a call; --async
hands the job to Lambda (retries, then the failure queue) and prints nothing but the request id.
"""

import json
import os
import sys

import boto3


def main(argv: list[str]) -> int:
    args = [arg for arg in argv if not arg.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as file:
        instance = json.load(file)
    job = {"type": "instance", "instance": instance, "notify": "--notify" in argv}
    function = os.environ.get("SYNC_FUNCTION_NAME", "approval-sync")
    client = boto3.client("lambda")

    if "--async" in argv:
        answer = client.invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(job).encode()
        )
        print(answer["ResponseMetadata"]["RequestId"])
        return 0 if answer["StatusCode"] == 202 else 1

    answer = client.invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(job).encode()
    )
    summary = json.loads(answer["Payload"].read() or b"null")
    if "FunctionError" in answer:
        # e.g. {"errorType": "InvalidJob", "errorMessage": "`instance` job, field ...: ..."}
        print(f"{summary['errorType']}: {summary['errorMessage']}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    refused = [call for call in summary["calls"] if not call["accepted"]]
    for call in refused:
        print(
            f"Feishu refused {call['api']} for {call['target']}: "
            f"code {call.get('code')}, {call.get('msg')} (log id {call.get('log_id')})",
            file=sys.stderr,
        )
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
