// An app on the official Inngest TypeScript SDK (`inngest` 4.24.0, pinned in package.json and
// package-lock.json), served by Node's http server through `inngest/node`.
//
// Started by the end-to-end tests as its own process:
//
//   INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> PORT=<app port> node app.mjs
//
// It holds one function per conformance scenario of protocol.md §10 (app id `myapp`, served at
// `/api/inngest`). Function ids, trigger names and return values are the same as in the Python
// app (`../py_fastapi_app.py`), so both are checked by the same tests.
//
// Besides the SDK's endpoint the app serves `GET /e2e/log`: every function request and every
// step body it executed, in order (`{"notes": [{fn, run_id, what, attempt, t, nonce}]}`). The
// tests read it to see what the server made the SDK do: how many attempts, which step bodies ran
// and when.
//
// And `GET /e2e/wire`: what went over the wire, in order. `requests` summarises every POST the
// server made to the SDK's endpoint (`{fn_id, step_id, run_id, use_api, ctx_use_api, steps,
// events, status}`: the request's use_api flags, how many memos and events it carried, and the
// status the SDK answered with); `api_calls` lists every HTTP call the SDK made itself
// (`{method, path, status}`), e.g. the `/v0/runs/{id}/actions` and `/batch` fetches of use_api.
//
// Functions 19 and later cover the ops the server performs or waits on for the SDK: step.ai.infer,
// step.fetch, step.waitForSignal, a parallel race, and run state too large to send (use_api).

import { createHash } from "node:crypto";
import http from "node:http";
import { Readable } from "node:stream";

import {
  Inngest,
  NonRetriableError,
  RetryAfterError,
  StepError,
  openai,
  referenceFunction,
} from "inngest";
import { serve } from "inngest/node";

const APP_ID = "myapp";
const SERVE_PATH = "/api/inngest";

const devMode = process.env.INNGEST_DEV ?? "";
if (devMode === "" || devMode === "0" || devMode === "false") {
  console.error("set INNGEST_DEV=1 (and INNGEST_BASE_URL): this app talks to a dev server");
  process.exit(2);
}

const wire = { requests: [], api_calls: [] };

// The SDK makes its own HTTP calls (sync, use_api fetches, checkpoints) with the global fetch,
// which it looks up when it first needs it: wrapped here, before that, to record them.
const globalFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const call = {
    method: init?.method ?? (input instanceof Request ? input.method : "GET"),
    path: url.pathname,
    status: null,
  };
  wire.api_calls.push(call);
  const response = await globalFetch(input, init);
  call.status = response.status;
  return response;
};

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

// 3. Basic invoke: no steps, the return value is the run's output.
const basic = inngest.createFunction(
  { id: "basic", triggers: [{ event: "e2e/basic" }] },
  async (ctx) => {
    note(ctx, "basic");
    return { name: ctx.event.name, body: "ok", data: ctx.event.data };
  },
);

// 4. Serial steps and a sleep.
const steps = inngest.createFunction(
  { id: "steps", triggers: [{ event: "e2e/steps" }] },
  async (ctx) => {
    note(ctx, "steps");
    const first = await ctx.step.run("first step", () => {
      note(ctx, "steps", "step:first step");
      return "first step";
    });
    await ctx.step.sleep("sleep", "2s");
    const second = await ctx.step.run("second step", () => {
      note(ctx, "steps", "step:second step");
      return "second step";
    });
    return { first, second };
  },
);

// 5. A step that throws on its first attempt only.
const retryStep = inngest.createFunction(
  { id: "retry-step", triggers: [{ event: "e2e/retry-step" }] },
  async (ctx) => {
    note(ctx, "retry-step");
    const attempt = await ctx.step.run("flaky", () => {
      note(ctx, "retry-step", "step:flaky");
      if (ctx.attempt === 0) {
        throw new Error("flaky on the first attempt");
      }
      return ctx.attempt;
    });
    return { attempt };
  },
);

// 5. The function itself throws on its first attempt only.
const retryFn = inngest.createFunction(
  { id: "retry-fn", triggers: [{ event: "e2e/retry-fn" }] },
  async (ctx) => {
    note(ctx, "retry-fn");
    if (ctx.attempt === 0) {
      throw new Error("flaky on the first attempt");
    }
    return { attempt: ctx.attempt };
  },
);

// 6. A step that always throws: 2 attempts, then the uncaught StepError fails the run.
const exhaust = inngest.createFunction(
  { id: "exhaust", retries: 1, triggers: [{ event: "e2e/exhaust" }] },
  async (ctx) => {
    note(ctx, "exhaust");
    return await ctx.step.run("always fails", () => {
      note(ctx, "exhaust", "step:always fails");
      throw new Error("boom");
    });
  },
);

