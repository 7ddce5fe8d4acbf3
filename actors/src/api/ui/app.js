// WADM's page: reads only the REST API (with the key kept in this tab's session storage, sent
// as X-API-Key, never in a URL), draws candles and CVD with TradingView's Lightweight Charts,
// and the volume profile and footprint itself. Polls the API every 2 s and updates in place.
"use strict";

const POLL_MS = 2000;
const FOOTPRINT_BARS = 6;
const $ = (id) => document.getElementById(id);
const state = { symbol: null, venue: null, window: "24h", bars: [], cvd: 0, timer: null, profile: null };

function key() { return sessionStorage.getItem("wadmKey") || ""; }

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

async function api(path) {
  const headers = key() ? { "X-API-Key": key() } : {};
  const answer = await fetch(path, { headers });
  const body = await answer.json().catch(() => ({}));
  if (answer.status === 401) {
    showMessage("The API needs a key (401 unauthorized): enter it above. " + ((body.error && body.error.message) || ""));
    throw new Error("401");
  }
  if (!answer.ok) {
    throw new Error(((body.error && body.error.message) || answer.statusText) + " (" + answer.status + ")");
  }
  return body;
}

const num = (text) => (text === null || text === undefined ? null : Number(text));
const q = (params) => Object.entries(params).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&");

// Charts: candles above, CVD in a second pane.
const chart = LightweightCharts.createChart($("chart"), {
  layout: { background: { color: "#0f1318" }, textColor: "#d8dee6", attributionLogo: true },
  grid: { vertLines: { color: "#1b222a" }, horzLines: { color: "#1b222a" } },
  timeScale: { timeVisible: true, secondsVisible: false },
  autoSize: true,
});
const candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
  upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350",
});
const cvdLine = chart.addSeries(LightweightCharts.LineSeries, { color: "#f5c542", lineWidth: 1, title: "CVD" }, 1);
const levelLines = [];
const referenceLines = [];
const LEVELS_MS = 60000;

function candleOf(bar) {
  return { time: Math.floor(bar.start / 1000), open: num(bar.open), high: num(bar.high), low: num(bar.low), close: num(bar.close) };
}

async function loadSymbols() {
  const answer = await api("/api/v1/symbols");
  const select = $("symbol");
  select.replaceChildren(...answer.symbols.map((s) => new Option(s.symbol, s.symbol)));
  state.catalogue = answer.symbols;
  if (!state.symbol || !answer.symbols.some((s) => s.symbol === state.symbol)) state.symbol = answer.symbols[0] && answer.symbols[0].symbol;
  select.value = state.symbol;
  fillVenues();
}

function fillVenues() {
  const entry = (state.catalogue || []).find((s) => s.symbol === state.symbol);
  const venues = entry ? entry.venues.map((v) => v.venue) : [];
  $("venue").replaceChildren(...venues.map((v) => new Option(v, v)));
  if (!venues.includes(state.venue)) state.venue = venues[0] || null;
  $("venue").value = state.venue;
}

// The last 24 h of 1-minute bars, in pages of 1000 (newest first from the API's point of view).
async function loadHistory() {
  const now = Date.now();
  let to = now + 60000;
  let bars = [];
  for (let page = 0; page < 2; page++) {
    const answer = await api(`/api/v1/volume-profile/${state.symbol}/history?` + q({ venue: state.venue, timeframe: "1m", from: now - 86400000, to, limit: 1000 }));
    const got = answer.bars || [];
    bars = got.concat(bars);
    if (got.length < 1000) break;
    to = got[0].start;
  }
  state.bars = bars;
  candles.setData(bars.filter((b) => b.open !== null).map(candleOf));
  let cvd = 0;
  const points = bars.map((b) => { cvd += num(b.buy_volume) - num(b.sell_volume); return { time: Math.floor(b.start / 1000), value: cvd }; });
  state.cvd = cvd;
  state.lastStored = bars.length ? bars[bars.length - 1].start : 0;
  cvdLine.setData(points);
}

