// Drives Graft's files and fine-tuning API through the front door of
// `graft up` with the official openai client, as a user would: upload a
// dataset, fine-tune, poll, then chat with the fine-tuned model.
//
// GRAFT_URL (…/v1), GRAFT_API_KEY, NODE_EXTRA_CA_CERTS: the front door.
// GRAFT_MODEL: the deployment to fine-tune for. GRAFT_OTHER_KEY: a key of
// another tenant. GRAFT_FT_EPOCHS, GRAFT_FT_LR: the training settings.
// GRAFT_FT_REPORT: a file the figures are written to as JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { pairs, malformed } from './stories.mjs';

const baseURL = process.env.GRAFT_URL;
const model = process.env.GRAFT_MODEL;
if (!baseURL || !model) throw new Error('set GRAFT_URL (…/v1) and GRAFT_MODEL');
const client = new OpenAI({ baseURL, apiKey: process.env.GRAFT_API_KEY, maxRetries: 0 });
const other = new OpenAI({ baseURL, apiKey: process.env.GRAFT_OTHER_KEY ?? 'unused', maxRetries: 0 });
const epochs = Number(process.env.GRAFT_FT_EPOCHS ?? 2);
const lr = Number(process.env.GRAFT_FT_LR ?? 50);
const report = {};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(id, done, what, limitMs = 15 * 60_000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const job = await client.fineTuning.jobs.retrieve(id);
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} is still ${job.status}, waiting for ${what}`);
    await sleep(250);
  }
}

async function metrics(id) {
  const out = [];
  for await (const e of client.fineTuning.jobs.listEvents(id, { limit: 100 })) {
    assert.equal(e.object, 'fine_tuning.job.event');
    if (e.type === 'metrics') out.push(e.data);
  }
  return out.sort((a, b) => a.step - b.step);
}

const upload = async (text, name) => client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'fine-tune' });

test('a malformed dataset is refused at upload, naming the lines and why', async () => {
  await assert.rejects(upload(malformed, 'bad.jsonl'), (err) => {
    assert.equal(err.status, 400);
    assert.match(err.message, /line 2: /);
    assert.match(err.message, /line 3: /);
    assert.doesNotMatch(err.message, /line 1: /);
    report.malformed = err.message;
    return true;
  });
});

let train, valid;

test('files: upload, list, retrieve, content, delete', async () => {
  const text = pairs(300, 1);
  train = await upload(text, 'stories-train.jsonl');
  valid = await upload(pairs(40, 2), 'stories-valid.jsonl');
  assert.match(train.id, /^file-/);
  assert.equal(train.object, 'file');
  assert.equal(train.purpose, 'fine-tune');
  assert.equal(train.bytes, Buffer.byteLength(text));
  assert.equal(train.filename, 'stories-train.jsonl');
  const ids = [];
  for await (const f of client.files.list()) ids.push(f.id);
  assert.ok(ids.includes(train.id) && ids.includes(valid.id), `list: ${ids}`);
  assert.equal((await client.files.retrieve(train.id)).bytes, train.bytes);
  assert.equal(await (await client.files.content(train.id)).text(), text);
  // Another tenant sees none of it.
  await assert.rejects(other.files.retrieve(train.id), (e) => e.status === 404);
  const spare = await upload(pairs(5, 3), 'spare.jsonl');
  const del = await client.files.delete(spare.id);
  assert.deepEqual([del.id, del.deleted], [spare.id, true]);
  await assert.rejects(client.files.retrieve(spare.id), (e) => e.status === 404);
});

test('fine-tune, poll to succeeded, chat with the fine-tuned model; the held-out loss drops', async () => {
  const started = Date.now();
  const job = await client.fineTuning.jobs.create({
    model, training_file: train.id, validation_file: valid.id, suffix: 'tales', seed: 7,
    hyperparameters: { n_epochs: epochs, batch_size: 8, learning_rate_multiplier: lr },
  });
  assert.match(job.id, /^ftjob-/);
  assert.equal(job.object, 'fine_tuning.job');
  assert.ok(['validating_files', 'queued'].includes(job.status), job.status);
  assert.equal(job.fine_tuned_model, null);
  // The base model's loss on the held-out lines, measured by the same
  // trainer: one epoch at a vanishing learning rate leaves the adapter
  // at its start (B = 0, the base model). One job trains at a time, so it
  // waits for the first.
  const base = await client.fineTuning.jobs.create({
    model, training_file: train.id, validation_file: valid.id, suffix: 'base', seed: 7,
    hyperparameters: { n_epochs: 1, batch_size: 8, learning_rate_multiplier: 1e-6 },
  });
  await until(job.id, (j) => j.status === 'running', 'running');
  const queued = await client.fineTuning.jobs.retrieve(base.id);
  assert.ok(['validating_files', 'queued'].includes(queued.status), `second job ${queued.status} while the first runs`);

  const done = await until(job.id, (j) => j.status !== 'running' && j.status !== 'queued', 'the end');
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  report.job_seconds = (Date.now() - started) / 1000;
  assert.match(done.fine_tuned_model, new RegExp(`^${model}/ft/[a-z0-9-]+/tales-`));
  assert.equal(done.hyperparameters.n_epochs, epochs);
  assert.ok(done.trained_tokens > 0);
  const steps = await metrics(job.id);
  assert.ok(steps.length > 0, 'no metrics events');
  const last = steps[steps.length - 1];
  assert.equal(last.step, last.total_steps);
  report.steps = last.total_steps;
  report.first_train_loss = steps[0].train_loss;
  report.last_train_loss = last.train_loss;
  report.tuned_valid_loss = steps.filter((s) => s.valid_loss !== undefined).at(-1).valid_loss;

  // The step metrics again, as OpenAI's result file: one CSV row per step.
  assert.equal(done.result_files.length, 1);
  const results = await client.files.retrieve(done.result_files[0]);
  assert.equal(results.purpose, 'fine-tune-results');
  const rows = (await (await client.files.content(results.id)).text()).trim().split('\n');
  assert.equal(rows[0], 'step,train_loss,valid_loss,learning_rate,tokens');
  assert.deepEqual(rows.slice(1).map((r) => Number(r.split(',')[0])), steps.map((s) => s.step));
  assert.equal(Number(rows.at(-1).split(',')[1]), last.train_loss);

  // Served at once, with the same key.
  const messages = [{ role: 'user', content: 'Tell me a story about a dog.' }];
  const tuned = await client.chat.completions.create({ model: done.fine_tuned_model, messages, max_tokens: 40, temperature: 0 });
  const plain = await client.chat.completions.create({ model, messages, max_tokens: 40, temperature: 0 });
  report.tuned_answer = tuned.choices[0].message.content;
  report.base_answer = plain.choices[0].message.content;
  assert.equal(tuned.model, done.fine_tuned_model);
  // The taught shape: "NAME the dog ... One day NAME was very FEELING. The end."
  assert.match(report.tuned_answer, /^[A-Z][a-z]+ the dog .*One day .* The end\./s);
  assert.doesNotMatch(report.base_answer, /The end\./);
  // ... and only by its tenant.
  await assert.rejects(other.chat.completions.create({ model: done.fine_tuned_model, messages, max_tokens: 4 }),
    (e) => e.status === 404);
  await assert.rejects(other.fineTuning.jobs.retrieve(job.id), (e) => e.status === 404);

  const b = await until(base.id, (j) => j.status !== 'running' && j.status !== 'queued' && j.status !== 'validating_files', 'the end');
  assert.equal(b.status, 'succeeded', JSON.stringify(b.error));
  report.base_valid_loss = (await metrics(base.id)).filter((s) => s.valid_loss !== undefined).at(-1).valid_loss;
  report.margin = report.base_valid_loss - report.tuned_valid_loss;
  assert.ok(report.margin > 1, `held-out loss: base ${report.base_valid_loss}, fine-tuned ${report.tuned_valid_loss}`);

  const listed = await client.fineTuning.jobs.list({ limit: 1 });
  assert.equal(listed.data.length, 1);
  assert.equal(listed.data[0].id, base.id); // newest first
  const next = await client.fineTuning.jobs.list({ limit: 1, after: base.id });
  assert.equal(next.data[0].id, job.id);
});

test('cancel mid-run: cancelled, nothing published', async () => {
  const job = await client.fineTuning.jobs.create({
    model, training_file: train.id, suffix: 'cancelled',
    hyperparameters: { n_epochs: 20, batch_size: 8, learning_rate_multiplier: lr },
  });
  await until(job.id, (j) => j.status === 'running' && j.trained_tokens > 0, 'its first step');
  const c = await client.fineTuning.jobs.cancel(job.id);
  assert.equal(c.status, 'cancelled');
  await sleep(2000);
  const after = await client.fineTuning.jobs.retrieve(job.id);
  assert.equal(after.status, 'cancelled');
  assert.equal(after.fine_tuned_model, null);
  await assert.rejects(client.fineTuning.jobs.cancel(job.id), (e) => e.status === 400);
  report.cancelled = job.id;
});

test.after(() => {
  if (process.env.GRAFT_FT_REPORT) writeFileSync(process.env.GRAFT_FT_REPORT, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report));
});
