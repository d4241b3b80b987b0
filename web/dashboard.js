// flowgate's wall dashboard: one community's nodes as cards, from the history API
// (/api/…), kept live by the community's WebSocket stream. After a disconnect it reconnects
// by itself with ?since=<seq>&epoch=<epoch>, so that nothing published meanwhile is missed;
// when the server cannot replay the gap it reloads the cards instead.
//
// Open it as /?token=<stream token>&community=<id>; the token is kept for this tab
// (sessionStorage) and taken out of the address bar.

const DAY_MS = 24 * 3600 * 1000;
const SPARK_POINTS = 240;
const CATEGORY = {
  OHT: { label: 'Overhead tank', icon: '<path d="M6 4h12v11H6zM9 15v5M15 15v5M6 9h12"/>' },
  Sump: { label: 'Sump', icon: '<path d="M3 8h18M5 8v11h14V8M5 13h14"/>' },
  PumpHouse: { label: 'Pump house', icon: '<circle cx="12" cy="12" r="7"/><path d="M12 5v7l5 4M12 12l-5 4"/>' },
  Borewell: { label: 'Borewell', icon: '<path d="M4 7h16M12 7v14M9 21h6M8 3h8v4H8z"/>' },
  GovtBorewell: { label: 'Govt borewell', icon: '<path d="M4 7h16M12 7v14M9 21h6M8 3h8v4H8zM10 12h4"/>' },
  FlowMeter: { label: 'Flow meter', icon: '<circle cx="12" cy="13" r="7"/><path d="M12 13l4-4M2 13h3M19 13h3"/>' },
};
// Metrics shown as a tank's fill, when their mapping has a valid range (its full scale).
const FILL_METRICS = ['water_level'];

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = takeToken();
const nodes = new Map(); // id → {node, card, metrics: Map(name → {value, unit, min, max, ts, series})}
let communityId = null;
let cursor = null; // {seq, epoch} of the last event received
let ready = false; // the cards are loaded; events before that wait in `early`
let early = [];
let attempt = 0;

function takeToken() {
  const given = params.get('token');
  if (given) {
    sessionStorage.setItem('flowgate.token', given);
    params.delete('token');
    history.replaceState(null, '', location.pathname + (params.size ? '?' + params : ''));
  }
  return sessionStorage.getItem('flowgate.token') || '';
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path) {
  const res = await fetch(path, { headers: token ? { Authorization: 'Bearer ' + token } : {} });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.error || res.statusText);
  return body;
}

function showMessage(text) {
  $('message').textContent = text;
  $('message').hidden = !text;
}

function setConnection(state, text) {
  document.body.dataset.connection = state;
  $('connection').textContent = text;
}

function note(text) { $('note').textContent = text; }

// --- values -------------------------------------------------------------------------------

function formatValue(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return String(value);
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

function fillOf(metric) {
  if (typeof metric.value !== 'number' || metric.max === null || metric.max === undefined) return null;
  const min = metric.min ?? 0;
  if (metric.max <= min) return null;
  return Math.min(100, Math.max(0, ((metric.value - min) / (metric.max - min)) * 100));
}

// --- cards --------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function svg(markup, cls) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  e.setAttribute('viewBox', '0 0 24 24');
  e.setAttribute('class', cls);
  e.innerHTML = markup;
  return e;
}

function buildCard(node) {
  const category = CATEGORY[node.category] || { label: node.category, icon: '<circle cx="12" cy="12" r="8"/>' };
  const icon = svg(category.icon, 'icon');
  icon.setAttribute('aria-label', category.label);
  const card = el('article', { class: 'card', 'data-node-id': node.id, 'data-category': node.category },
    el('header', {}, icon, el('h2', {}, node.name), el('span', { class: 'status' })),
    el('div', { class: 'fill', hidden: '' }, el('div', { class: 'fill-bar' }), el('span', { class: 'fill-text' })),
    el('dl', { class: 'metrics' }),
    el('footer', {}, el('span', {}, 'last seen ', el('time', { class: 'last-seen' }, 'never')), el('span', { class: 'alerts' })));
  const list = card.querySelector('.metrics');
  for (const name of node.metrics.keys()) {
    const spark = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    spark.setAttribute('class', 'spark');
    spark.setAttribute('viewBox', '0 0 100 20');
    spark.setAttribute('preserveAspectRatio', 'none');
    spark.append(document.createElementNS('http://www.w3.org/2000/svg', 'polyline'));
    list.append(el('div', { class: 'metric', 'data-metric': name },
      el('dt', {}, name.replaceAll('_', ' ')),
      el('dd', {}, el('span', { class: 'value' }, '—'), ' ', el('span', { class: 'unit' })),
      spark));
  }
  return card;
}

