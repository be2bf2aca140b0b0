// s2edit studio page: talks to the server's /api routes; all state and computation live on the server.
"use strict";

const $ = (id) => document.getElementById(id);
const app = {
  sid: null, config: null, info: null, group: "sefa", directions: [],
  seq: 0, inflight: false, pending: null, distances: [], thumbQueue: [], thumbBusy: false,
};

// ----- talking to the server
function headers(extra) { return Object.assign({ "X-Session": app.sid }, extra || {}); }

async function api(path, options) {
  const opts = Object.assign({ method: "GET" }, options || {});
  opts.headers = headers(opts.headers);
  if (opts.json !== undefined) {
    opts.body = JSON.stringify(opts.json);
    opts.headers["Content-Type"] = "application/json";
    delete opts.json;
  }
  const response = await fetch(path, opts);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = kind === "info" ? "info" : "";
  box.hidden = !text;
}

async function guarded(fn) {
  try { showMessage(""); await fn(); } catch (err) { showMessage(err.message); }
}

function setImage(img, blob) {
  const old = img.dataset.url;
  const url = URL.createObjectURL(blob);
  img.dataset.url = url;
  img.src = url;
  if (old) img.addEventListener("load", () => URL.revokeObjectURL(old), { once: true });
}

async function loadImage(img, which) {
  const response = await api(`/api/render?which=${which}&t=${Date.now()}`);
  setImage(img, await response.blob());
  img.hidden = false;
}

// ----- renders: one request in flight, later slider values overwrite a single pending slot
function mergeChanges(a, b) {
  const out = Object.assign({}, a, b);
  if (a.edits || b.edits) out.edits = Object.assign({}, a.edits || {}, b.edits || {});
  return out;
}

function queueEdit(changes, commit) {
  app.pending = app.pending
    ? { changes: mergeChanges(app.pending.changes, changes), commit: app.pending.commit || commit }
    : { changes, commit };
  if (!app.inflight) flushEdit();
}

async function flushEdit() {
  if (!app.pending) return;
  const request = app.pending;
  app.pending = null;
  app.inflight = true;
  const seq = ++app.seq;
  try {
    const response = await api("/api/edit", { method: "POST", json: { changes: request.changes,
      commit: request.commit, seq } });
    if (response.status === 200) {
      const img = $("after");
      setImage(img, await response.blob());
      img.dataset.seq = String(seq);
    }
    if (request.commit && !app.pending) await refreshInfo();
  } catch (err) {
    showMessage(err.message);
    await refreshInfo();
  } finally {
    app.inflight = false;
    if (app.pending) flushEdit();
  }
}

// ----- session info and the controls that mirror it
async function refreshInfo() {
  app.info = await (await api("/api/session")).json();
  applyInfo();
}

// Controls mirror the server's state, except the one the user is working with right now.
function setControl(el, prop, value) { if (document.activeElement !== el) el[prop] = value; }

function applyInfo() {
  const info = app.info, state = info.state;
  $("undo").disabled = info.undo === 0;
  $("source").textContent = `after: ${info.source}${info.tuned ? " (tuned generator)" : ""}`;
  $("project").disabled = !info.has_target || app.busy;
  setControl($("truncation"), "value", state.truncation);
  $("trunc-value").textContent = Number(state.truncation).toFixed(2);
  setControl($("noise"), "checked", state.noise);
  setControl($("mix-on"), "checked", state.mix !== null);
  if (state.mix && state.mix.seed !== undefined) setControl($("mix-seed"), "value", state.mix.seed);
  if (state.mix) setControl($("mix-source"), "value", state.mix.seed === undefined ? "latent" : "seed");
  setLayerSelect($("mix-layers"), $("mix-custom"), state.mix_layers);
  for (const d of app.directions) {
    const row = document.querySelector(`.direction[data-id="${CSS.escape(d.id)}"]`);
    if (!row) continue;
    const edit = state.edits[d.id];
    const value = edit ? edit.value : 0;
    setControl(row.querySelector("input[type=range]"), "value", value);
    row.querySelector("output").textContent = formatValue(value);
    setLayerSelect(row.querySelector("select"), row.querySelector("input[type=text]"),
      edit ? edit.layers : "default");
  }
}

