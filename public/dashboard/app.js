// The dashboard page: one view at a time, chosen by the URL's hash (#pipeline?days=30), drawn from
// the JSON API; every table links its CSV. Data only ever goes in as text, never as markup.
const API = '/dashboard/api/';
const view = document.getElementById('view');
const controls = document.getElementById('controls');
const note = document.getElementById('note');
const chartBox = document.getElementById('chart-box');
const canvas = document.getElementById('chart');
const tables = document.getElementById('tables');
const COLORS = ['#2f6fdf', '#e07a1f', '#2a9d8f', '#c2410c', '#7c3aed', '#0e7490', '#a16207', '#be185d', '#4d7c0f', '#475569'];
let stagesPromise;
let drawing = 0;
// Which render the view shows (this page load and its count): a test waits for the one its action started.
const LOAD_ID = Math.random().toString(36).slice(2);

const VIEWS = {
  pipeline: { title: 'Arrivals per stage', table: 'pipeline', controls: ['range', 'bucket', 'stages'], chart: 'stacked' },
  by_agent: { title: 'Arrivals per stage per week, by agent', table: 'by_agent', controls: ['range', 'stages'], chart: 'groups', defaults: { days: '90' } },
  by_lead_source: { title: 'Arrivals per stage per week, by lead source', table: 'by_lead_source', controls: ['range', 'stages'], chart: 'groups', defaults: { days: '90' } },
  conversion: { title: 'Conversion from stage A to stage B', table: 'conversion', controls: ['range', 'ab'], chart: 'none', defaults: { days: '90' } },
  time_in_stage: { title: 'Time in stage (completed stays that began in the range)', table: 'time_in_stage', controls: ['range'], chart: 'hours', defaults: { days: '90' } },
  recent_moves: { title: 'Recent moves', table: 'recent_moves', controls: ['search'], chart: 'none' },
  health: { title: 'Health', tables: [['source_health', 'Source health'], ['inbox', 'Webhook inbox'], ['poll_runs', 'Recent polls']], controls: [], chart: 'none' },
};

function parseHash() {
  const [name, query] = location.hash.slice(1).split('?');
  const key = VIEWS[name] ? name : 'pipeline';
  return { name: key, params: new URLSearchParams({ ...(VIEWS[key].defaults ?? {}), ...Object.fromEntries(new URLSearchParams(query ?? '')) }) };
}