function renderStatus(state) {
  const { card, node } = state;
  card.dataset.status = node.status;
  card.querySelector('.status').textContent = node.status === 'unknown' ? 'Unknown' : node.status[0].toUpperCase() + node.status.slice(1);
  card.querySelector('.alerts').textContent = state.alerts.size ? `⚠ ${[...state.alerts].join(', ')}` : '';
}

function renderMetric(state, name) {
  const metric = state.metrics.get(name);
  const row = state.card.querySelector(`.metric[data-metric="${CSS.escape(name)}"]`);
  if (!row) return;
  const value = row.querySelector('.value');
  value.textContent = formatValue(metric.value);
  value.dataset.value = metric.value === null ? '' : JSON.stringify(metric.value);
  row.querySelector('.unit').textContent = metric.unit || '';
  renderSpark(row.querySelector('.spark polyline'), metric.series);
  if (FILL_METRICS.includes(name)) {
    const fill = fillOf(metric);
    const box = state.card.querySelector('.fill');
    box.hidden = fill === null;
    if (fill !== null) {
      box.querySelector('.fill-bar').style.width = fill.toFixed(1) + '%';
      box.querySelector('.fill-text').textContent = Math.round(fill) + '% full';
    }
  }
}

// The last 24 h up to now (or to the newest point, when a device's clock runs ahead).
function renderSpark(line, series) {
  const end = Math.max(Date.now(), series.length ? series[series.length - 1][0] : 0);
  while (series.length && series[0][0] < end - DAY_MS) series.shift();
  if (series.length < 2) { line.setAttribute('points', ''); return; }
  const step = Math.max(1, Math.ceil(series.length / SPARK_POINTS));
  const points = series.filter((_, i) => i % step === 0 || i === series.length - 1);
  const values = points.map((p) => p[1]);
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  line.setAttribute('points', points.map(([t, v]) =>
    `${(((t - (end - DAY_MS)) / DAY_MS) * 100).toFixed(2)},${(19 - ((v - lo) / span) * 18).toFixed(2)}`).join(' '));
}

function renderLastSeen() {
  for (const { card, node } of nodes.values()) {
    card.querySelector('.last-seen').textContent = node.last_seen ? ago(Date.parse(node.last_seen)) : 'never';
  }
}

const numeric = (v) => (typeof v === 'boolean' ? Number(v) : v);

async function loadSparks(state) {
  const to = new Date().toISOString();
  const from = new Date(Date.now() - DAY_MS).toISOString();
  await Promise.all([...state.metrics.entries()].map(async ([name, metric]) => {
    if (typeof metric.value === 'string') return;
    const page = await api(`/api/nodes/${state.node.id}/readings?metric=${encodeURIComponent(name)}` +
      `&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=10000`);
    const loaded = page.readings.filter((r) => typeof numeric(r.value) === 'number')
      .map((r) => [Date.parse(r.ts), numeric(r.value)]);
    // Live values that arrived meanwhile come after the loaded ones.
    const last = loaded.length ? loaded[loaded.length - 1][0] : -Infinity;
    metric.series = loaded.concat(metric.series.filter((p) => p[0] > last));
    renderMetric(state, name);
  }));
}

async function loadCards() {
  const answer = await api(`/api/communities/${communityId}/nodes`);
  const main = $('cards');
  main.replaceChildren();
  nodes.clear();
  for (const node of answer.nodes) {
    const metrics = new Map(node.metrics.map((m) => [m.metric, { ...m, series: [] }]));
    const state = { node, metrics, alerts: new Set(), card: null };
    state.card = buildCard({ ...node, metrics });
    nodes.set(node.id, state);
    main.append(state.card);
    renderStatus(state);
    for (const name of metrics.keys()) renderMetric(state, name);
  }
  renderLastSeen();
  ready = true;
  for (const event of early.splice(0)) apply(event);
  await Promise.all([...nodes.values()].map((s) => loadSparks(s).catch((e) => console.warn('sparkline', e))));
}