function formatValue(v) { return `${v >= 0 ? "+" : ""}${Number(v).toFixed(2)}σ`; }

function layerOptions(select, withDefault) {
  const groups = app.config.networks[app.info.network].layer_groups;
  const names = (withDefault ? ["default"] : []).concat(["all"], Object.keys(groups), ["custom"]);
  select.innerHTML = "";
  for (const name of names) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name === "custom" ? "custom…" : name === "all" || name === "default" ? name
      : `${name} (${groups[name][0]}-${groups[name][groups[name].length - 1]})`;
    select.appendChild(option);
  }
}

function setLayerSelect(select, custom, value) {
  if (document.activeElement === select || document.activeElement === custom) return;
  const known = Array.from(select.options).some((o) => o.value === value);
  select.value = known ? value : "custom";
  custom.hidden = known;
  if (!known) custom.value = value;
}

function layerValue(select, custom) { return select.value === "custom" ? custom.value.trim() || "all" : select.value; }

// ----- directions
function showGroups() {
  const net = app.config.networks[app.info.network];
  const labels = { sefa: "SeFa", pca: "PCA", world: "World attributes", files: "Files" };
  const box = $("groups");
  box.innerHTML = "";
  if (!net.groups.includes(app.group)) app.group = net.groups[0];
  for (const group of net.groups) {
    const tab = document.createElement("button");
    tab.className = "tab";
    tab.textContent = labels[group] || group;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-selected", String(group === app.group));
    tab.addEventListener("click", () => { app.group = group; showGroups(); loadDirections(); });
    box.appendChild(tab);
  }
}

async function loadDirections() {
  const box = $("directions");
  const group = app.group;
  box.innerHTML = `<p class="muted">finding ${group} directions…</p>`;
  let found;
  try {
    found = await (await api(`/api/directions?group=${encodeURIComponent(group)}`)).json();
  } catch (err) {
    box.innerHTML = "";
    showMessage(err.message);
    return;
  }
  if (group !== app.group) return;
  app.directions = found.directions;
  box.innerHTML = "";
  for (const d of app.directions) box.appendChild(directionRow(d));
  applyInfo();
  loadThumbs();
}

function directionRow(d) {
  const row = document.createElement("div");
  row.className = "direction";
  row.dataset.id = d.id;
  const value = d.value === null ? "" : d.group === "world" ? `acc ${(d.value * 100).toFixed(0)}%`
    : d.group === "sefa" ? `λ ${d.value.toPrecision(3)}` : `σ ${d.value.toPrecision(3)}`;
  row.innerHTML = `<div class="head"><span class="name"></span><span class="muted small"></span>
    <output>+0.00σ</output></div>
    <input type="range" class="dir-slider" min="-3" max="3" step="0.05" value="0">
    <div class="row"><label class="inline">layers <select></select></label>
      <input type="text" placeholder="e.g. 0-3" size="8" hidden></div>
    <img class="thumbs" alt="">`;
  row.querySelector(".name").textContent = d.name;
  row.querySelector(".small").textContent = value;
  const slider = row.querySelector("input[type=range]");
  slider.setAttribute("aria-label", d.name);
  const select = row.querySelector("select");
  const custom = row.querySelector("input[type=text]");
  layerOptions(select, true);
  const send = (commit) => {
    const v = parseFloat(slider.value);
    row.querySelector("output").textContent = formatValue(v);
    queueEdit({ edits: { [d.id]: { value: v, layers: layerValue(select, custom) } } }, commit);
  };
  slider.addEventListener("input", () => send(false));
  slider.addEventListener("change", () => send(true));
  select.addEventListener("change", () => { custom.hidden = select.value !== "custom"; send(true); });
  custom.addEventListener("change", () => send(true));
  const thumbs = row.querySelector("img.thumbs");
  thumbs.title = `${d.name} at -2σ, -1σ, 0, +1σ, +2σ`;
  thumbs.dataset.id = d.id;
  return row;
}