function go(name, params) {
  const query = params.toString();
  location.hash = query === '' ? name : `${name}?${query}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children);
  return node;
}

async function getJson(url) {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (res.status === 401) {
    location.href = '/dashboard';
    throw new Error('signed out');
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

function stages() {
  stagesPromise ??= getJson(`${API}stages`).then((t) => t.rows);
  return stagesPromise;
}

async function buildControls(name, params) {
  controls.replaceChildren();
  const spec = VIEWS[name].controls;
  const change = (key, value) => {
    const next = new URLSearchParams(params);
    if (value === '' || value === null) next.delete(key);
    else next.set(key, value);
    if (key !== 'page') next.delete('page');
    go(name, next);
  };
  if (spec.includes('range')) {
    const custom = params.has('from');
    const range = el('select', { id: 'range', onchange: (e) => {
      const next = new URLSearchParams(params);
      next.delete('from'); next.delete('to');
      if (e.target.value === 'custom') {
        const today = new Date().toISOString().slice(0, 10);
        next.delete('days'); next.set('from', today.slice(0, 8) + '01'); next.set('to', today);
      } else next.set('days', e.target.value);
      go(name, next);
    } });
    for (const d of ['7', '30', '90', '365']) range.append(el('option', { value: d, text: `Last ${d} days`, selected: !custom && (params.get('days') ?? '30') === d }));
    range.append(el('option', { value: 'custom', text: 'Custom…', selected: custom }));
    controls.append(el('label', {}, 'Range', range));
    if (custom) {
      controls.append(el('label', {}, 'From', el('input', { type: 'date', id: 'from', value: params.get('from'), onchange: (e) => change('from', e.target.value) })));
      controls.append(el('label', {}, 'To', el('input', { type: 'date', id: 'to', value: params.get('to'), onchange: (e) => change('to', e.target.value) })));
    }
  }
  if (spec.includes('bucket')) {
    const bucket = el('select', { id: 'bucket', onchange: (e) => change('bucket', e.target.value) });
    for (const b of ['day', 'week']) bucket.append(el('option', { value: b, text: b === 'day' ? 'Per day' : 'Per week', selected: (params.get('bucket') ?? 'day') === b }));
    controls.append(el('label', {}, 'Period', bucket));
  }
  if (spec.includes('stages')) {
    const chosen = new Set((params.get('stages') ?? '').split(',').filter(Boolean));
    const box = el('fieldset', { id: 'stage-filter' }, el('legend', { text: 'Stages (none ticked: all)' }));
    for (const s of await stages()) {
      box.append(el('label', {}, el('input', { type: 'checkbox', value: s.stage_key, checked: chosen.has(s.stage_key), onchange: () => {
        const ticked = [...box.querySelectorAll('input:checked')].map((i) => i.value);
        change('stages', ticked.join(','));
      } }), s.name));
    }
    controls.append(box);
  }
  if (spec.includes('ab')) {
    const all = await stages();
    const pick = (key, fallback) => {
      const select = el('select', { id: `stage-${key}`, onchange: (e) => change(key, e.target.value) });
      const current = params.get(key) ?? all.find((s) => s.name === fallback)?.stage_key ?? '';
      for (const s of all) select.append(el('option', { value: s.stage_key, text: s.name, selected: s.stage_key === current }));
      return select;
    };
    controls.append(el('label', {}, 'Stage A', pick('a', 'ACQ - Qualified')), el('label', {}, 'Stage B', pick('b', 'ACQ - Offers Made')));
  }
  if (spec.includes('search')) {
    const input = el('input', { type: 'search', id: 'search', value: params.get('search') ?? '', placeholder: 'Name…' });
    controls.append(el('label', {}, 'Search by name', input), el('button', { type: 'submit', text: 'Search' }));
    controls.onsubmit = (e) => { e.preventDefault(); change('search', input.value.trim()); };
  } else controls.onsubmit = (e) => e.preventDefault();
}

const NUMERIC = /^(changes|webhook_rows|polling_rows|reached_a|reached_b|percent|median_hours|p90_hours|avg_hours|completed_stays|in_stage_now|records_today|events|lag_p50_seconds|lag_p95_seconds|seconds|pages|people_seen|changes_inserted|api_calls|person_id)$/;
const LABELS = { grp: 'group', stage_key: 'stage id', changes: 'arrivals', changed_at: 'when' };

function renderTable(name, title, table, query) {
  const head = el('tr', {}, ...table.columns.map((c) => el('th', { class: NUMERIC.test(c) ? 'num' : undefined, text: LABELS[c] ?? c.replaceAll('_', ' ') })));
  const body = el('tbody');
  for (const row of table.rows) {
    body.append(el('tr', {}, ...table.columns.map((c) => {
      const value = row[c];
      const cls = c === 'status' ? `status-${String(value).split(' ')[0]}` : NUMERIC.test(c) ? 'num' : undefined;
      return el('td', { class: cls, text: value === null || value === undefined ? '' : String(value) });
    })));
  }
  if (table.rows.length === 0) body.append(el('tr', {}, el('td', { colspan: String(table.columns.length), text: 'Nothing in this range.' })));
  const csv = el('a', { class: 'csv', href: `${API}${name}.csv${query ? `?${query}` : ''}`, download: `${name}.csv`, text: 'Download CSV' });
  tables.append(el('section', { 'data-table': name }, el('div', { class: 'table-head' }, el('h2', { text: title }), csv), el('div', { class: 'scroll' }, el('table', { class: 'data' }, el('thead', {}, head), body))));
}

/** Every period of the range, so days without arrivals show as gaps, not as missing bars. */
function periods(meta) {
  const out = [];
  let t = Date.parse(meta.from);
  const end = Date.parse(meta.to);
  if (meta.bucket === 'week') t -= ((new Date(t).getUTCDay() + 6) % 7) * 86400000;
  for (; t <= end; t += (meta.bucket === 'week' ? 7 : 1) * 86400000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

function drawChart(kind, table) {
  Chart.getChart(canvas)?.destroy();
  chartBox.hidden = kind === 'none';
  if (kind === 'none') return;
  let labels;
  let datasets;
  if (kind === 'hours') {
    const rows = table.rows.filter((r) => r.median_hours !== null);
    labels = rows.map((r) => r.stage);
    datasets = [
      { label: 'median hours', data: rows.map((r) => r.median_hours), backgroundColor: COLORS[0] },
      { label: 'p90 hours', data: rows.map((r) => r.p90_hours), backgroundColor: COLORS[1] },
    ];
  } else {
    labels = periods(table.meta);
    const seriesOf = kind === 'groups' ? (r) => r.grp : (r) => r.stage;
    const names = [...new Set(table.rows.map(seriesOf))].sort();
    datasets = names.map((n, i) => {
      const data = labels.map(() => 0);
      for (const r of table.rows) if (seriesOf(r) === n) data[labels.indexOf(r.day)] += r.changes;
      return { label: n, data, backgroundColor: COLORS[i % COLORS.length] };
    });
  }
  new Chart(canvas, {
    type: 'bar',
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: kind === 'hours' ? {} : { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    },
  });
}

async function render() {
  const run = ++drawing;
  const { name, params } = parseHash();
  const spec = VIEWS[name];
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', a.getAttribute('href') === `#${name}`);
  view.dataset.state = 'loading';
  view.dataset.render = `${LOAD_ID}:${run}`;
  view.dataset.view = name;
  try {
    await buildControls(name, params);
    const query = params.toString();
    const names = spec.tables ?? [[spec.table, spec.title]];
    const loaded = await Promise.all(names.map(([t]) => getJson(`${API}${t}${query ? `?${query}` : ''}`)));
    if (run !== drawing) return;
    tables.replaceChildren();
    note.textContent = noteFor(spec, loaded[0].meta);
    if (name === 'conversion') renderConversion(loaded[0]);
    names.forEach(([t, title], i) => renderTable(t, title, loaded[i], query));
    if (name === 'recent_moves') renderPager(name, params, loaded[0].meta);
    drawChart(spec.chart, loaded[0]);
    view.dataset.state = 'ready';
  } catch (error) {
    if (run !== drawing) return;
    tables.replaceChildren(el('p', { class: 'error', text: String(error.message ?? error) }));
    view.dataset.state = 'error';
  }
}

