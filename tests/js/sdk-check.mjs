// The AWS SDK for JavaScript v3's default Bedrock runtime client (HTTP/2 handler) against the emulator.
// Usage: node sdk-check.mjs INPUT.json   (region, http/https endpoints, credentials, api key, a PNG, which checks)
// Prints one JSON document: {"results": [{name, auth, ok, ...facts}]}; pytest asserts on it.
import { readFileSync } from "node:fs";
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const STREAM_MODEL = "us.meta.llama3-3-70b-instruct-v1:0";
const MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0";
const decoder = new TextDecoder();

function client(auth) {
  const common = { region: input.region, maxAttempts: 3 };
  if (auth === "sigv4") {
    return new BedrockRuntimeClient({
      ...common,
      endpoint: input.http,
      credentials: { accessKeyId: input.credentials.access_key_id, secretAccessKey: input.credentials.secret_access_key },
    });
  }
  return new BedrockRuntimeClient({
    ...common,
    endpoint: input.https, // the CA comes from NODE_EXTRA_CA_CERTS
    token: { token: input.credentials.api_key },
    authSchemePreference: ["httpBearerAuth"],
  });
}

const user = (text, extra = []) => [{ role: "user", content: [{ text }, ...extra] }];
const tokens = (n) => ({ "evals.target_output_tokens": String(n) });

const checks = {
  async converse_text(c) {
    const r = await c.send(new ConverseCommand({ modelId: STREAM_MODEL, messages: user("Say something."),
      requestMetadata: tokens(6) }));
    return { text: r.output.message.content[0].text, outputTokens: r.usage.outputTokens, serviceTier: r.serviceTier,
      performanceConfig: r.performanceConfig, status: r.$metadata.httpStatusCode };
  },
  async converse_image(c) {
    const image = { image: { format: "png", source: { bytes: Buffer.from(input.png_b64, "base64") } } };
    const r = await c.send(new ConverseCommand({ modelId: MAVERICK, messages: user("Describe the picture.", [image]),
      inferenceConfig: { maxTokens: 16 } }));
    if (!r.output) throw new Error("no output in " + JSON.stringify(r).slice(0, 800));
    return { text: r.output.message.content[0].text, inputTokens: r.usage.inputTokens, stopReason: r.stopReason };
  },
  async converse_stream(c) {
    const r = await c.send(new ConverseStreamCommand({ modelId: STREAM_MODEL, messages: user("Stream please."),
      requestMetadata: tokens(5) }));
    const events = [];
    let text = "";
    let usage = null;
    for await (const event of r.stream) {
      const kind = Object.keys(event).find((k) => event[k] !== undefined);
      events.push(kind);
      if (kind === "contentBlockDelta") text += event.contentBlockDelta.delta.text;
      if (kind === "metadata") usage = event.metadata.usage;
    }
    return { events, text, usage };
  },
  async invoke_stream(c) {
    const body = new TextEncoder().encode(JSON.stringify({ prompt: "Stream an answer.", max_gen_len: 4 }));
    const r = await c.send(new InvokeModelWithResponseStreamCommand({ modelId: STREAM_MODEL, body,
      contentType: "application/json" }));
    const chunks = [];
    for await (const event of r.body) {
      if (event.chunk) chunks.push(JSON.parse(decoder.decode(event.chunk.bytes)));
    }
    const last = chunks[chunks.length - 1];
    return { chunks: chunks.length, text: chunks.map((x) => x.generation).join(""),
      metrics: last["amazon-bedrock-invocationMetrics"], serviceTier: r.serviceTier };
  },
  async invoke(c) {
    const body = new TextEncoder().encode(JSON.stringify({ prompt: "Answer briefly.", max_gen_len: 8 }));
    const r = await c.send(new InvokeModelCommand({ modelId: STREAM_MODEL, body, contentType: "application/json" }));
    const answer = JSON.parse(decoder.decode(r.body));
    return { generation: answer.generation, outputTokens: answer.generation_token_count, serviceTier: r.serviceTier,
      performanceConfigLatency: r.performanceConfigLatency };
  },
  async maverick_stream_refused(c) {
    try {
      const r = await c.send(new ConverseStreamCommand({ modelId: MAVERICK, messages: user("Stream?") }));
      for await (const _ of r.stream) { /* must not get here */ }
      return { refused: false };
    } catch (err) {
      return { refused: true, errorName: err.name, typed: err instanceof ValidationException,
        status: err.$metadata?.httpStatusCode, message: err.message };
    }
  },
  async throttled_then_retried(c) {
    const r = await c.send(new ConverseCommand({ modelId: STREAM_MODEL, messages: user("Retry me."),
      requestMetadata: tokens(3) }));
    return { attempts: r.$metadata.attempts, totalRetryDelay: r.$metadata.totalRetryDelay,
      outputTokens: r.usage.outputTokens };
  },
};

const results = [];
for (const auth of input.auths) {
  const c = client(auth);
  for (const name of input.checks) {
    try {
      results.push({ name, auth, ok: true, ...(await checks[name](c)) });
    } catch (err) {
      results.push({ name, auth, ok: false, error: `${err.name}: ${err.message}`, code: err.code, stack: String(err.stack).slice(0, 1500) });
    }
  }
  c.destroy();
}
process.stdout.write(JSON.stringify({ results }) + "\n");
