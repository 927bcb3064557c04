// A worker on the official Inngest TypeScript SDK's Connect (`inngest/connect`, 4.24.0): it
// serves no HTTP, it dials the server's gateway. App id `tsconn`.
//
//   INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> WORKER_NAME=t \
//     NOTES_PATH=/tmp/notes.jsonl node --experimental-websocket connect_worker.mjs
//
// (Node 20 has no global WebSocket without the flag.) The SDK checkpoints steps asynchronously
// by default (`POST /v1/checkpoint/{run}/async` while the request runs on). Each function call
// and each step body appends `{worker, run_id, what}` to NOTES_PATH.

import { appendFileSync } from "node:fs";

import { Inngest, NonRetriableError } from "inngest";
import { connect } from "inngest/connect";

const NAME = process.env.WORKER_NAME ?? "ts";
const NOTES_PATH = process.env.NOTES_PATH;

function note(runId, what) {
  appendFileSync(NOTES_PATH, `${JSON.stringify({ worker: NAME, run_id: runId, what })}\n`);
}

const inngest = new Inngest({ id: "tsconn" });

const steps = inngest.createFunction(
  { id: "steps", triggers: [{ event: "tsconn/steps" }] },
  async ({ event, step, runId }) => {
    note(runId, "call");
    const a = await step.run("a", () => {
      note(runId, "a");
      return `a:${event.data.n}`;
    });
    const b = await step.run("b", () => {
      note(runId, "b");
      return `${a}+b`;
    });
    return { a, b, worker: NAME };
  },
);

const napping = inngest.createFunction(
  { id: "nap", triggers: [{ event: "tsconn/nap" }] },
  async ({ step, runId }) => {
    note(runId, "call");
    const before = await step.run("before", () => {
      note(runId, "before");
      return 1;
    });
    await step.sleep("nap", "1s");
    const after = await step.run("after", () => {
      note(runId, "after");
      return before + 1;
    });
    return { after, worker: NAME };
  },
);

// Fails for good: the SDK answers 400 + no-retry, which its Connect reply carries as DONE with
// no_retry set (only 200 and 206 have statuses of their own).
const refusing = inngest.createFunction(
  { id: "refuse", triggers: [{ event: "tsconn/refuse" }] },
  async ({ runId }) => {
    note(runId, "call");
    throw new NonRetriableError("refused for good");
  },
);

const conn = await connect({
  apps: [{ client: inngest, functions: [steps, napping, refusing] }],
  instanceId: NAME,
  // The SDK's default runs the socket in a worker thread, which on Node 20 has no WebSocket
  // even with the flag; the main thread has it.
  isolateExecution: false,
});
console.log(`worker ${NAME} connected`);
await conn.closed;
console.log(`worker ${NAME} closed`);
