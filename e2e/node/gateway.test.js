// End-to-end tests of the gateway with the official openai npm package. e2e/node_test.go starts a gateway in
// front of a fake OpenAI upstream and runs these with SWITCHYARD_URL and SWITCHYARD_KEY set.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const baseURL = process.env.SWITCHYARD_URL;
const apiKey = process.env.SWITCHYARD_KEY;
if (!baseURL) {
  throw new Error("SWITCHYARD_URL is not set: run these tests through `go test ./e2e -run Node`");
}
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0 });

test("chat completion", async () => {
  const resp = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "What is Python?" }],
  });
  assert.equal(resp.choices[0].message.content, "Echo: What is Python?");
  assert.ok(resp.usage.total_tokens > 0);
});

test("streamed chat completion with usage", async () => {
  const stream = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "stream from node" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) text += choice.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, "Echo: stream from node");
  assert.ok(usage && usage.completion_tokens > 0);
});

test("tool calls", async () => {
  const resp = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "What's the weather in Seoul?" }],
    tools: [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Get the current weather for a location",
          parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
        },
      },
    ],
    tool_choice: "auto",
  });
  const call = resp.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments).location, "Seoul");
});

test("embeddings (the SDK asks for base64 and decodes it)", async () => {
  const resp = await client.embeddings.create({ model: "text-embedding-3-small", input: ["Hello world", "How are you?"] });
  assert.equal(resp.data.length, 2);
  assert.equal(resp.data[1].embedding.length, 8);
  assert.ok(resp.data[1].embedding.every((x) => typeof x === "number" && x >= -1 && x <= 1));
});

test("errors map to the SDK's error classes", async () => {
  const bad = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
  await assert.rejects(
    bad.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
    OpenAI.AuthenticationError,
  );
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
    OpenAI.NotFoundError,
  );
  await assert.rejects(
    client.chat.completions.create({ model: "gpt-4o", messages: "not a list" }),
    OpenAI.BadRequestError,
  );
});

test("models", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes("gpt-4o"));
});
