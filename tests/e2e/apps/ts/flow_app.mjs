// Flow control on the official Inngest TypeScript SDK (`inngest` 4.24.0, from this directory's
// package.json and package-lock.json), served by Node's http server through `inngest/node`.
//
// Started by tests/e2e/test_flow_control_official.py as its own process:
//
//   INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> PORT=<app port> node flow_app.mjs
//
// App id `flowapp`, served at `/api/inngest`: one function per flow-control rule of
// protocol.md §3.4.2, each configured through the SDK's own options (`concurrency`, `throttle`,
// `rateLimit`, `idempotency`, `debounce`, `batchEvents`, `priority`, `singleton`, `cancelOn`,
// `timeouts`). The Python app (`../py_flow_app.py`) defines the same functions, triggers and
// return values with its SDK's API, so one test module checks both.
//
// `GET /e2e/log` lists every function request and step body the app executed, in order
// (`{"notes": [{fn, run_id, what, attempt, t, nonce}]}`); `t` is the wall-clock time in
// seconds. A step body that takes a while notes `<label>:start` and `<label>:end`, so the tests
// can tell how many ran at once.

import http from "node:http";

import { Inngest } from "inngest";
import { serve } from "inngest/node";

const APP_ID = "flowapp";
const SERVE_PATH = "/api/inngest";

const devMode = process.env.INNGEST_DEV ?? "";
if (devMode === "" || devMode === "0" || devMode === "false") {
  console.error("set INNGEST_DEV=1 (and INNGEST_BASE_URL): this app talks to a dev server");
  process.exit(2);
}

const inngest = new Inngest({ id: APP_ID });

const notes = [];

