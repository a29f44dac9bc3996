// Drives a running `graft serve` (GRAFT_URL, GRAFT_MODEL) with the official
// openai client, the way users will. Through the front door of `graft up`
// it also needs GRAFT_API_KEY, GRAFT_ADAPTER_PREFIX ("deployment/") and the
// CA in NODE_EXTRA_CA_CERTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.GRAFT_URL;
const model = process.env.GRAFT_MODEL;
if (!baseURL || !model) throw new Error('set GRAFT_URL (…/v1) and GRAFT_MODEL');
const client = new OpenAI({ baseURL, apiKey: process.env.GRAFT_API_KEY ?? 'unused', maxRetries: 0 });
const prefix = process.env.GRAFT_ADAPTER_PREFIX ?? '';
const messages = [{ role: 'user', content: 'Tell me a story.' }];

test('models lists the base model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(model), `models: ${ids}`);
});

test('chat completion, whole and streamed, agree', async () => {
  const whole = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  assert.equal(whole.object, 'chat.completion');
  assert.match(whole.id, /^chatcmpl-/);
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.equal(whole.usage.completion_tokens, 12);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + 12);

  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, 'length');
  // The same prompt again: the stream's prompt came from the prefix cache.
  const { prompt_tokens_details: details, ...counts } = usage;
  const { prompt_tokens_details: wholeDetails, ...wholeCounts } = whole.usage;
  assert.deepEqual(counts, wholeCounts);
  assert.ok(details.cached_tokens >= wholeDetails.cached_tokens, `cached ${details.cached_tokens} after ${wholeDetails.cached_tokens}`);
});

test('completion, whole and streamed, agree', async () => {
  const whole = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 10, temperature: 0 });
  assert.equal(whole.object, 'text_completion');
  assert.match(whole.id, /^cmpl-/);
  const stream = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 10, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, whole.choices[0].text);
});

test('a repeated prompt reports its cached tokens in usage', async () => {
  const system = 'Lily and Tom play in the park with a red ball. '.repeat(6);
  const req = { model, messages: [{ role: 'system', content: system }, ...messages], max_tokens: 6, temperature: 0 };
  const first = await client.chat.completions.create(req);
  const second = await client.chat.completions.create(req);
  assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);
  const cached = second.usage.prompt_tokens_details.cached_tokens;
  // Whole 16-token KV blocks, short of the last prompt token.
  assert.ok(cached > 0 && cached % 16 === 0 && cached < second.usage.prompt_tokens, `cached ${cached} of ${second.usage.prompt_tokens}`);
  assert.equal(second.choices[0].message.content, first.choices[0].message.content);
});

test('adapters in the body (extra_body) merge adapters per request', async () => {
  // The Node SDK sends parameters it does not know as they are: its extra_body.
  const prompt = 'Once upon a time';
  const adapters = { ids: ['qv-r4', 'all-r8'], weights: [0.7, 1.3], merge_strategy: 'ties', density: 0.5, majority_sign_method: 'total' };
  const base = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0 });
  const texts = {};
  for (const merge_strategy of ['linear', 'ties', 'dare_linear', 'dare_ties']) {
    const req = { model, prompt, max_tokens: 12, temperature: 0, adapters: { ...adapters, merge_strategy, seed: 9 } };
    const [a, b] = await Promise.all([client.completions.create(req), client.completions.create(req)]);
    assert.equal(a.choices[0].text, b.choices[0].text, `${merge_strategy} repeats`);
    texts[merge_strategy] = a.choices[0].text;
  }
  assert.ok(Object.values(texts).some((t) => t !== base.choices[0].text), `merges all gave the base text: ${JSON.stringify(texts)}`);
  const chat = await client.chat.completions.create({ model, messages, max_tokens: 6, adapters });
  assert.equal(chat.choices[0].message.role, 'assistant');
  await assert.rejects(
    client.completions.create({ model, prompt, adapters: { ...adapters, density: 2 } }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
      assert.equal(err.param, 'adapters.density');
      return true;
    },
  );
});