function noteFor(spec, meta) {
  const zone = `times in ${meta.timeZone}`;
  if (meta.from) return `${spec.title}: ${meta.from} to ${meta.to}, ${zone}. Only real arrivals count (not the stage a person was first found in).`;
  return `${spec.title}, ${zone}.`;
}

function renderConversion(table) {
  const r = table.rows[0] ?? {};
  const card = (label, value) => el('div', { class: 'card' }, el('span', { text: label }), el('div', { class: 'big', text: value ?? '–' }));
  tables.append(el('div', { class: 'cards', id: 'conversion-cards' },
    card(`Reached ${r.stage_a}`, String(r.reached_a ?? 0)),
    card(`Then reached ${r.stage_b}`, String(r.reached_b ?? 0)),
    card('Converted', r.percent === null || r.percent === undefined ? '–' : `${r.percent} %`),
    card('Median time', r.median_hours === null || r.median_hours === undefined ? '–' : `${r.median_hours} h`),
    card('p90 time', r.p90_hours === null || r.p90_hours === undefined ? '–' : `${r.p90_hours} h`)));
}

function renderPager(name, params, meta) {
  const to = (page) => () => { const next = new URLSearchParams(params); next.set('page', String(page)); go(name, next); };
  tables.append(el('div', { class: 'pager' },
    el('button', { type: 'button', id: 'prev', disabled: meta.page <= 1, onclick: to(meta.page - 1), text: '← Newer' }),
    el('span', { id: 'page', text: `Page ${meta.page}` }),
    el('button', { type: 'button', id: 'next', disabled: !meta.hasNext, onclick: to(meta.page + 1), text: 'Older →' })));
}

window.addEventListener('hashchange', render);
// chart.umd.min.js is deferred: it has run before this module (modules are deferred too, in order).
render();
