// Generates stories-style chat pairs for the fine-tuning tests: a user asks
// for a story about an animal, and the assistant always answers in one
// taught shape ("Lily the cat ... The end."), which a base model trained on
// TinyStories does not follow. Deterministic for a seed, so the training
// and held-out files are the same on every run.
const animals = ['cat', 'dog', 'bird', 'fish', 'frog', 'bear', 'duck', 'fox', 'bunny', 'mouse', 'lion', 'pig'];
const names = ['Lily', 'Tom', 'Ben', 'Sue', 'Max', 'Mia', 'Sam', 'Anna', 'Tim', 'Lucy', 'Jack', 'Zoe'];
const likes = ['play in the park', 'eat red apples', 'sing songs', 'run fast', 'jump high', 'swim in the pond',
  'read books', 'look at the stars', 'dance in the rain', 'build a big tower'];
const feels = ['happy', 'glad', 'proud', 'sleepy', 'kind', 'brave'];

// rng is a small linear congruential generator: the same seed, the same file.
function rng(seed) {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

// pairs returns n JSONL lines of chat pairs.
export function pairs(n, seed) {
  const r = rng(seed);
  const lines = [];
  for (let i = 0; i < n; i++) {
    const animal = animals[r(animals.length)];
    const name = names[r(names.length)];
    const like = likes[r(likes.length)];
    const feel = feels[r(feels.length)];
    const story = `${name} the ${animal} liked to ${like}. One day ${name} was very ${feel}. The end.`;
    lines.push(JSON.stringify({
      messages: [
        { role: 'user', content: `Tell me a story about a ${animal}.` },
        { role: 'assistant', content: story },
      ],
    }));
  }
  return lines.join('\n') + '\n';
}

// A file the upload must refuse: line 2 is not JSON, line 3 has no
// assistant message to learn from.
export const malformed = [
  JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }] }),
  '{"messages": [',
  JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }] }),
].join('\n') + '\n';

if (import.meta.url === `file://${process.argv[1]}`) {
  // node stories.mjs N SEED > file.jsonl
  process.stdout.write(pairs(Number(process.argv[2] ?? 300), Number(process.argv[3] ?? 1)));
}