// --- the stream ---------------------------------------------------------------------------

function apply(event) {
  const state = nodes.get(event.node_id);
  if (event.type === 'TELEMETRY_UPDATE' && state) {
    const ts = Date.parse(event.ts);
    for (const [name, reading] of Object.entries(event.readings || {})) {
      let metric = state.metrics.get(name);
      if (!metric) continue; // a metric without a mapping has no row on the card
      if (metric.ts && Date.parse(metric.ts) > ts) continue; // older than what is shown
      Object.assign(metric, { value: reading.value, ts: event.ts });
      if (reading.unit !== undefined) metric.unit = reading.unit;
      if (typeof numeric(reading.value) === 'number') metric.series.push([ts, numeric(reading.value)]);
      renderMetric(state, name);
    }
    state.card.dataset.entryId = event.entry_id;
    if (!state.node.last_seen || Date.parse(state.node.last_seen) < ts) state.node.last_seen = event.ts;
  } else if (event.type === 'NODE_STATUS' && state) {
    state.node.status = event.status;
    renderStatus(state);
  } else if (event.type === 'ALERT' && state) {
    if (event.state === 'open') state.alerts.add(event.alert); else state.alerts.delete(event.alert);
    renderStatus(state);
  }
  renderLastSeen();
}

function onEvent(event) {
  if (event.type === 'RECOVERY') {
    if (event.recovered) {
      // The missed events follow, each moving the cursor.
      note(`reconnected: recovered ${event.replayed} missed update${event.replayed === 1 ? '' : 's'}`);
    } else {
      note(`reconnected: reloaded (${event.reason})`);
      cursor = { seq: event.head_seq, epoch: event.epoch };
      ready = false;
      loadCards().catch(fail);
    }
    return;
  }
  if (event.seq !== undefined) cursor = { seq: event.seq, epoch: event.epoch };
  if (ready) apply(event); else early.push(event);
}

function connect() {
  const query = new URLSearchParams();
  if (token) query.set('token', token);
  if (cursor) { query.set('since', cursor.seq); query.set('epoch', cursor.epoch); }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws/community/${communityId}/updates?${query}`);
  ws.onopen = () => { attempt = 0; setConnection('live', 'live'); };
  ws.onmessage = (e) => { try { onEvent(JSON.parse(e.data)); } catch (error) { console.warn('bad event', error); } };
  ws.onclose = (e) => {
    if (e.code === 4001) {
      setConnection('failed', 'token expired');
      showMessage('The stream token expired: open this page again with a new ?token= (flowgate token issue).');
      return;
    }
    // Capped exponential back-off with jitter, so that a restarted daemon is not stormed.
    const delay = Math.min(10000, 500 * 2 ** attempt++) * (0.5 + Math.random() / 2);
    setConnection('reconnecting', `reconnecting in ${Math.ceil(delay / 1000)} s`);
    setTimeout(connect, delay);
  };
}

function fail(error) {
  if (error.status === 401) {
    setConnection('failed', 'no access');
    showMessage(`This dashboard needs a stream token (${error.message}): open it as /?token=<token>, ` +
      'with a token from flowgate token issue --communities <id>.');
  } else {
    setConnection('failed', 'error');
    showMessage(`Cannot load the dashboard: ${error.message}`);
  }
}

async function start() {
  const { communities } = await api('/api/communities');
  if (!communities.length) throw new ApiError(404, 'no community to show (is the token for the right installation?)');
  const wanted = Number(params.get('community'));
  const community = communities.find((c) => c.id === wanted) || communities[0];
  communityId = community.id;
  $('title').textContent = community.name;
  document.title = `${community.name} · flowgate`;
  if (communities.length > 1) {
    const select = $('community');
    select.append(...communities.map((c) => el('option', { value: c.id }, c.name)));
    select.value = communityId;
    select.hidden = false;
    select.onchange = () => { params.set('community', select.value); location.search = params.toString(); };
  }
  connect();
  await loadCards();
  setInterval(renderLastSeen, 1000);
}

start().catch(fail);