/** Record that this request of `fn` happened, or that one of its step bodies ran. */
function note(ctx, fn, what = "call") {
  const nonce = ctx.event?.data?.nonce;
  notes.push({
    fn,
    run_id: ctx.runId,
    what,
    attempt: ctx.attempt,
    t: Date.now() / 1000,
    nonce: typeof nonce === "string" ? nonce : null,
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A step body that stays busy for `event.data.hold_s` seconds, noting start and end. */
async function hold(ctx, fn, label) {
  note(ctx, fn, `${label}:start`);
  await sleep((ctx.event.data.hold_s ?? 0) * 1000);
  note(ctx, fn, `${label}:end`);
  return label;
}

/** A step, a sleep of event.data.sleep_s seconds (the run stays active), another step. */
async function napBetweenSteps(ctx, fn) {
  note(ctx, fn);
  await ctx.step.run("begin", () => {
    note(ctx, fn, "begin");
    return "begun";
  });
  await ctx.step.sleep("nap", Math.round((ctx.event.data.sleep_s ?? 0) * 1000));
  await ctx.step.run("end", () => {
    note(ctx, fn, "end");
    return "ended";
  });
  return { n: ctx.event.data.n };
}

// Concurrency: at most 2 step bodies at once per event.data.k.
const concurrency = inngest.createFunction(
  {
    id: "concurrency",
    triggers: [{ event: "flow/concurrency" }],
    concurrency: [{ limit: 2, key: "event.data.k" }],
  },
  async (ctx) => {
    note(ctx, "concurrency");
    const key = String(ctx.event.data.k);
    await ctx.step.run("work", () => hold(ctx, "concurrency", `work:${key}`));
    return { k: key };
  },
);

// Throttle (GCRA): limit 2 per 2 s, burst 1: three start at once, then one every second.
const throttle = inngest.createFunction(
  {
    id: "throttle",
    triggers: [{ event: "flow/throttle" }],
    throttle: { limit: 2, period: "2s", burst: 1, key: "event.data.nonce" },
  },
  async (ctx) => {
    note(ctx, "throttle");
    await ctx.step.run("start", () => {
      note(ctx, "throttle", "start");
      return "started";
    });
    return { n: ctx.event.data.n };
  },
);

// Rate limit: 2 runs per 30 s per event.data.key; the excess is dropped.
const rateLimit = inngest.createFunction(
  {
    id: "rate-limit",
    triggers: [{ event: "flow/rate-limit" }],
    rateLimit: { limit: 2, period: "30s", key: "event.data.key" },
  },
  async (ctx) => {
    note(ctx, "rate-limit");
    return { n: ctx.event.data.n };
  },
);

// Idempotency: one run per event.data.order (for 24 h).
const idempotency = inngest.createFunction(
  {
    id: "idempotency",
    triggers: [{ event: "flow/idempotency" }],
    idempotency: "event.data.order",
  },
  async (ctx) => {
    note(ctx, "idempotency");
    return { n: ctx.event.data.n };
  },
);

// Debounce: one run 2 s after the last event of an event.data.key, with that event.
const debounce = inngest.createFunction(
  {
    id: "debounce",
    triggers: [{ event: "flow/debounce" }],
    debounce: { period: "2s", key: "event.data.key" },
  },
  async (ctx) => {
    note(ctx, "debounce");
    return { i: ctx.event.data.i, events: ctx.events.length };
  },
);

// Batching: up to 3 events per event.data.group, or whatever came within 2 s of the first.
const batch = inngest.createFunction(
  {
    id: "batch",
    triggers: [{ event: "flow/batch" }],
    batchEvents: { maxSize: 3, timeout: "2s", key: "event.data.group" },
  },
  async (ctx) => {
    note(ctx, "batch");
    return {
      values: ctx.events.map((event) => event.data.i),
      groups: ctx.events.map((event) => event.data.group),
    };
  },
);

// Priority: one run at a time; of the waiting runs, the biggest event.data.p goes first.
const priority = inngest.createFunction(
  {
    id: "priority",
    triggers: [{ event: "flow/priority" }],
    concurrency: 1,
    priority: { run: "event.data.p" },
  },
  async (ctx) => {
    note(ctx, "priority");
    const n = ctx.event.data.n;
    await ctx.step.run("work", () => hold(ctx, "priority", `work:${n}`));
    return { n };
  },
);

// Singleton skip: while a run of an event.data.key is active, new runs are skipped.
const singletonSkip = inngest.createFunction(
  {
    id: "singleton-skip",
    triggers: [{ event: "flow/singleton-skip" }],
    singleton: { mode: "skip", key: "event.data.key" },
  },
  async (ctx) => napBetweenSteps(ctx, "singleton-skip"),
);

// Singleton cancel: a new run cancels the active run of its event.data.key.
const singletonCancel = inngest.createFunction(
  {
    id: "singleton-cancel",
    triggers: [{ event: "flow/singleton-cancel" }],
    singleton: { mode: "cancel", key: "event.data.key" },
  },
  async (ctx) => napBetweenSteps(ctx, "singleton-cancel"),
);

// Cancellation by event, with an `if` over the trigger (event) and the cancel event (async).
const cancel = inngest.createFunction(
  {
    id: "cancel",
    triggers: [{ event: "flow/cancel" }],
    cancelOn: [{ event: "flow/cancel.stop", if: "event.data.order == async.data.order" }],
  },
  async (ctx) => napBetweenSteps(ctx, "cancel"),
);

// timeouts.start: one run at a time; a run still waiting 2 s after it was scheduled is cancelled.
const timeoutStart = inngest.createFunction(
  {
    id: "timeout-start",
    triggers: [{ event: "flow/timeout-start" }],
    concurrency: [{ limit: 1 }],
    timeouts: { start: "2s" },
  },
  async (ctx) => {
    note(ctx, "timeout-start");
    const n = ctx.event.data.n;
    await ctx.step.run("work", () => hold(ctx, "timeout-start", `work:${n}`));
    return { n };
  },
);

// timeouts.finish: a run not finished 2 s after it started is cancelled.
const timeoutFinish = inngest.createFunction(
  {
    id: "timeout-finish",
    triggers: [{ event: "flow/timeout-finish" }],
    timeouts: { finish: "2s" },
  },
  async (ctx) => napBetweenSteps(ctx, "timeout-finish"),
);

const functions = [
  concurrency,
  throttle,
  rateLimit,
  idempotency,
  debounce,
  batch,
  priority,
  singletonSkip,
  singletonCancel,
  cancel,
  timeoutStart,
  timeoutFinish,
];

const handler = serve({ client: inngest, functions });

const server = http.createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path === SERVE_PATH) {
    return handler(req, res);
  }
  if (path === "/e2e/log" && req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ notes }));
  }
  res.writeHead(404, { "content-type": "application/json" });
  return res.end(JSON.stringify({ error: "not found" }));
});

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? "3000");
server.listen(port, host, () => {
  console.log(`${APP_ID} (inngest-js) listening on http://${host}:${port}${SERVE_PATH}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    // Open keep-alive connections would hold close() up: drop them.
    server.closeAllConnections();
  });
}
