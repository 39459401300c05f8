// The official `openai` npm package against Alice's /v1 (ALICE_OPENAI_URL, ALICE_OPENAI_KEY,
// ALICE_OPENAI_MODEL): a streamed tool call, then its result fed back. No browser. Run by
// tests/e2e/test_openai_structured.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.ALICE_OPENAI_URL,
  apiKey: process.env.ALICE_OPENAI_KEY,
  maxRetries: 0,
  timeout: 300_000,
});
const model = process.env.ALICE_OPENAI_MODEL;
const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The current weather of a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

test('stream: true with tools streams delta.tool_calls, and a tool result gets a text answer', { timeout: 600_000 }, async () => {
  const question = { role: 'user', content: 'What is the weather in Paris?' };
  const stream = await client.chat.completions.create({
    model, messages: [question], tools, tool_choice: 'required', stream: true, max_tokens: 200, seed: 1,
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    for (const piece of choice.delta.tool_calls ?? []) {
      calls[piece.index] ??= { id: '', name: '', arguments: '' };
      calls[piece.index].id += piece.id ?? '';
      calls[piece.index].name += piece.function?.name ?? '';
      calls[piece.index].arguments += piece.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length >= 1, true, 'at least one call');
  assert.equal(calls[0].name, 'get_weather');
  assert.equal(typeof JSON.parse(calls[0].arguments).city, 'string');
  assert.match(calls[0].id, /^call_/);

  const answer = await client.chat.completions.create({
    model,
    max_tokens: 32,
    messages: [
      question,
      { role: 'assistant', content: null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) },
      { role: 'tool', tool_call_id: calls[0].id, content: '18 degrees and sunny' },
    ],
  });
  assert.equal(answer.choices[0].message.tool_calls ?? null, null);
  assert.ok(answer.choices[0].message.content.trim().length > 0, 'a text answer');
});
