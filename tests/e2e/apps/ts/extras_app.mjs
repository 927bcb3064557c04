// An app on the official Inngest TypeScript SDK (`inngest` 4.24.0) for what the conformance app
// does not cover: step.ai.infer with each provider format the SDK offers, and deferred runs
// (`createDefer` / `defer()`, experimental in 4.24.0). App id `xapp`, served at `/api/inngest`.
//
//   INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> PORT=<app port> node extras_app.mjs

import http from "node:http";

import {
  Inngest,
  anthropic,
  azureOpenai,
  deepseek,
  gemini,
  grok,
  openai,
  openaiResponses,
} from "inngest";
import { createDefer } from "inngest/experimental";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: "xapp" });

const models = {
  openai: (d) => openai({ model: "m-openai", apiKey: d.api_key, baseUrl: d.base_url }),
  "openai-responses": (d) =>
    openaiResponses({ model: "m-responses", apiKey: d.api_key, baseUrl: d.base_url }),
  anthropic: (d) =>
    anthropic({
      model: "m-anthropic",
      apiKey: d.api_key,
      baseUrl: d.base_url,
      defaultParameters: { max_tokens: 16 },
    }),
  gemini: (d) => gemini({ model: "m-gemini", apiKey: d.api_key, baseUrl: d.base_url }),
  grok: (d) => grok({ model: "m-grok", apiKey: d.api_key, baseUrl: d.base_url }),
  deepseek: (d) => deepseek({ model: "m-deepseek", apiKey: d.api_key, baseUrl: d.base_url }),
  "azure-openai": (d) =>
    azureOpenai({
      model: "m-azure",
      apiKey: d.api_key,
      endpoint: d.base_url,
      deployment: "dep",
      apiVersion: "2024-06-01",
    }),
};

// step.ai.infer with the provider format the event names.
const infer = inngest.createFunction(
  { id: "infer", retries: 0, triggers: [{ event: "x/infer" }] },
  async ({ event, step }) => {
    const model = models[event.data.format](event.data);
    const answer = await step.ai.infer("ask", {
      model,
      body: { messages: [{ role: "user", content: "hi" }] },
    });
    return { answer };
  },
);

// The deferred function: one run per defer() its parents made, with its own concurrency.
const child = createDefer(
  inngest,
  { id: "deferred-child", retries: 0, concurrency: { limit: 1 } },
  async ({ event, parents }) => ({ data: event.data, parents }),
);

// Defers two runs of `child` and aborts one; fails at the end when the event asks.
const parent = inngest.createFunction(
  { id: "deferring-parent", retries: 0, triggers: [{ event: "x/defer" }] },
  async ({ event, step, defer }) => {
    const { tag, fail } = event.data;
    await step.run("work", () => {
      defer("keep", { function: child, data: { tag, which: "keep" } });
      return "done";
    });
    const dropped = defer("drop", { function: child, data: { tag, which: "drop" } });
    dropped.abort();
    defer("late", { function: child, data: { tag, which: "late" } });
    if (fail) throw new Error(`parent ${tag} fails`);
    return { tag };
  },
);

const handler = serve({ client: inngest, functions: [infer, child, parent] });

const server = http.createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/api/inngest") return handler(req, res);
  res.writeHead(404, { "content-type": "application/json" });
  return res.end(JSON.stringify({ error: "not found" }));
});

const port = Number(process.env.PORT ?? "3000");
server.listen(port, process.env.HOST ?? "127.0.0.1", () => {
  console.log(`xapp (inngest-js) listening on ${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