// thumbnails load one at a time so they never crowd out a slider render
function loadThumbs() {
  app.thumbQueue = Array.from(document.querySelectorAll("img.thumbs"));
  if (!app.thumbBusy) nextThumb();
}

async function nextThumb() {
  const img = app.thumbQueue.shift();
  if (!img) { app.thumbBusy = false; return; }
  app.thumbBusy = true;
  try {
    const response = await api(`/api/thumbs?id=${encodeURIComponent(img.dataset.id)}&t=${Date.now()}`);
    setImage(img, await response.blob());
  } catch (err) { /* the row stays without a strip */ }
  nextThumb();
}

// ----- loading what to edit
async function afterNewSource(info) {
  app.info = info;
  applyInfo();
  await Promise.all([loadImage($("before"), "before"), loadImage($("after"), "after")]);
  if (info.has_target) { await loadImage($("target"), "target"); $("no-target").hidden = true; }
  else { $("target").hidden = true; $("no-target").hidden = false; $("landmarks").hidden = true; }
  $("step").textContent = !info.has_target ? "no photo loaded" : info.projected ? "projected"
    : info.instant ? "the encoder's instant inversion: Project refines it" : "ready to project";
  $("report").textContent = info.report ? reportText(info.report) : "";
  loadThumbs();
}

function reportText(r) {
  if (r.stopped) return `stopped early; kept the last step's latent (${r.loss})`;
  let text = `${r.steps} steps in ${r.seconds.toFixed(1)} s · ${r.loss} distance ` +
    `${r.perceptual_distance.toFixed(4)} · PSNR ${r.psnr_db.toFixed(2)} dB · SSIM ${r.ssim.toFixed(3)}`;
  const t = r.tuning;
  if (t) {
    text += t.stopped ? " · tuning stopped: edits use the untuned generator"
      : ` · tuned ${t.steps} steps: distance ${t.perceptual_distance.toFixed(4)}, PSNR ${t.psnr_db.toFixed(2)} dB`;
  }
  return text;
}

async function uploadPhoto(file) {
  if (!file) return;
  await guarded(async () => {
    const align = $("align").checked ? "1" : "0";
    const response = await api(`/api/upload/photo?align=${align}`, { method: "POST", body: file,
      headers: { "X-Filename": encodeURIComponent(file.name), "Content-Type": "application/octet-stream" } });
    const info = await response.json();
    app.distances = [];
    drawCurve();
    $("progress-img").hidden = true;
    await afterNewSource(info);
    drawLandmarks(file, info.photo);
  });
}

function drawLandmarks(file, photo) {
  const canvas = $("landmarks");
  if (!photo || !photo.landmarks) { canvas.hidden = true; return; }
  const img = new Image();
  img.onload = () => {
    const [w, h] = photo.source_size;
    const scale = Math.min(canvas.width / w, canvas.height / h);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, w * scale, h * scale);
    ctx.fillStyle = "#ff3b30";
    for (const [x, y] of photo.landmarks) {
      ctx.beginPath(); ctx.arc(x * scale, y * scale, 3, 0, 2 * Math.PI); ctx.fill();
    }
    canvas.hidden = false;
    URL.revokeObjectURL(img.src);
  };
  img.src = URL.createObjectURL(file);
}

async function uploadLatent(file, role) {
  if (!file) return;
  await guarded(async () => {
    const response = await api(`/api/upload/latent?role=${role}`, { method: "POST", body: file,
      headers: { "X-Filename": encodeURIComponent(file.name), "Content-Type": "application/octet-stream" } });
    const info = await response.json();
    if (role === "mix") {
      app.info = info;
      queueEdit({ mix: {}, mix_layers: layerValue($("mix-layers"), $("mix-custom")) }, true);
      $("mix-source").value = "latent";
      return;
    }
    await afterNewSource(info);
    if (info.latent && info.latent.warning) showMessage(`note: ${info.latent.warning}`, "info");
  });
}

