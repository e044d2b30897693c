// The live run page. The server draws the page complete; this module
// follows the run's event log (server-sent events), keeps the agent lanes
// and each task's event stream from it, and fetches the drawn state again
// only when an event says a task or stage changed.

const me = document.getElementById('dashboard');
const run = me.dataset.run;
const actionsOn = me.dataset.actions === 'true';
const api = '/api/runs/' + encodeURIComponent(run);

// Events kept per task: enough to read an attempt, bounded for long runs.
const KEEP = 500;
const streams = new Map();
const lanes = new Map();
let tasks = [];
let picked = null;
let lastSeq = 0;
let refreshTimer = null;
let refreshing = false;
let refreshAgain = false;
let runState = '';
// What the run's log says of dispatch: running, pause requested, paused,
// resume requested (requests go to the `orca run` driving the run).
let dispatchState = 'running';

const byId = (id) => document.getElementById(id);
const esc = (text) => String(text == null ? '' : text).replace(/[&<>"']/g, (c) => (
  { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function took(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) { return s + 's'; }
  if (s < 3600) { return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's'; }
  return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
}

function setLive(cls, text) {
  const badge = byId('live');
  badge.className = 'badge ' + cls;
  badge.textContent = text;
}

// --- the drawn state -------------------------------------------------------

function scheduleRefresh() {
  if (refreshTimer === null) { refreshTimer = setTimeout(refresh, 150); }
}

async function refresh() {
  refreshTimer = null;
  if (refreshing) { refreshAgain = true; return; }
  refreshing = true;
  try {
    const response = await fetch(api + '/view');
    if (response.ok) { apply(await response.json()); }
  } catch (_) {
    setLive('held', 'cannot reach the dashboard');
  } finally {
    refreshing = false;
    if (refreshAgain) { refreshAgain = false; scheduleRefresh(); }
  }
}

function apply(view) {
  byId('stage-bar').innerHTML = view.stages;
  byId('cards').innerHTML = view.cards;
  byId('graph').innerHTML = view.graph;
  byId('timeline').innerHTML = view.timeline;
  byId('merges').innerHTML = view.merges;
  byId('gates').innerHTML = view.gates;
  const state = byId('run-state');
  state.className = 'badge ' + view.run.class;
  state.textContent = view.run.state;
  runState = view.run.state;
  drawDispatch();
  tasks = view.tasks;
  markPicked();
  drawLanes();
  if (picked !== null) { loadDetail(picked); }
}

// --- agent lanes -------------------------------------------------------------

function drawLanes() {
  const running = tasks.filter((t) => t.state === 'leased');
  const box = byId('lanes');
  if (running.length === 0) {
    box.innerHTML = '<p class="muted">no agent is running</p>';
    return;
  }
  const now = Date.now();
  box.innerHTML = '<div class="lanes">' + running.map((t) => {
    const lane = lanes.get(t.id) || {};
    const tokens = (lane.input_tokens || 0) + (lane.output_tokens || 0);
    const cost = lane.cost_usd ? ' · $' + lane.cost_usd.toFixed(2) : '';
    const elapsed = t.started_ms ? took(now - t.started_ms) : '';
    return '<div class="lane" data-task="' + esc(t.id) + '" id="lane-' + esc(t.id) + '">' +
      '<b>' + esc(t.id) + '</b> <span class="muted">' + esc(t.agent || '') + ' · attempt ' + t.attempts +
      ' · ' + elapsed + '</span>' +
      '<small class="last-tool">' + (lane.tool ? esc(lane.tool + ' ' + (lane.summary || '')) : 'no tool call yet') + '</small>' +
      '<small>' + tokens + ' tokens' + cost + ' · ' + esc(t.worker || '') + '</small></div>';
  }).join('') + '</div>';
}

// --- dispatch -------------------------------------------------------------------

const DISPATCH = {
  'control.pause': 'pause requested',
  'dispatch.paused': 'paused',
  'control.resume': 'resume requested',
  'dispatch.resumed': 'running',
};

function drawDispatch() {
  const box = byId('dispatch');
  const paused = dispatchState === 'paused' || dispatchState === 'pause requested';
  const badge = dispatchState === 'running' ? '' :
    '<span class="badge ' + (paused ? 'held' : 'busy') + '" id="dispatch-state">dispatch ' + esc(dispatchState) + '</span> ';
  const button = actionsOn && runState === 'active'
    ? '<button data-dispatch="' + (paused ? 'resume' : 'pause') + '">' + (paused ? 'Resume dispatch' : 'Pause dispatch') + '</button>'
    : '';
  box.innerHTML = badge + button;
}

// --- the event log -----------------------------------------------------------

function describe(event) {
  const p = event.payload || {};
  switch (event.kind) {
    case 'agent.tool_use': return [p.tool + ' ' + (p.summary || ''), 'tool'];
    case 'agent.tool_failed': return ['tool failed: ' + (p.summary || ''), 'bad'];
    case 'agent.text': return [p.text, ''];
    case 'agent.warning': return [p.message, 'bad'];
    case 'agent.limited': return [p.kind + ' limit: ' + p.message, 'bad'];
    case 'agent.stopping': return ['stopping (' + p.reason + ')', 'bad'];
    case 'task.leased': return ['attempt ' + event.attempt + ' started on ' + p.worker, ''];
    default: {
      const text = JSON.stringify(p);
      return [text.length > 300 ? text.slice(0, 300) + '…' : text,
        /fail|block|error/.test(event.kind) ? 'bad' : ''];
    }
  }
}

function streamItem(event) {
  const [text, cls] = describe(event);
  const at = new Date(event.at_ms).toLocaleTimeString();
  return '<li class="' + cls + '" data-seq="' + event.seq + '"><span class="kind">' + esc(at) + ' ' +
    esc(event.kind) + '</span>' + esc(text) + '</li>';
}

function receive(event) {
  lastSeq = event.seq;
  document.body.dataset.seq = String(lastSeq);
  if (event.task) {
    let list = streams.get(event.task);
    if (!list) { list = []; streams.set(event.task, list); }
    list.push(event);
    if (list.length > KEEP) { list.shift(); }
    if (event.task === picked) {
      const stream = byId('stream');
      if (stream) {
        stream.insertAdjacentHTML('beforeend', streamItem(event));
        if (stream.children.length > KEEP) { stream.firstElementChild.remove(); }
      }
    }
  }
  if (DISPATCH[event.kind]) {
    dispatchState = DISPATCH[event.kind];
    drawDispatch();
  }
  if (event.kind.startsWith('agent.')) {
    const p = event.payload || {};
    const lane = lanes.get(event.task) || {};
    if (event.kind === 'agent.tool_use') { lane.tool = p.tool; lane.summary = p.summary; }
    lane.input_tokens = p.input_tokens;
    lane.output_tokens = p.output_tokens;
    lane.cost_usd = p.cost_usd;
    lanes.set(event.task, lane);
    drawLanes();
  } else {
    if (event.kind === 'task.leased') { lanes.delete(event.task); }
    scheduleRefresh();
  }
}

function follow() {
  const source = new EventSource(api + '/events?after=' + lastSeq);
  source.onopen = () => setLive('ok', 'live');
  source.onmessage = (message) => receive(JSON.parse(message.data));
  // The browser reconnects by itself, from the last event it got.
  source.onerror = () => setLive('held', 'reconnecting');
}

// --- a task's detail ---------------------------------------------------------

function markPicked() {
  document.querySelectorAll('svg .node.picked').forEach((n) => n.classList.remove('picked'));
  if (picked !== null) {
    const node = byId('node-' + picked);
    if (node) { node.classList.add('picked'); }
  }
}

function pick(task) {
  picked = task;
  markPicked();
  loadDetail(task);
}

async function loadDetail(task) {
  const pane = byId('detail');
  let detail;
  try {
    const response = await fetch(api + '/tasks/' + encodeURIComponent(task));
    detail = await response.json();
    if (!response.ok) { throw new Error(detail.error); }
  } catch (error) {
    pane.hidden = false;
    pane.innerHTML = '<p class="note">' + esc(error.message) + '</p>';
    return;
  }
  if (task !== picked) { return; }
  const t = detail.task;
  const buttons = [];
  if (detail.actions && (t.state === 'failed' || t.state === 'cancelled')) {
    buttons.push('<button class="danger" data-action="retry">Retry</button>');
  }
  if (detail.actions && t.state === 'blocked') {
    buttons.push('<button class="danger" data-action="unblock">Unblock</button>');
  }
  const running = t.attempts.filter((a) => a.outcome === 'running').pop();
  if (detail.actions && t.state === 'leased' && running) {
    buttons.push('<button class="danger" data-action="cancel" data-attempt="' + running.attempt + '">Cancel attempt ' + running.attempt + '</button>');
  }
  const attempts = t.attempts.map((a) => '<tr><td>' + a.attempt + '</td><td>' + esc(a.agent || '') +
    '</td><td>' + esc(a.outcome) + (a.end ? ' (' + esc(a.end) + ')' : '') + '</td><td>' +
    (a.duration_ms != null ? took(a.duration_ms) : '') + '</td><td>' + (a.input_tokens + a.output_tokens) +
    '</td><td>' + esc(a.error || '') + '</td></tr>').join('');
  const verify = t.attempts.map((a) => a.verify_output).filter(Boolean).pop();
  const keep = byId('action-result');
  const note = keep && keep.dataset.task === task ? keep.outerHTML : '';
  pane.hidden = false;
  pane.innerHTML =
    '<h3 id="detail-title"><code>' + esc(t.id) + '</code> ' + esc(t.title) + '</h3>' +
    '<p><span class="badge ' + esc(detail.class) + '" id="detail-state">' + esc(t.state) + '</span> ' +
    (t.verify ? '<span class="muted">verify: <code>' + esc(t.verify) + '</code></span>' : '') + '</p>' +
    (t.state !== 'succeeded' && (t.blocked_reason || t.last_error) ? '<p class="note">' + esc(t.blocked_reason || t.last_error) + '</p>' : '') +
    (buttons.length ? '<p class="actions">' + buttons.join('') + '</p>' : '') + note +
    '<h4>Events</h4><ol id="stream">' + (streams.get(task) || []).map(streamItem).join('') + '</ol>' +
    '<h4>Attempts</h4>' + (attempts ? '<table><thead><tr><th>#</th><th>agent</th><th>outcome</th><th>took</th><th>tokens</th><th>error</th></tr></thead><tbody>' + attempts + '</tbody></table>' : '<p class="muted">none yet</p>') +
    (verify ? '<h4>Verify output</h4><pre id="verify-output">' + esc(verify) + '</pre>' : '') +
    (detail.prompt ? '<details><summary>Prompt</summary><pre id="prompt">' + esc(detail.prompt) + '</pre></details>' : '') +
    (detail.diff ? '<details><summary>Diff of the attempt</summary><pre id="diff">' + esc(detail.diff) + '</pre></details>' : '');
}

// --- actions ------------------------------------------------------------------

function confirmAction(text) {
  const dialog = byId('confirm');
  byId('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

const QUESTIONS = {
  retry: (task) => 'Retry ' + task + '? It gets fresh attempts and the tasks it blocked wait again.',
  unblock: (task) => 'Unblock ' + task + '? It and the tasks it held back wait to run again.',
  cancel: (task, attempt) => 'Cancel attempt ' + attempt + ' of ' + task + '? The agent is stopped, its work ' +
    'committed on its branch; the task runs again with a fresh attempt unless dispatch is paused.',
  pause: () => 'Pause dispatch? Running attempts go on; no new one starts until dispatch is resumed.',
  resume: () => 'Resume dispatch?',
};

async function post(path) {
  try {
    const response = await fetch(api + path, { method: 'POST', headers: { 'x-orca-action': '1' } });
    const body = await response.json();
    return [response.ok, body];
  } catch (error) {
    return [false, { error: error.message }];
  }
}

async function act(action, task, attempt) {
  if (!(await confirmAction(QUESTIONS[action](task, attempt)))) { return; }
  const query = attempt ? '?attempt=' + encodeURIComponent(attempt) : '';
  const [ok, body] = await post('/tasks/' + encodeURIComponent(task) + '/' + action + query);
  let text = body.error;
  if (ok) {
    const also = body.reopened.filter((k) => k !== task);
    text = task + ' ' + body.action + (also.length ? '; waiting again: ' + also.join(', ') : '') +
      (action === 'cancel' ? '.' : '. `orca resume` continues the run.');
  }
  const old = byId('action-result');
  if (old) { old.remove(); }
  const note = '<p class="note" id="action-result" data-task="' + esc(task) + '">' + esc(text) + '</p>';
  const stream = byId('stream');
  if (stream) { stream.previousElementSibling.insertAdjacentHTML('beforebegin', note); }
  scheduleRefresh();
}

async function actOnDispatch(action) {
  if (!(await confirmAction(QUESTIONS[action]()))) { return; }
  const [ok, body] = await post('/dispatch/' + action);
  if (!ok) { setLive('held', body.error); }
}

document.addEventListener('click', (e) => {
  const button = e.target.closest('button[data-action]');
  if (button && actionsOn && picked !== null) { act(button.dataset.action, picked, button.dataset.attempt); return; }
  const dispatch = e.target.closest('button[data-dispatch]');
  if (dispatch && actionsOn) { actOnDispatch(dispatch.dataset.dispatch); return; }
  const target = e.target.closest('[data-task]');
  if (target) { pick(target.getAttribute('data-task')); }
});

// Elapsed times move on between events.
setInterval(drawLanes, 1000);
follow();
refresh();