// Everything refreshed comes in one answer (`/api/v1/page/{symbol}`): one request a cycle.
async function refresh() {
  let page;
  try {
    page = await api(`/api/v1/page/${state.symbol}?` + q({ venue: state.venue, window: state.window }));
    showMessage("");
  } catch (err) {
    if (err.message !== "401") showMessage(String(err.message || err));
    return;
  }
  updateMinute(page);
  updateProfile(page);
  updateFootprint(page);
  updateStatus(page.status);
}

// The developing minute: updates the last candle and CVD point in place.
function updateMinute(page) {
  const flow = page.current;
  const rows = (flow && flow.footprint) || [];
  if (!rows.length || page.last_price === null) return;
  const prices = rows.map((r) => num(r.price));
  const time = Math.floor(flow.start / 1000);
  const last = state.bars.length ? state.bars[state.bars.length - 1] : null;
  if (last && flow.start <= last.start) return;
  const open = state.openOf && state.openOf.time === time ? state.openOf.open : (last ? num(last.close) : num(page.last_price));
  state.openOf = { time, open };
  const close = num(page.last_price);
  candles.update({ time, open, close, high: Math.max(open, close, ...prices), low: Math.min(open, close, ...prices) });
  cvdLine.update({ time, value: state.cvd + num(flow.delta) });
}

// The profile of the chosen window: labels (the API's exact strings), lines, histogram.
function updateProfile(page) {
  const p = page.profile || { rows: [] };
  $("poc").textContent = p.poc ?? "-";
  $("vah").textContent = p.vah ?? "-";
  $("val").textContent = p.val ?? "-";
  const c = page.coverage || {};
  $("coverage").textContent = c.complete ? "complete" : "covers from " + (c.covered_from ? new Date(c.covered_from).toISOString().slice(11, 16) + " UTC" : "-") + ((c.holes || []).length ? ", " + c.holes.length + " hole(s)" : "");
  while (levelLines.length) candles.removePriceLine(levelLines.pop());
  for (const [name, price, color] of [["POC", p.poc, "#f5c542"], ["VAH", p.vah, "#7aa2c8"], ["VAL", p.val, "#7aa2c8"]]) {
    if (price !== null && price !== undefined) levelLines.push(candles.createPriceLine({ price: num(price), color, lineWidth: 1, lineStyle: 2, title: name }));
  }
  state.profile = p;
  drawProfile();
}

function drawProfile() {
  const canvas = $("profile");
  const p = state.profile;
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  if (!p || !p.rows || !p.rows.length) return;
  const max = Math.max(...p.rows.map((r) => num(r.volume)));
  const inValue = (price) => p.val !== null && p.vah !== null && price >= num(p.val) && price <= num(p.vah);
  for (const row of p.rows) {
    const y = candles.priceToCoordinate(num(row.price));
    if (y === null) continue;
    const w = (num(row.volume) / max) * (width - 4);
    ctx.fillStyle = row.price === p.poc ? "#f5c542" : inValue(num(row.price)) ? "rgba(120,144,156,0.85)" : "rgba(120,144,156,0.4)";
    ctx.fillRect(0, y - 1, Math.max(1, w), 2);
  }
}

// The footprint of the last closed minutes and the developing one.
function updateFootprint(page) {
  const bars = (page.minutes || []).slice();
  if (page.current && !bars.some((b) => b.start === page.current.start)) bars.push(page.current);
  const prices = [...new Set(bars.flatMap((b) => (b.footprint || []).map((r) => r.price)))].sort((a, b) => num(b) - num(a));
  const table = document.createElement("table");
  table.className = "fp";
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement("th")).textContent = "price";
  for (const b of bars) head.appendChild(document.createElement("th")).textContent = new Date(b.start).toISOString().slice(11, 16);
  const body = table.createTBody();
  for (const price of prices) {
    const tr = body.insertRow();
    tr.insertCell().textContent = price;
    for (const b of bars) {
      const cell = tr.insertCell();
      const row = (b.footprint || []).find((r) => r.price === price);
      if (!row) continue;
      cell.textContent = row.bid + " x " + row.ask;
      cell.dataset.testid = `fp-${b.start}-${price}`;
      cell.dataset.bid = row.bid;
      cell.dataset.ask = row.ask;
      if ((b.buy_imbalances || []).includes(price)) cell.classList.add("buyimb");
      if ((b.sell_imbalances || []).includes(price)) cell.classList.add("sellimb");
      if ((b.stacked_imbalances || []).some((s) => num(price) >= num(s.from) && num(price) <= num(s.to))) cell.classList.add("stack");
      if ((b.absorption || []).some((a) => a.price === price)) cell.classList.add("absorb");
    }
  }
  const delta = body.insertRow();
  delta.className = "delta";
  delta.insertCell().textContent = "delta";
  for (const b of bars) {
    const cell = delta.insertCell();
    cell.textContent = b.delta;
    cell.className = num(b.delta) >= 0 ? "pos" : "neg";
  }
  $("footprint-table").replaceChildren(table);
}