// A latent and the tuned file it records may be chosen together: the latent opens first, then the tuned file.
async function uploadLatents(files) {
  const tunedLast = Array.from(files).sort((a, b) => a.name.endsWith(".tuned.safetensors") -
    b.name.endsWith(".tuned.safetensors"));
  for (const file of tunedLast) await uploadLatent(file, "edit");
}

// ----- projection and its progress stream
function drawCurve() {
  const canvas = $("curve"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const d = app.distances;
  if (d.length < 1) return;
  const lo = Math.min(...d.map((p) => p[1])), hi = Math.max(...d.map((p) => p[1]));
  const total = app.projectSteps || d[d.length - 1][0];
  ctx.strokeStyle = "#2f6fed"; ctx.lineWidth = 2; ctx.beginPath();
  d.forEach(([step, v], i) => {
    const x = 4 + (canvas.width - 8) * (step / total);
    const y = canvas.height - 6 - (canvas.height - 14) * (hi > lo ? (v - lo) / (hi - lo) : 0.5);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.fillStyle = "#6b7385"; ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(`distance ${d[d.length - 1][1].toFixed(4)}`, 6, 12);
}

async function startProjection() {
  await guarded(async () => {
    const settings = { preset: $("preset").value, space: $("space").value,
      noise: $("noise-opt").value, loss: $("loss").value, tune: $("tune").checked };
    if ($("steps").value) settings.steps = parseInt($("steps").value, 10);
    app.distances = [];
    app.phase = "project";
    drawCurve();
    const started = await (await api("/api/project", { method: "POST", json: settings })).json();
    app.projectSteps = started.steps;
    $("step").textContent = `step 0/${started.steps}`;
    $("stop").disabled = false;
  });
}

// The event stream is open while the tab is visible or its projection runs: browsers allow about six
// connections per host, so hidden tabs give theirs back (events wait on the server until reconnection).
function watchVisibility() {
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) connectEvents();
    else if (app.events && !app.mine) { app.events.close(); app.events = null; }
  });
}

function connectEvents() {
  if (app.events) return;
  const source = new EventSource(`/api/events?sid=${encodeURIComponent(app.sid)}`);
  app.events = source;
  source.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    app.busy = s.busy;
    app.mine = s.busy && s.mine;
    const pill = $("status");
    const fits = Object.values(s.fits);
    pill.className = `pill ${s.busy || fits.length ? "busy" : "idle"}`;
    pill.textContent = s.busy ? (s.mine ? "projecting" : "busy: another tab is projecting")
      : fits.length ? `fitting attributes ${fits[0][0]}/${fits[0][1]}` : "idle";
    $("project").disabled = s.busy || !(app.info && app.info.has_target);
    $("stop").disabled = !(s.busy && s.mine);
  });
  source.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    $("step").textContent = `${p.phase === "tune" ? "tuning" : "step"} ${p.step}/${p.steps}`;
    $("step").dataset.updates = String(parseInt($("step").dataset.updates || "0", 10) + 1);
    if (p.image) {
      const img = $("progress-img");
      img.src = p.image;
      img.hidden = false;
    }
    if (p.phase !== app.phase) { app.phase = p.phase; app.distances = []; app.projectSteps = p.steps; }
    app.distances.push([p.step, p.distance]);
    drawCurve();
  });
  const closeIfHidden = () => { if (document.hidden) { source.close(); app.events = null; } };
  source.addEventListener("done", async (e) => {
    closeIfHidden();
    const d = JSON.parse(e.data);
    $("stop").disabled = true;
    await afterNewSource(d.session);
    $("step").textContent = d.report.stopped ? "stopped" : "projected";
  });
  source.addEventListener("failed", (e) => {
    closeIfHidden();
    $("stop").disabled = true;
    $("step").textContent = "failed";
    showMessage(JSON.parse(e.data).error);
  });
}

