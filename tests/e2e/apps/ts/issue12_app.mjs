// An app on the official Inngest TypeScript SDK (`inngest` 4.24.0) for issue 12: a middleware
// records, for every request the server makes, which of its hooks the SDK called (and what
// `isFinalAttempt` said to the error hooks). App id `i12app`, served at `/api/inngest`.
//
//   INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> PORT=<app port> node issue12_app.mjs
//
// `GET /e2e/requests` answers `{"requests": [{fn, run_id, step_id, attempt, plan, hooks: [...]}]}`
// in the order the requests arrived (`plan`: the call's `ctx.disable_immediate_execution`); a
// hook entry is its name, and `onRunError`/`onStepError` add `:final` or `:retry` (their
// `isFinalAttempt`).

import http from "node:http";

import { Inngest, Middleware, StepError, referenceFunction } from "inngest";
import { serve } from "inngest/node";

const requests = [];

/** One instance per request (the SDK makes a new one each time): it records that request. */
class Recorder extends Middleware.BaseMiddleware {
  id = "recorder";

  constructor(args) {
    super(args);
    this.record = { fn: null, run_id: null, step_id: null, attempt: null, plan: null, hooks: [] };
  }

  hook(name) {
    this.record.hooks.push(name);
  }

  async wrapRequest({ next, fn, runId, requestInfo }) {
    if (fn === null) return next(); // introspection and sync: not a call of a function
    this.record.fn = fn.opts.id;
    this.record.run_id = runId;
    this.record.step_id = requestInfo.url.searchParams.get("stepId");
    const body = await requestInfo.body(); // parsed already: reading it costs the SDK nothing
    this.record.plan = body?.ctx?.disable_immediate_execution ?? null;
    requests.push(this.record);
    this.hook("wrapRequest");
    return next();
  }

  transformFunctionInput(arg) {
    this.record.attempt = arg.ctx.attempt;
    this.hook("transformFunctionInput");
    return arg;
  }

  onMemoizationEnd() {
    this.hook("onMemoizationEnd");
  }

  onRunStart() {
    this.hook("onRunStart");
  }

  onStepStart({ stepInfo }) {
    this.hook(`onStepStart:${stepInfo.options.id}`);
  }

  onStepComplete({ stepInfo }) {
    this.hook(`onStepComplete:${stepInfo.options.id}`);
  }

  onStepError({ stepInfo, isFinalAttempt }) {
    this.hook(`onStepError:${stepInfo.options.id}:${isFinalAttempt ? "final" : "retry"}`);
  }

  onRunComplete() {
    this.hook("onRunComplete");
  }

  onRunError({ isFinalAttempt }) {
    this.hook(`onRunError:${isFinalAttempt ? "final" : "retry"}`);
  }
}

const inngest = new Inngest({ id: "i12app", middleware: [Recorder] });

// A step that always fails (retries: 1), caught; then the function throws an error of its own.
const caughtThenThrow = inngest.createFunction(
  { id: "caught-then-throw", retries: 1, triggers: [{ event: "i12/caught" }] },
  async ({ step }) => {
    try {
      await step.run("always fails", () => {
        throw new Error("the step fails");
      });
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
    }
    throw new Error("after the caught step error");
  },
);

// A step and a sleep in parallel, then one more step.
const parallelSleep = inngest.createFunction(
  { id: "parallel-sleep", retries: 0, triggers: [{ event: "i12/parallel" }] },
  async ({ step }) => {
    const [a] = await Promise.all([
      step.run("a", () => "A"),
      step.sleep("nap", "1s"),
    ]);
    const b = await step.run("b", () => "B");
    return { a, b };
  },
);

// A step and a wait for `i12/pgo` (same nonce) in parallel, then one more step.
const parallelWait = inngest.createFunction(
  { id: "parallel-wait", retries: 0, triggers: [{ event: "i12/pwait" }] },
  async ({ event, step }) => {
    const [a, got] = await Promise.all([
      step.run("a", () => "A"),
      step.waitForEvent("go", {
        event: "i12/pgo",
        timeout: event.data.timeout ?? "60s",
        if: "async.data.nonce == event.data.nonce",
      }),
    ]);
    const b = await step.run("b", () => "B");
    return { a, b, got: got === null ? null : got.data };
  },
);

// A step and an invoke of a function that does not exist in parallel, then one more step.
const parallelInvokeMissing = inngest.createFunction(
  { id: "parallel-invoke-missing", retries: 0, triggers: [{ event: "i12/pinvoke" }] },
  async ({ step }) => {
    const [a, invoked] = await Promise.all([
      step.run("a", () => "A"),
      step
        .invoke("inv", { function: referenceFunction({ functionId: "does-not-exist" }), data: {} })
        .catch((err) => err.message),
    ]);
    const b = await step.run("b", () => "B");
    return { a, b, invoked };
  },
);

// Two waits for the same signal in parallel, the second replacing the first; then a step.
const parallelSignals = inngest.createFunction(
  { id: "parallel-signals", retries: 0, triggers: [{ event: "i12/psignals" }] },
  async ({ event, step }) => {
    const signal = `i12/${event.data.nonce}`;
    const [first, second] = await Promise.all([
      step.waitForSignal("first", { signal, timeout: "60s" }),
      step.waitForSignal("second", { signal, timeout: "1s", onConflict: "replace" }),
    ]);
    const b = await step.run("b", () => "B");
    return { b, first, second };
  },
);

// Waits for `i12/go` with the same nonce.
const waiter = inngest.createFunction(
  { id: "waiter", retries: 0, triggers: [{ event: "i12/wait" }] },
  async ({ step }) => {
    const got = await step.waitForEvent("wait for go", {
      event: "i12/go",
      timeout: "30s",
      if: "async.data.nonce == event.data.nonce",
    });
    return { got: got === null ? null : got.data };
  },
);

const handler = serve({
  client: inngest,
  functions: [
    caughtThenThrow,
    parallelSleep,
    parallelWait,
    parallelInvokeMissing,
    parallelSignals,
    waiter,
  ],
});

function sendJson(res, value) {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/api/inngest") return handler(req, res);
  if (path === "/e2e/requests" && req.method === "GET") return sendJson(res, { requests });
  res.writeHead(404, { "content-type": "application/json" });
  return res.end(JSON.stringify({ error: "not found" }));
});

const port = Number(process.env.PORT ?? "3000");
server.listen(port, process.env.HOST ?? "127.0.0.1", () => {
  console.log(`i12app (inngest-js) listening on ${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