test('n=2 and a seed repeat', async () => {
  const req = { model, prompt: 'Once upon a time', max_tokens: 8, n: 2, temperature: 1, seed: 42 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1]);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.ok(a.usage.completion_tokens <= 16 && a.usage.completion_tokens >= 2);
});

test('stop cuts the text before the stop string', async () => {
  const whole = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 30, temperature: 0 });
  const text = whole.choices[0].text;
  const word = text.trim().split(/\s+/)[3];
  const stopped = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stop: [word] });
  assert.equal(stopped.choices[0].text, text.slice(0, text.indexOf(word)));
  assert.equal(stopped.choices[0].finish_reason, 'stop');
});

test('an unknown model is a 404 model_not_found', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      return true;
    },
  );
});

test('a bad parameter is a 400 naming it', async () => {
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', temperature: -1 }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
      assert.equal(err.param, 'temperature');
      return true;
    },
  );
});

test('concurrent requests for different adapters each get their own golden text', async (t) => {
  const goldenPath = process.env.GRAFT_GOLDEN;
  if (!goldenPath) return t.skip('GRAFT_GOLDEN not set');
  const { readFile } = await import('node:fs/promises');
  const golden = JSON.parse(await readFile(goldenPath, 'utf8'));
  const runs = golden.reference.runs.filter((r) => r.prompt !== '');
  assert.ok(runs.length >= 5, 'golden runs for the base model and four adapters');
  // Two rounds of every run at once, so base and adapter rows share batches.
  const all = [...runs, ...runs].map(async (r) => {
    const res = await client.completions.create({
      model: r.adapter ? prefix + r.adapter : model, prompt: r.prompt, max_tokens: r.greedy_ids.length, temperature: 0,
    });
    return [r, res];
  });
  for (const [r, res] of await Promise.all(all)) {
    assert.equal(res.choices[0].text, r.text, `adapter ${r.adapter ?? 'base'}`);
    assert.equal(res.usage.completion_tokens, r.greedy_ids.length);
    assert.equal(res.usage.prompt_tokens, r.prompt_ids.length);
  }
});

test('models lists the adapters with the base model as parent', async () => {
  const cards = [];
  for await (const m of client.models.list()) cards.push(m);
  const adapters = cards.filter((m) => m.id !== model);
  assert.deepEqual(adapters.map((m) => m.id).sort(), ['all-r8', 'mlp-r16', 'o-r2-rslora', 'qv-r4'].map((a) => prefix + a));
  for (const m of adapters) assert.equal(m.parent, model);
});

test('through the front door, 401, 404 and 429 raise the SDK exceptions', async (t) => {
  const limited = process.env.GRAFT_LIMITED_KEY;
  if (!limited) return t.skip('GRAFT_LIMITED_KEY not set (only the front door has keys)');
  const wrong = new OpenAI({ baseURL, apiKey: 'graft-wrong', maxRetries: 0 });
  await assert.rejects(wrong.completions.create({ model, prompt: 'x', max_tokens: 1 }), OpenAI.AuthenticationError);
  await assert.rejects(client.completions.create({ model: 'no-such-deployment/x', prompt: 'x', max_tokens: 1 }), OpenAI.NotFoundError);
  const lim = new OpenAI({ baseURL, apiKey: limited, maxRetries: 0 });
  await lim.completions.create({ model, prompt: 'x', max_tokens: 1 });
  await assert.rejects(lim.completions.create({ model, prompt: 'x', max_tokens: 1 }), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
    assert.ok(Number(err.headers.get('retry-after')) >= 1, 'Retry-After');
    return true;
  });
});

const recipe = {
  type: 'object',
  properties: {
    title: { type: 'string', maxLength: 20 },
    servings: { type: 'integer', minimum: 1, maximum: 12 },
    vegan: { type: 'boolean' },
    tags: { type: 'array', items: { enum: ['quick', 'cheap', 'hot'] }, maxItems: 3 },
  },
  required: ['title', 'servings', 'vegan', 'tags'],
  additionalProperties: false,
};