// ----- wiring
function wire() {
  const drop = $("drop");
  $("photo").addEventListener("change", (e) => uploadPhoto(e.target.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    uploadPhoto(e.dataTransfer.files[0]);
  });
  $("latent").addEventListener("change", (e) => uploadLatents(e.target.files));
  $("mix-latent").addEventListener("change", (e) => uploadLatent(e.target.files[0], "mix"));
  $("load-seed").addEventListener("click", () => guarded(async () => {
    const info = await (await api("/api/seed", { method: "POST",
      json: { seed: parseInt($("seed").value, 10) } })).json();
    await afterNewSource(info);
  }));
  $("network").addEventListener("change", () => guarded(async () => {
    const info = await (await api("/api/network", { method: "POST",
      json: { index: parseInt($("network").value, 10) } })).json();
    app.info = info;
    setupNetwork();
    await afterNewSource(info);
    loadDirections();
  }));
  $("project").addEventListener("click", startProjection);
  $("stop").addEventListener("click", () => guarded(() => api("/api/stop", { method: "POST" })));
  $("undo").addEventListener("click", () => guarded(async () => {
    await api("/api/undo", { method: "POST" });
    await refreshInfo();
    queueEdit({}, false);
  }));
  $("reset").addEventListener("click", () => {
    const edits = {};
    for (const id of Object.keys(app.info.state.edits)) edits[id] = { value: 0 };
    queueEdit({ edits, truncation: 1, mix: null, noise: true }, true);
  });
  $("truncation").addEventListener("input", (e) => {
    $("trunc-value").textContent = Number(e.target.value).toFixed(2);
    queueEdit({ truncation: parseFloat(e.target.value) }, false);
  });
  $("truncation").addEventListener("change", (e) => queueEdit({ truncation: parseFloat(e.target.value) }, true));
  $("noise").addEventListener("change", (e) => queueEdit({ noise: e.target.checked }, true));
  const sendMix = () => {
    const custom = $("mix-custom");
    custom.hidden = $("mix-layers").value !== "custom";
    const mix = !$("mix-on").checked ? null
      : $("mix-source").value === "seed" ? { seed: parseInt($("mix-seed").value, 10) || 0 } : {};
    queueEdit({ mix, mix_layers: layerValue($("mix-layers"), custom) }, true);
  };
  for (const id of ["mix-on", "mix-source", "mix-seed", "mix-layers", "mix-custom"]) {
    $(id).addEventListener("change", sendMix);
  }
  for (const kind of ["png", "latent", "video"]) {
    $(`export-${kind}`).addEventListener("click", () => guarded(async () => {
      const result = await (await api(`/api/export/${kind}`, { method: "POST" })).json();
      for (const f of result.files) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = f.url; a.textContent = f.name; a.download = f.name;
        li.appendChild(a);
        li.append(` → ${f.path} in the output folder`);
        $("exports").prepend(li);
      }
    }));
  }
}

function setupNetwork() {
  const net = app.config.networks[app.info.network];
  $("netinfo").textContent = `${net.resolution}×${net.resolution}, ${net.num_ws} ws, w_dim ${net.w_dim}`;
  document.body.classList.toggle("pixelated", net.resolution <= 128);
  layerOptions($("mix-layers"), false);
  $("mix-layers").value = "coarse";
  showGroups();
}

async function main() {
  wire();
  app.sid = document.querySelector("meta[name='s2edit-session']").content;  // this tab's token, sent with every call
  try {
    app.config = await (await api("/api/config")).json();
    app.info = await (await api("/api/session")).json();
  } catch (err) {
    showMessage(`cannot reach the studio server: ${err.message}`);
    return;
  }
  const select = $("network");
  app.config.networks.forEach((n, i) => {
    const option = document.createElement("option");
    option.value = String(i); option.textContent = n.name;
    select.appendChild(option);
  });
  $("limits").textContent = `PNG, JPEG, WebP or BMP; up to ${app.config.max_upload_mib} MiB, ` +
    `${app.config.max_megapixels} megapixels`;
  setupNetwork();
  connectEvents();
  watchVisibility();
  await afterNewSource(app.info);
  await loadDirections();
  document.body.dataset.ready = "1";
}

main();
