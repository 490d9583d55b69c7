// Push an instance to Feishu through the approval-sync function, with the AWS SDK for
// JavaScript v3.
//
//     npx tsx invoke-sync.ts INSTANCE.json [--notify]
//
// INSTANCE.json is a whole Feishu external instance (schemas/sync-job.schema.json, `instance`).
// The function name comes from SYNC_FUNCTION_NAME (default "approval-sync"); the endpoint,
// region and credentials from the usual AWS environment (AWS_ENDPOINT_URL_LAMBDA points the SDK
// at `cargo lambda watch` locally). Prints the function's summary; exits 1 when the job failed
// (its errorType and errorMessage say why) or Feishu refused a call.
//
// Ids and times are strings in every job and summary: keep them strings. Feishu's message ids
// are above 2^53, which JSON.parse would round as numbers.

import { readFileSync } from "node:fs";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";

/** What the function answers for an instance job (see the README for every field). */
interface InstanceSummary {
  job: "instance";
  instance_id: string;
  outcome: "synced" | "stale";
  calls: { api: string; target: string; accepted: boolean; code?: number; msg?: string; log_id?: string }[];
}

/** What Lambda returns when the job failed. */
interface FunctionError {
  errorType: string;
  errorMessage: string;
}

async function main(argv: string[]): Promise<number> {
  const files = argv.filter((arg) => !arg.startsWith("--"));
  if (files.length !== 1) {
    console.error("usage: invoke-sync.ts INSTANCE.json [--notify]");
    return 2;
  }
  const instance: unknown = JSON.parse(readFileSync(files[0], "utf-8"));
  const job = { type: "instance", instance, notify: argv.includes("--notify") };
  const client = new LambdaClient({});
  const answer = await client.send(
    new InvokeCommand({
      FunctionName: process.env.SYNC_FUNCTION_NAME ?? "approval-sync",
      InvocationType: "RequestResponse",
      Payload: new TextEncoder().encode(JSON.stringify(job)),
    }),
  );
  const text = new TextDecoder().decode(answer.Payload);
  if (answer.FunctionError) {
    const error = JSON.parse(text) as FunctionError;
    console.error(`${error.errorType}: ${error.errorMessage}`);
    return 1;
  }
  const summary = JSON.parse(text) as InstanceSummary;
  console.log(JSON.stringify(summary, null, 2));
  const refused = summary.calls.filter((call) => !call.accepted);
  for (const call of refused) {
    console.error(
      `Feishu refused ${call.api} for ${call.target}: code ${call.code}, ${call.msg} (log id ${call.log_id})`,
    );
  }
  return refused.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