test('chat.completions.parse returns the object a json_schema format constrained', async () => {
  const res = await client.chat.completions.parse({
    model, messages, max_tokens: 200, temperature: 1, seed: 7,
    response_format: { type: 'json_schema', json_schema: { name: 'recipe', schema: recipe, strict: true } },
  });
  const choice = res.choices[0];
  assert.equal(choice.finish_reason, 'stop');
  const r = choice.message.parsed;
  assert.deepEqual(r, JSON.parse(choice.message.content));
  assert.deepEqual(Object.keys(r), ['title', 'servings', 'vegan', 'tags']);
  assert.equal(typeof r.title, 'string');
  assert.ok(r.title.length <= 20);
  assert.ok(Number.isInteger(r.servings) && r.servings >= 1 && r.servings <= 12, `servings ${r.servings}`);
  assert.equal(typeof r.vegan, 'boolean');
  assert.ok(r.tags.length <= 3 && r.tags.every((t) => ['quick', 'cheap', 'hot'].includes(t)), `tags ${r.tags}`);
});

test('json_object output parses as an object', async () => {
  const res = await client.completions.create({
    model, prompt: 'Once upon a time', max_tokens: 40, temperature: 0, response_format: { type: 'json_object' },
  });
  assert.match(res.choices[0].text, /^\s*\{/);
});

test('an unsupported schema feature is a 400 naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model, messages, max_tokens: 10,
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object', properties: { n: { type: 'integer', multipleOf: 2 } } } } },
    }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
      assert.equal(err.param, 'response_format');
      assert.match(err.message, /multipleOf/);
      return true;
    },
  );
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    strict: true,
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
};

test('a tool call round trip: the call, the tool message, the answer', async () => {
  const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const first = await client.chat.completions.parse({
    model, messages: ask, tools: [weatherTool], tool_choice: 'required', parallel_tool_calls: false, max_tokens: 200, temperature: 0,
  });
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.match(call.id, /^call_/);
  const args = call.function.parsed_arguments;
  assert.deepEqual(args, JSON.parse(call.function.arguments));
  assert.deepEqual(Object.keys(args), ['city', 'unit']);
  assert.ok(['celsius', 'fahrenheit'].includes(args.unit));

  const answer = await client.chat.completions.create({
    model, tools: [weatherTool], max_tokens: 8, temperature: 0,
    messages: [...ask, choice.message, { role: 'tool', tool_call_id: call.id, content: '21 degrees and sunny' }],
  });
  assert.equal(answer.choices[0].message.role, 'assistant');
  assert.equal(typeof answer.choices[0].message.content, 'string');
  assert.equal(answer.choices[0].message.tool_calls, undefined);
  assert.equal(answer.choices[0].finish_reason, 'length');
});

for (const [label, tool_choice, finish] of [
  ['a named function', { type: 'function', function: { name: 'get_weather' } }, 'stop'],
  ['required', 'required', 'tool_calls'],
]) {
  test(`streamed tool calls (${label}) assemble into the same calls`, async () => {
    // One call: greedy, the tiny model would list calls until max_tokens.
    const req = { model, messages, tools: [weatherTool], max_tokens: 200, temperature: 0, tool_choice, parallel_tool_calls: false };
    const whole = await client.chat.completions.create(req);
    const runner = client.chat.completions.stream(req);
    let fragments = 0;
    runner.on('tool_calls.function.arguments.delta', () => { fragments++; });
    const streamed = await runner.finalChatCompletion();
    const [a, b] = [whole.choices[0], streamed.choices[0]];
    assert.equal(a.finish_reason, finish);
    assert.equal(b.finish_reason, finish);
    assert.ok(b.message.tool_calls.length >= 1);
    assert.deepEqual(
      b.message.tool_calls.map((c) => [c.function.name, c.function.arguments]),
      a.message.tool_calls.map((c) => [c.function.name, c.function.arguments]),
    );
    assert.ok(fragments > 1, `arguments came in ${fragments} fragments`);
    for (const c of b.message.tool_calls) JSON.parse(c.function.arguments);
  });
}
