// The Graft console's script: the admin key in session storage, fragments
// fetched with it and refreshed in place, actions sent to the management
// API, and the playground's streamed answer. No build step.
'use strict';

const KEY = 'graft.console.key';
const key = () => sessionStorage.getItem(KEY);

// api sends a request with the key; a refused key shows the login again.
async function api(method, url, body) {
  const headers = {Authorization: 'Bearer ' + key()};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (r.status === 401 || r.status === 403) {
    login(await errorText(r));
    throw new Error('not logged in');
  }
  return r;
}

// errorText is the message of an OpenAI-shaped error, or the body itself.
async function errorText(r) {
  const text = await r.text();
  try { return JSON.parse(text).error.message + ' (' + r.status + ')'; } catch { return r.status + ' ' + r.statusText + ': ' + text; }
}

function flash(msg) {
  const f = document.getElementById('flash');
  f.textContent = msg;
  f.hidden = !msg;
}

function login(msg) {
  sessionStorage.removeItem(KEY);
  document.getElementById('logout').hidden = true;
  const err = document.getElementById('login-error');
  err.textContent = msg || '';
  err.hidden = !msg;
  const d = document.getElementById('login');
  if (!d.open) d.showModal();
}

async function tryKey(k) {
  const r = await fetch('/console/api/session', {headers: {Authorization: 'Bearer ' + k}});
  if (!r.ok) return errorText(r);
  sessionStorage.setItem(KEY, k);
  return '';
}

// load fills an element from its fragment; a failed refresh keeps what was
// shown and says why.
async function load(el) {
  let url = el.dataset.src;
  if ('query' in el.dataset) url += location.search;
  let r;
  try { r = await api('GET', url); } catch (e) { if (e.message !== 'not logged in') flash('Cannot reach the console: ' + e.message); return; }
  if (!r.ok) {
    const msg = await errorText(r);
    if (el.dataset.retry && r.status === 404 && (el.tries = (el.tries || 0) + 1) < 30) {
      el.textContent = 'Waiting for the trace to reach Jaeger…';
      setTimeout(() => load(el), Number(el.dataset.retry));
      return;
    }
    el.innerHTML = '';
    const p = document.createElement('p');
    p.className = 'error';
    p.textContent = msg;
    el.append(p);
    return;
  }
  const html = await r.text();
  if (el.tagName === 'SELECT') {
    const keep = el.value || new URLSearchParams(location.search).get('model');
    el.innerHTML = html;
    if (keep && [...el.options].some(o => o.value === keep)) el.value = keep;
  } else {
    el.innerHTML = html;
  }
}

function startFragments() {
  document.getElementById('logout').hidden = false;
  for (const el of document.querySelectorAll('[data-src]')) {
    load(el);
    if (el.dataset.every && !el.timer) el.timer = setInterval(() => key() && load(el), Number(el.dataset.every));
  }
}

// act runs a button's management API call and shows the API's answer.
async function act(btn) {
  if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
  btn.disabled = true;
  try {
    const r = await api(btn.dataset.method, btn.dataset.url);
    flash(r.ok ? '' : await errorText(r));
  } catch (e) {
    if (e.message !== 'not logged in') flash(e.message);
  } finally {
    btn.disabled = false;
    for (const el of document.querySelectorAll('[data-every]')) load(el);
  }
}

async function create(form) {
  const f = new FormData(form);
  const spec = {name: f.get('name'), base_model: f.get('base_model'), type: f.get('type'), cooldown: f.get('cooldown'),
    min_replicas: Number(f.get('min_replicas')), max_replicas: Number(f.get('max_replicas'))};
  if (f.get('adapter_sources')) spec.adapter_sources = [f.get('adapter_sources')];
  const r = await api('POST', '/console/api/v1/deployments', spec);
  flash(r.ok ? '' : await errorText(r));
  if (r.ok) form.reset();
  load(document.getElementById('deployments'));
}

// play streams a chat answer: the SSE events' delta contents, appended as
// they come.
async function play(form) {
  const out = document.getElementById('answer'), state = document.getElementById('play-state');
  const setState = (s, text) => { state.dataset.state = s; state.textContent = text; };
  out.textContent = '';
  document.getElementById('play-trace').hidden = true;
  const f = new FormData(form);
  const body = {model: f.get('model'), messages: [{role: 'user', content: f.get('prompt')}], stream: true, stream_options: {include_usage: true},
    max_tokens: Number(f.get('max_tokens')), temperature: Number(f.get('temperature')), seed: Number(f.get('seed'))};
  setState('streaming', 'Streaming…');
  const r = await api('POST', '/console/api/chat', body);
  if (!r.ok) { setState('error', await errorText(r)); return; }
  const trace = r.headers.get('X-Graft-Trace-Id');
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '', usage = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        const msg = JSON.parse(line.slice(6));
        if (msg.error) { setState('error', msg.error.message); return; }
        for (const c of msg.choices || []) out.textContent += (c.delta && c.delta.content) || '';
        if (msg.usage) usage = msg.usage.completion_tokens + ' tokens';
      }
    }
  }
  setState('done', 'Done' + (usage ? ': ' + usage : '') + '.');
  if (trace) {
    const p = document.getElementById('play-trace'), a = p.querySelector('a');
    a.href = '/console/traces/' + trace;
    a.textContent = trace;
    p.hidden = false;
  }
}

document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('login-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    const msg = await tryKey(document.getElementById('login-key').value.trim());
    if (msg) { login(msg); return; }
    document.getElementById('login').close();
    startFragments();
  });
  document.getElementById('logout').addEventListener('click', () => login(''));
  document.addEventListener('click', ev => {
    const btn = ev.target.closest('button[data-method]');
    if (btn) act(btn);
  });
  const cf = document.getElementById('create-form');
  if (cf) cf.addEventListener('submit', ev => { ev.preventDefault(); create(cf).catch(e => flash(e.message)); });
  const pf = document.getElementById('play-form');
  if (pf) pf.addEventListener('submit', ev => {
    ev.preventDefault();
    play(pf).catch(e => { const s = document.getElementById('play-state'); s.dataset.state = 'error'; s.textContent = e.message; });
  });
  if (!key()) { login(''); return; }
  const msg = await tryKey(key());
  if (msg) { login(msg); return; }
  startFragments();
});