// 7. The same, but the function catches the step's error and recovers.
const caught = inngest.createFunction(
  { id: "caught", retries: 1, triggers: [{ event: "e2e/caught" }] },
  async (ctx) => {
    note(ctx, "caught");
    try {
      await ctx.step.run("always fails", () => {
        note(ctx, "caught", "step:always fails");
        throw new Error("boom");
      });
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      return { recovered: true, name: err.name, message: err.message };
    }
    return { recovered: false };
  },
);

// 8. NonRetriableError at function level: one request, then the run fails.
const nonRetriable = inngest.createFunction(
  { id: "non-retriable", triggers: [{ event: "e2e/non-retriable" }] },
  async (ctx) => {
    note(ctx, "non-retriable");
    throw new NonRetriableError("nope");
  },
);

// 9. RetryAfterError: the next attempt comes no sooner than asked.
const retryAfter = inngest.createFunction(
  { id: "retry-after", triggers: [{ event: "e2e/retry-after" }] },
  async (ctx) => {
    note(ctx, "retry-after");
    if (ctx.attempt === 0) {
      throw new RetryAfterError("later", "3s");
    }
    return { attempt: ctx.attempt };
  },
);

// 10. onFailure: the handler runs as its own function, myapp-with-handler-failure.
const withHandler = inngest.createFunction(
  {
    id: "with-handler",
    triggers: [{ event: "e2e/with-handler" }],
    onFailure: async (ctx) => {
      note(ctx, "with-handler-failure");
      return {
        event: ctx.event.name,
        function_id: ctx.event.data.function_id,
        run_id: ctx.event.data.run_id,
        message: ctx.error.message,
      };
    },
  },
  async (ctx) => {
    note(ctx, "with-handler");
    throw new NonRetriableError("handler please");
  },
);

// 11. waitForEvent with an `if` expression; the trigger's data.timeout_s sets the timeout.
const wait = inngest.createFunction(
  { id: "wait", triggers: [{ event: "e2e/wait" }] },
  async (ctx) => {
    note(ctx, "wait");
    const timeoutS = ctx.event.data.timeout_s ?? 30;
    const resumed = await ctx.step.waitForEvent("wait", {
      event: "e2e/wait.resume",
      if: "async.data.resume == true && async.data.id == event.data.id",
      timeout: `${timeoutS}s`,
    });
    if (resumed === null) {
      return { resumed: null };
    }
    return { resumed: resumed.data, name: resumed.name };
  },
);

// 12. Cancellation by event: a run sleeps between two steps.
const cancellable = inngest.createFunction(
  {
    id: "cancellable",
    triggers: [{ event: "e2e/cancellable" }],
    cancelOn: [
      {
        event: "e2e/cancellable.cancel",
        if: "event.data.request_id == async.data.request_id",
      },
    ],
  },
  async (ctx) => {
    note(ctx, "cancellable");
    await ctx.step.run("before", () => {
      note(ctx, "cancellable", "step:before");
      return "before";
    });
    await ctx.step.sleep("nap", "5s");
    return await ctx.step.run("after", () => {
      note(ctx, "cancellable", "step:after");
      return "after";
    });
  },
);

// 13. Parallel steps.
const parallel = inngest.createFunction(
  { id: "parallel", triggers: [{ event: "e2e/parallel" }] },
  async (ctx) => {
    note(ctx, "parallel");
    return await Promise.all([
      ctx.step.run("a", () => {
        note(ctx, "parallel", "step:a");
        return 1;
      }),
      ctx.step.run("b", () => {
        note(ctx, "parallel", "step:b");
        return 2;
      }),
    ]);
  },
);

// 14. Invoke: a child with no trigger at all (it registers `triggers: []`).
const invokeChild = inngest.createFunction({ id: "invoke-child" }, async (ctx) => {
  note(ctx, "invoke-child");
  return ctx.event.data.x * 42;
});

const invoker = inngest.createFunction(
  { id: "invoker", triggers: [{ event: "e2e/invoker" }] },
  async (ctx) => {
    note(ctx, "invoker");
    const result = await ctx.step.invoke("inv", {
      function: invokeChild,
      data: { x: ctx.event.data.x, nonce: ctx.event.data.nonce },
    });
    return { result };
  },
);

const invokeMissing = inngest.createFunction(
  { id: "invoke-missing", triggers: [{ event: "e2e/invoke-missing" }] },
  async (ctx) => {
    note(ctx, "invoke-missing");
    try {
      await ctx.step.invoke("inv", {
        function: referenceFunction({ functionId: "does-not-exist" }),
        data: {},
      });
    } catch (err) {
      return { name: err.name, message: err.message };
    }
    return { name: null, message: null };
  },
);

