// An app on the official Inngest TypeScript SDK (`inngest` 4.24.0) with durable endpoints (HTTP
// handlers wrapped by `inngest.endpoint`, whose runs the SDK checkpoints to the server) and a
// function writing run metadata and scores through the SDK's metadata API. App id `dep`.
//
//   INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> PORT=<app port> node endpoint_app.mjs
//
// Endpoints (the query string `n` is echoed back):
//   /ep/quick   two steps, answered in the request
//   /ep/sleepy  a step, a 1 s sleep, a step: the run goes on asynchronously (302 to the output)
//   /ep/token   as sleepy, but the SDK answers {run_id, token} instead of redirecting
//   /ep/slow    as sleepy, with a 3 s sleep (long enough to restart the server during it)
//   /ep/fails   a step, then a NonRetriableError (answered in the request)
//   /ep/streams as sleepy, and its step after the sleep streams three chunks (`stream.push`):
//               sent to the server's tee, as the run is asynchronous by then

import http from "node:http";

import { Inngest, NonRetriableError, step } from "inngest";
import { metadataMiddleware } from "inngest/experimental";
import { stream } from "inngest/experimental/durable-endpoints";
import { endpointAdapter, serve, serveEndpoint } from "inngest/node";

const inngest = new Inngest({ id: "dep", endpointAdapter, middleware: [metadataMiddleware()] });
const tokenClient = new Inngest({
  id: "dep-token",
  // Not `withOptions`: that sets the options of the one shared adapter, for every client.
  endpointAdapter: (options) => endpointAdapter({ ...options, asyncResponse: "token" }),
});

const param = (req) => new URL(req.url).searchParams.get("n") ?? "";

const quick = inngest.endpoint(async (req) => {
  const n = param(req);
  const a = await step.run("one", () => 1);
  const b = await step.run("two", () => a + 1);
  return { n, sum: a + b };
});

const sleepy = (client, nap = "1s") =>
  client.endpoint(async (req) => {
    const n = param(req);
    const before = await step.run("before", () => `before-${n}`);
    await step.sleep("nap", nap);
    // After the sleep the handler runs again for the server's call, not the caller's request
    // (its query string is gone, as with Inngest): what it needs comes from stored steps.
    const after = await step.run("after", () => before.replace("before", "after"));
    return { before, after };
  });

const streams = inngest.endpoint(async (req) => {
  const n = param(req);
  const before = await step.run("before", () => `before-${n}`);
  await step.sleep("nap", "1s");
  const after = await step.run("after", () => {
    for (const i of [1, 2, 3]) stream.push({ chunk: i, of: before });
    return before.replace("before", "after");
  });
  return { before, after };
});

const fails = inngest.endpoint(async (req) => {
  const n = param(req);
  await step.run("one", () => 1);
  throw new NonRetriableError(`endpoint ${n} gives up`);
});

// Writes metadata (run- and step-scoped) and a score through the SDK's API calls, then tries
// values over Inngest's limits and returns what the server said. Inside `step.run("inside")`
// the SDK attaches its metadata to the step's op instead (one update over the 64 KiB limit,
// which the server drops without failing the run).
const meta = inngest.createFunction(
  { id: "meta", retries: 0, triggers: [{ event: "dep/meta" }] },
  async ({ event, runId, step: tools }) => {
    await tools.run("work", () => "worked");
    await tools.run("inside", async () => {
      await inngest.metadata.set({ phase: "inside", tag: event.data.tag }, "progress");
      await inngest.metadata.set({ blob: "x".repeat(70_000) }, "huge");
      return "inside";
    });
    await inngest.metadata.run(runId).set({ tag: event.data.tag, n: 1 }, "tags");
    await inngest.metadata.run(runId).step("work").set({ where: "work" });
    await inngest.score({ runId, name: "accuracy", value: 0.75 });
    const refused = [];
    for (const size of event.data.sizes ?? []) {
      try {
        await inngest.metadata.run(runId).set({ blob: "x".repeat(size) }, `big${size}`);
        refused.push(null);
      } catch (err) {
        refused.push(String(err?.message ?? err));
      }
    }
    return { refused };
  },
);

const handler = serve({ client: inngest, functions: [meta] });
const endpoints = {
  "/ep/quick": serveEndpoint(quick),
  "/ep/sleepy": serveEndpoint(sleepy(inngest)),
  "/ep/token": serveEndpoint(sleepy(tokenClient)),
  "/ep/slow": serveEndpoint(sleepy(inngest, "3s")),
  "/ep/fails": serveEndpoint(fails),
  "/ep/streams": serveEndpoint(streams),
};

const server = http.createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/api/inngest") return handler(req, res);
  if (endpoints[path]) return endpoints[path](req, res);
  res.writeHead(404, { "content-type": "application/json" });
  return res.end(JSON.stringify({ error: "not found" }));
});

const port = Number(process.env.PORT ?? "3000");
server.listen(port, process.env.HOST ?? "127.0.0.1", () => {
  console.log(`dep (inngest-js) listening on ${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