// Feeds, store, holes, drops.
function updateStatus(status) {
  const strip = [];
  for (const feed of status.feeds || []) {
    const lag = feed.lag_ms === null || feed.lag_ms === undefined ? "-" : feed.lag_ms + " ms";
    strip.push({ cls: feed.up ? "ok" : "bad", text: `${feed.venue}: ${feed.up ? "up" : "down (" + feed.reason + ")"}, lag ${lag}, ${feed.reconnects} reconnects`, testid: `feed-${feed.venue}` });
  }
  const store = status.store || {};
  strip.push({ cls: store.available ? "ok" : "bad", text: `store ${store.backend}: ${store.available ? "up" : "down"}, ${store.buffered} buffered`, testid: "store" });
  const holes = status.holes || { open: 0, closed: 0 };
  strip.push({ cls: holes.open ? "warn" : "ok", text: `gaps: ${holes.open} open, ${holes.closed} closed`, testid: "gaps" });
  strip.push({ cls: status.drops ? "warn" : "ok", text: `drops: ${status.drops}`, testid: "drops" });
  $("status").replaceChildren(...strip.map((s) => {
    const span = document.createElement("span");
    span.className = "feed " + s.cls;
    span.dataset.testid = s.testid;
    span.textContent = s.text;
    return span;
  }));
}

// Naked POCs and the sessions' POCs, read once a minute (they come from the store).
async function refreshLevels() {
  try {
    const [naked, sessions] = await Promise.all([
      api(`/api/v1/naked-pocs/${state.symbol}?` + q({ venue: state.venue })),
      api(`/api/v1/sessions/${state.symbol}?` + q({ venue: state.venue })),
    ]);
    while (referenceLines.length) candles.removePriceLine(referenceLines.pop());
    for (const n of (naked.naked_pocs || []).slice(0, 6)) {
      referenceLines.push(candles.createPriceLine({ price: num(n.price), color: "#c792ea", lineWidth: 1, lineStyle: 1, title: "naked POC" }));
    }
    for (const s of sessions.sessions || []) {
      const previous = s.previous;
      if (previous && previous.poc) {
        referenceLines.push(candles.createPriceLine({ price: num(previous.poc), color: "#80cbc4", lineWidth: 1, lineStyle: 3, title: `${s.name} POC` }));
      }
    }
  } catch (err) {
    // Levels need the store: the page goes on without them (a 503 while it fills).
  }
}

async function reload() {
  try {
    await loadSymbols();
    if (!state.symbol) { showMessage("No symbol is collected."); return; }
    await loadHistory();
    showMessage("");
  } catch (err) {
    if (err.message !== "401") showMessage(String(err.message || err));
    return;
  }
  await refresh();
  refreshLevels();
}

$("symbol").addEventListener("change", (e) => { state.symbol = e.target.value; fillVenues(); reload(); });
$("venue").addEventListener("change", (e) => { state.venue = e.target.value; reload(); });
$("window").addEventListener("change", (e) => { state.window = e.target.value; refresh(); });
$("keyform").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("wadmKey", $("key").value); $("key").value = ""; reload(); });
chart.timeScale().subscribeVisibleLogicalRangeChange(drawProfile);
window.addEventListener("resize", drawProfile);
reload();
state.timer = setInterval(refresh, POLL_MS);
setInterval(refreshLevels, LEVELS_MS);
