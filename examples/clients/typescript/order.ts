/**
 * An order, end to end, with the generated TypeScript client (@workflow-engine/client):
 * log in, deploy the order process if it is missing, start an order over 1000 (it needs a
 * manager's approval), follow its events live, approve the task when it appears, and wait
 * for the instance to complete. Prints every event, then `completed instance <id>`.
 *
 *     npx tsx order.ts [--url http://localhost:8080/graphql] [--user admin] [--password ...]
 *
 * Environment: WORKFLOW_URL, WORKFLOW_USER, WORKFLOW_PASSWORD (defaults: the demo's admin).
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import {
  ClaimTaskDocument,
  CompleteTaskDocument,
  createWorkflowClient,
  DefinitionsDocument,
  DeployDefinitionDocument,
  expectResult,
  InstanceDetailDocument,
  StartInstanceDocument,
  type InstanceEventsSubscription,
  type WorkflowClient,
} from "@workflow-engine/client";
import WebSocket from "ws";

const KEY = "order-processing";
const DEFINITION = new URL("../../order-processing.json", import.meta.url);
const APPROVAL_STEP = "manager_approval";
const TIMEOUT_MS = 60_000;

type InstanceEvent = InstanceEventsSubscription["instanceEvents"];

async function ensureDeployed(client: WorkflowClient): Promise<void> {
  const { definitions } = await client.request(DefinitionsDocument, { key: KEY });
  if (definitions.length > 0) {
    return;
  }
  const definition: unknown = JSON.parse(await readFile(DEFINITION, "utf-8"));
  const data = await client.request(DeployDefinitionDocument, { definition });
  const deployed = expectResult(data.deployDefinition, "DeployDefinitionSuccess");
  console.log(`deployed ${deployed.definition.key} v${deployed.definition.version}`);
}

/** Claim the instance's open approval task and approve it. */
async function approve(client: WorkflowClient, instanceId: number): Promise<void> {
  const { instance } = await client.request(InstanceDetailDocument, { id: instanceId });
  const task = instance?.tasks.find((t) => t.stepId === APPROVAL_STEP && t.status === "open");
  if (task === undefined) {
    throw new Error(`no open ${APPROVAL_STEP} task on instance ${instanceId}`);
  }
  expectResult((await client.request(ClaimTaskDocument, { id: task.id })).claimTask, "TaskSuccess");
  const variables = { approved: true, comments: "approved by the TypeScript example" };
  const done = await client.request(CompleteTaskDocument, { id: task.id, variables });
  const completed = expectResult(done.completeTask, "TaskSuccess");
  console.log(`completed task ${completed.task.id} (${APPROVAL_STEP}) as ${completed.task.completedBy}`);
}

/** Follow the instance's events until its stream ends (the instance ended). */
function follow(client: WorkflowClient, instanceId: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      feed.cancel();
      reject(new Error(`instance ${instanceId} did not end within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    const feed = client.live.instanceEvents(instanceId, {
      next: (event: InstanceEvent) => {
        console.log(`event ${event.seq} ${event.type}${event.stepId ? ` ${event.stepId}` : ""}`);
        if (event.type === "step_entered" && event.stepId === APPROVAL_STEP) {
          approve(client, instanceId).catch((error: unknown) => {
            clearTimeout(timer);
            feed.cancel();
            reject(error instanceof Error ? error : new Error(String(error)));
          });
        }
      },
      error: (error) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
      complete: () => {
        clearTimeout(timer);
        resolve();
      },
    });
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: process.env["WORKFLOW_URL"] ?? "http://localhost:8080/graphql" },
      user: { type: "string", default: process.env["WORKFLOW_USER"] ?? "admin" },
      password: { type: "string", default: process.env["WORKFLOW_PASSWORD"] ?? "password123" },
    },
  });
  const client = createWorkflowClient({ url: values.url, webSocketImpl: WebSocket });
  try {
    await client.login(values.user, values.password);
    console.log(`logged in as ${values.user}`);
    await ensureDeployed(client);

    const businessKey = `ORDER-TS-${Date.now()}`;
    const started = await client.request(StartInstanceDocument, {
      key: KEY,
      businessKey,
      variables: { order_id: businessKey, customer_id: "CUST-456", total_amount: 1999.99 },
    });
    const { instance } = expectResult(started.startInstance, "InstanceSuccess");
    console.log(`started instance ${instance.id} (${businessKey})`);

    await follow(client, instance.id);

    const { instance: ended } = await client.request(InstanceDetailDocument, { id: instance.id });
    if (ended?.status !== "COMPLETED") {
      console.error(`instance ${instance.id} ended ${ended?.status ?? "missing"}`);
      return 1;
    }
    console.log(`completed instance ${instance.id} (${businessKey})`);
    await client.logout();
    return 0;
  } finally {
    await client.dispose();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