const slowChild = inngest.createFunction({ id: "slow-child" }, async (ctx) => {
  note(ctx, "slow-child");
  await ctx.step.sleep("slowly", "6s");
  return "too late";
});

const invokeTimeout = inngest.createFunction(
  { id: "invoke-timeout", triggers: [{ event: "e2e/invoke-timeout" }] },
  async (ctx) => {
    note(ctx, "invoke-timeout");
    try {
      await ctx.step.invoke("inv", {
        function: slowChild,
        data: { nonce: ctx.event.data.nonce },
        timeout: "2s",
      });
    } catch (err) {
      return { name: err.name, message: err.message };
    }
    return { name: null, message: null };
  },
);

// 15. sendEvent step; the sent event triggers sent-receiver.
const sendEvent = inngest.createFunction(
  { id: "send-event", triggers: [{ event: "e2e/send-event" }] },
  async (ctx) => {
    note(ctx, "send-event");
    const sent = await ctx.step.sendEvent("send", {
      name: "e2e/sent",
      data: { from_run: ctx.runId, nonce: ctx.event.data.nonce },
    });
    return { ids: sent.ids };
  },
);

const sentReceiver = inngest.createFunction(
  { id: "sent-receiver", triggers: [{ event: "e2e/sent" }] },
  async (ctx) => {
    note(ctx, "sent-receiver");
    return { got: ctx.event.data };
  },
);

// 16. Idempotent event ids: the test sends the same id twice.
const idem = inngest.createFunction(
  { id: "idem", triggers: [{ event: "e2e/idem" }] },
  async (ctx) => {
    note(ctx, "idem");
    return { id: ctx.event.id };
  },
);

// 17. Cron, every minute.
const cron = inngest.createFunction(
  { id: "cron", triggers: [{ cron: "* * * * *" }] },
  async (ctx) => {
    note(ctx, "cron");
    return { name: ctx.event.name, data: ctx.event.data };
  },
);

// 18. Batching: up to 3 events or 5 s.
const batch = inngest.createFunction(
  {
    id: "batch",
    triggers: [{ event: "e2e/batch" }],
    batchEvents: { maxSize: 3, timeout: "5s" },
  },
  async (ctx) => {
    note(ctx, "batch");
    return {
      count: ctx.events.length,
      values: ctx.events.map((event) => event.data.i),
      first: ctx.event.data.i,
    };
  },
);

// 18. Debounce: 2 s after the last event, with that event.
const debounce = inngest.createFunction(
  {
    id: "debounce",
    triggers: [{ event: "e2e/debounce" }],
    debounce: { period: "2s" },
  },
  async (ctx) => {
    note(ctx, "debounce");
    return { i: ctx.event.data.i, events: ctx.events.length };
  },
);

// 19. step.ai.infer (an AIGateway op: the server calls the provider). The test passes the base
// URL of a stand-in provider it runs on loopback, and the key the server must forward.
const aiInfer = inngest.createFunction(
  { id: "ai-infer", retries: 1, triggers: [{ event: "e2e/ai-infer" }] },
  async (ctx) => {
    note(ctx, "ai-infer");
    const { base_url: baseUrl, api_key: apiKey, prompt } = ctx.event.data;
    try {
      const answer = await ctx.step.ai.infer("ask", {
        model: openai({ model: "stand-in-model", apiKey, baseUrl }),
        body: { messages: [{ role: "user", content: prompt }], temperature: 0 },
      });
      return { answer };
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      return { error: { name: err.name, message: err.message } };
    }
  },
);

// 20. step.fetch (a Gateway op: the server makes the request) to a URL the test gives.
const fetchFn = inngest.createFunction(
  { id: "fetch", retries: 1, triggers: [{ event: "e2e/fetch" }] },
  async (ctx) => {
    note(ctx, "fetch");
    const { url, nonce } = ctx.event.data;
    try {
      const response = await ctx.step.fetch(url, {
        method: "POST",
        headers: { "content-type": "text/plain", "x-e2e-nonce": nonce },
        body: `hello ${nonce}`,
      });
      return {
        status: response.status,
        body: await response.text(),
        header: response.headers.get("x-stand-in"),
      };
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      return { error: { name: err.name, message: err.message } };
    }
  },
);

// 21. step.waitForSignal: resumed by POST /v1/signals, or null after data.timeout_s.
const signal = inngest.createFunction(
  { id: "signal", triggers: [{ event: "e2e/signal" }] },
  async (ctx) => {
    note(ctx, "signal");
    const got = await ctx.step.waitForSignal("wait", {
      signal: ctx.event.data.signal,
      timeout: `${ctx.event.data.timeout_s ?? 30}s`,
    });
    return { got };
  },
);

// 22. A race: the first of two parallel steps decides; the slow one still runs to its end.
const race = inngest.createFunction(
  { id: "race", triggers: [{ event: "e2e/race" }] },
  async (ctx) => {
    note(ctx, "race");
    const winner = await ctx.group.parallel({ mode: "race" }, () =>
      Promise.race([
        ctx.step.run("fast", () => {
          note(ctx, "race", "step:fast");
          return "fast";
        }),
        ctx.step.run("slow", async () => {
          note(ctx, "race", "step:slow:start");
          await new Promise((resolve) => setTimeout(resolve, ctx.event.data.slow_ms ?? 2000));
          note(ctx, "race", "step:slow");
          return "slow";
        }),
      ]),
    );
    return { winner };
  },
);

/** `size` characters repeating `${seed}0123456789`: a step result too big to send twice. */
function blob(seed, size) {
  const unit = `${seed}0123456789`;
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

function digest(text) {
  return { length: text.length, sha256: createHash("sha256").update(text).digest("hex") };
}

// 23. Run state over 4 MiB: two ~3 MB step results, then a sleep, so that the next request
// has to be sent with `steps: {}` and `use_api: true` (the SDK fetches the memos itself).
const bigState = inngest.createFunction(
  { id: "big-state", retries: 0, triggers: [{ event: "e2e/big-state" }] },
  async (ctx) => {
    note(ctx, "big-state");
    const size = ctx.event.data.size;
    const a = await ctx.step.run("blob a", () => {
      note(ctx, "big-state", "step:blob a");
      return blob("a", size);
    });
    const b = await ctx.step.run("blob b", () => {
      note(ctx, "big-state", "step:blob b");
      return blob("b", size);
    });
    await ctx.step.sleep("settle", "1s");
    return {
      a: digest(a),
      b: digest(b),
      nonce: ctx.event.data.nonce,
      events: ctx.events.length,
    };
  },
);

const functions = [
  basic,
  steps,
  retryStep,
  retryFn,
  exhaust,
  caught,
  nonRetriable,
  retryAfter,
  withHandler,
  wait,
  cancellable,
  parallel,
  invokeChild,
  invoker,
  invokeMissing,
  slowChild,
  invokeTimeout,
  sendEvent,
  sentReceiver,
  idem,
  cron,
  batch,
  debounce,
  aiInfer,
  fetchFn,
  signal,
  race,
  bigState,
];

const handler = serve({ client: inngest, functions });

/** What a call from the server carried, in brief (for `GET /e2e/wire`). */
function summarise(url, raw) {
  const query = new URL(url ?? "/", "http://app").searchParams;
  const entry = {
    fn_id: query.get("fnId"),
    step_id: query.get("stepId"),
    run_id: null,
    use_api: null,
    ctx_use_api: null,
    steps: null,
    events: null,
    status: null,
  };
  try {
    const body = JSON.parse(raw.toString("utf8"));
    entry.run_id = body.ctx?.run_id ?? null;
    entry.use_api = body.use_api ?? null;
    entry.ctx_use_api = body.ctx?.use_api ?? null;
    entry.steps = Object.keys(body.steps ?? {}).length;
    entry.events = (body.events ?? []).length;
  } catch {
    // Not JSON: recorded with its query only.
  }
  return entry;
}

/** Record a call from the server, then hand it to the SDK with its body replayed. */
async function recordCall(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  const entry = summarise(req.url, raw);
  wire.requests.push(entry);
  const writeHead = res.writeHead.bind(res);
  res.writeHead = (status, ...rest) => {
    entry.status = status;
    return writeHead(status, ...rest);
  };
  // The SDK reads the body with req.on("data"/"end") and the rest from these fields.
  const replay = Object.assign(Readable.from([raw]), {
    headers: req.headers,
    method: req.method,
    url: req.url,
    socket: req.socket,
  });
  return handler(replay, res);
}

function sendJson(res, body) {
  res.writeHead(200, { "content-type": "application/json" });
  return res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path === SERVE_PATH) {
    if (req.method === "POST") {
      return recordCall(req, res).catch((err) => {
        console.error("recording a call failed", err);
        res.destroy(err);
      });
    }
    return handler(req, res);
  }
  if (path === "/e2e/log" && req.method === "GET") {
    return sendJson(res, { notes });
  }
  if (path === "/e2e/wire" && req.method === "GET") {
    return sendJson(res, wire);
  }
  res.writeHead(404, { "content-type": "application/json" });
  return res.end(JSON.stringify({ error: "not found" }));
});

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? "3000");
server.listen(port, host, () => {
  console.log(`myapp (inngest-js) listening on http://${host}:${port}${SERVE_PATH}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    // Open keep-alive connections would hold close() up: drop them.
    server.closeAllConnections();
  });
}
