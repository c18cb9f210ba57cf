// The page: a run's life (create, step, play, replay), the views, the backward-pass walk, the
// hover card and the weight editor. Every number comes from the server's STATE.

import { api, live } from "./api.js";
import { readHash, setupControls, showSettings, writeHash } from "./controls.js";
import { NetworkView, sub, sup } from "./network.js";
import { DECADES, heatmap, lossChart, points } from "./plots.js";

const $ = (id) => document.getElementById(id);
const fmt = (v) => (v === null || v === undefined ? "–" : Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(3));

const app = {
  defaults: null,
  settings: null,
  csv: null,
  view: { edges: "weight", neurons: "output" },
  run: null, // id
  current: null, // the settings, csv and csvName of the run on screen
  note: "", // a remark shown with the next run
  state: null,
  train: null,
  test: null,
  regression: false,
  ws: null,
  playing: false,
  walk: null, // {blocks, index}
  pending: false,
  frames: 0, // live frames received (the speed suite counts them)
  curve: [], // [step, training loss, test loss] for the chart
};
window.playground = app; // for scripting and the browser tests

let network;
let drawChart;

// An error in red; kind "note" for a remark on settings the page adjusted. An empty text hides it.
function message(text, kind = "error") {
  const box = $("message");
  box.textContent = text || "";
  box.className = kind;
  box.hidden = !text;
}

// The buttons that act on the run; with no run they are disabled, never silently dead.
function runButtons(enabled) {
  for (const id of ["replay", "play", "step", "backprop"]) $(id).disabled = !enabled;
  for (const format of ["json", "npz", "pytorch"]) {
    const link = $(`export-${format}`);
    if (enabled) link.href = api.exportUrl(app.run, format);
    else link.removeAttribute("href");
  }
}

// The rows of a CSV text as the server counts them (blank lines left out, and a first line with
// no number in it, a header), and the training points it makes of them.
function csvTrainingPoints(text, ratio) {
  const isNumber = (c) => c.trim() !== "" && Number.isFinite(Number(c));
  let rows = text.split(/\r?\n/).filter((line) => line.split(",").some((c) => c.trim()));
  if (rows.length && !rows[0].split(",").some(isNumber)) rows = rows.slice(1);
  return Math.max(1, Math.min(rows.length - 1, roundHalfEven(rows.length * ratio)));
}

// Python's round(), which the server uses: halves go to the even neighbour.
function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 ? r - 1 : r;
}

async function newRun() {
  stopWalk();
  setPlaying(false);
  const settings = { ...app.settings };
  let note = app.note;
  app.note = "";
  if (settings.dataset === "csv") {
    settings.csv = app.csv;
    const points = csvTrainingPoints(app.csv, settings.ratio);
    if (settings.batch_size > points) {
      note = `Batch size ${settings.batch_size} → ${points}: ${app.csvName} gives ${points} training points.`;
      settings.batch_size = app.settings.batch_size = points;
    }
  }
  writeHash(app.settings, app.view);
  showSettings(app.settings);
  let created;
  try {
    created = await api.create(settings);
  } catch (e) {
    refused(e.message);
    return;
  }
  if (app.ws) app.ws.close();
  if (app.run) api.remove(app.run);
  message(note, "note");
  app.run = created.id;
  app.current = { settings: { ...app.settings, hidden: [...app.settings.hidden] }, csv: app.csv, csvName: app.csvName };
  runButtons(true);
  const state = created.state;
  app.train = state.train;
  app.test = state.test;
  app.regression = state.regression;
  const sizes = [2, ...state.layers.map((l) => l.bias.length)];
  network.layout(sizes, inputGrids(state.grid.thumb));
  const n = state.train.x.length + state.test.x.length;
  $("data-hint").textContent = app.regression
    ? "slp: the post's task, T = X. Colours show the first target; the output picture shows the first output."
    : `${settings.dataset === "csv" ? `Your points: ${app.csvName}, ${n} rows, scaled into the plane. ` : ""}Orange is class 0, blue class 1. The output picture is the network's prediction.`;
  app.ws = live(app.run, (frame) => {
    app.frames += 1;
    show(frame);
  }, (text) => {
    setPlaying(false);
    message(text);
  });
  // Play pressed while the run was being made starts it once its live view is open.
  app.ws.addEventListener("open", () => app.playing && setPlaying(true));
  show(state);
}

// The server refused the new settings: the run on screen stays, and the controls go back to
// its settings; with no run on screen, the buttons that need one are disabled.
function refused(text) {
  if (!app.current) {
    runButtons(false);
    message(text);
    return;
  }
  app.settings = { ...app.current.settings, hidden: [...app.current.settings.hidden] };
  app.csv = app.current.csv;
  app.csvName = app.current.csvName;
  $("csv").value = "";
  writeHash(app.settings, app.view);
  showSettings(app.settings);
  message(`${text}. The run shown keeps its settings.`);
}

function inputGrids(n) {
  const xs = [];
  const ys = [];
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      xs.push(-1 + (2 * c) / (n - 1));
      ys.push(1 - (2 * r) / (n - 1));
    }
  }
  return [xs, ys];
}

const LEGENDS = {
  weight: "Edges: each weight W, ",
  gradient: "Edges: each gradient ∂L/∂W of the last step, ",
  update: "Edges: the change ΔW = W' − W made by the last step (the opposite sign of the gradient for plain SGD), ",
};

function legend() {
  const neurons = app.view.neurons === "gradient"
    ? `Neurons: ∂L/∂a at each training point (one dot per point; blue: raising a would raise the loss), on a log scale per layer: full colour at the layer's largest |∂L/∂a|, fading to grey at 1/${10 ** DECADES} of it.`
    : "Neurons: their output a over the input plane [-1, 1]²; the small square is the bias.";
  $("legend-text").textContent = `${LEGENDS[app.view.edges]}blue positive, orange negative, thicker for a larger magnitude. ${neurons} Hover for the numbers; click an edge or a neuron to edit its weight or bias.`;
}

function show(state) {
  app.state = state;
  legend();
  $("step-count").textContent = state.step.toLocaleString("en-US");
  $("train-loss").textContent = fmt(state.loss);
  $("test-loss").textContent = fmt(state.test_loss);
  const highlight = app.walk ? app.walk.blocks[app.walk.index] : null;
  network.update(state, app.train, app.view, highlight);
  // a live frame carries only the curve points after those already received
  app.curve = state.curve_from ? app.curve.slice(0, state.curve_from).concat(state.curve) : state.curve;
  drawChart(app.curve);
  const canvas = $("boundary");
  heatmap(canvas, state.output, state.grid.size, { fade: 0.4 });
  points(canvas, app.train.x, app.train.label, { regression: app.regression });
  if ($("show-test").checked) points(canvas, app.test.x, app.test.label, { stroke: "black", regression: app.regression });
}

function setPlaying(on) {
  // training on makes the walk's step stale
  if (on) stopWalk();
  app.playing = on;
  $("play").textContent = on ? "❚❚ Pause" : "▶ Play";
  if (app.ws && app.ws.readyState === WebSocket.OPEN) app.ws.send(JSON.stringify({ play: on }));
}

async function stepOnce() {
  if (app.pending || !app.run) return;
  setPlaying(false);
  app.pending = true;
  try {
    show(await api.step(app.run, 1));
    message("");
  } catch (e) {
    message(e.message);
  } finally {
    app.pending = false;
  }
}

// ------------------------------------------------------------------ the backward-pass walk

async function startWalk() {
  if (!app.run || app.pending) return;
  await stepOnce();
  let blocks;
  try {
    ({ blocks } = await api.backward(app.run));
  } catch (e) {
    message(e.message);
    return;
  }
  if (!blocks.length) return;
  app.walk = { blocks, index: 0, edges: app.view.edges };
  setView("edges", "gradient");
  $("backward").hidden = false;
  showBlock();
}

function showBlock() {
  const { blocks, index } = app.walk;
  const block = blocks[index];
  $("bw-count").textContent = `${index + 1} / ${blocks.length} of step ${app.state.step.toLocaleString("en-US")}'s backward pass`;
  $("bw-title").textContent = block.title;
  $("bw-equation").textContent = block.equation;
  $("bw-shapes").textContent = `shapes  ${block.shapes}`;
  const lines = [];
  for (const v of block.values) {
    const pad = " ".repeat(v.name.length + 3);
    v.lines.forEach((line, i) => lines.push(i === 0 ? `${v.name} = ${line}` : pad + line));
  }
  $("bw-values").textContent = lines.join("\n");
  $("bw-prev").disabled = index === 0;
  $("bw-next").textContent = index === blocks.length - 1 ? "Next step ▸" : "Next ▸";
  if (block.part === "update") setView("edges", "update");
  else setView("edges", "gradient");
  show(app.state);
}

async function nextBlock() {
  if (!app.walk) return;
  if (app.walk.index < app.walk.blocks.length - 1) {
    app.walk.index += 1;
    showBlock();
  } else {
    await startWalk();
  }
}

function stopWalk() {
  if (!app.walk) return;
  const edges = app.walk.edges;
  app.walk = null;
  $("backward").hidden = true;
  setView("edges", edges);
  if (app.state) show(app.state);
}

// --------------------------------------------------------------------- hover and editing

function tooltip(event, html) {
  const tip = $("tooltip");
  tip.innerHTML = html;
  tip.hidden = false;
  tip.style.left = `${event.pageX + 14}px`;
  tip.style.top = `${event.pageY + 14}px`;
}

function edgeNames(e) {
  const from = e.k === 0 ? `X${sub(e.i + 1)}` : `neuron ${e.i + 1} of layer ${e.k}`;
  const last = e.k === app.state.layers.length - 1;
  const to = last ? `output ${e.j + 1}` : `neuron ${e.j + 1} of layer ${e.k + 1}`;
  const a = e.k === 0 ? "X" : `A${sup(e.k)}`;
  const z = last ? "O" : `Z${sup(e.k + 1)}`;
  return { from, to, a, z, w: `W${sup(e.k + 1)}` };
}

function hoverEdge(event, e) {
  const layer = app.state.layers[e.k];
  const n = edgeNames(e);
  const at = (m) => (m ? fmt(m[e.i][e.j]) : "– (no step yet)");
  tooltip(event, `<b>${n.w}[${e.i + 1},${e.j + 1}]</b>: ${n.from} → ${n.to}<br>
    weight <b>${fmt(layer.weight[e.i][e.j])}</b><br>
    gradient ∂L/∂W <b>${at(layer.weight_grad)}</b><br>
    last update ΔW <b>${at(layer.weight_update)}</b><br>
    <span class="formula">∂L/∂${n.w}${sub(e.i + 1)},${sub(e.j + 1)} = Σₙ ${n.a}ₙ,${sub(e.i + 1)} · ∂L/∂${n.z}ₙ,${sub(e.j + 1)}</span><br>
    <i>click to edit</i>`);
}

function hoverNode(event, c, j) {
  const k = c - 1;
  const layer = app.state.layers[k];
  const last = k === app.state.layers.length - 1;
  const grads = layer.activation_grad[j];
  const meanAbs = grads.reduce((s, v) => s + Math.abs(v), 0) / grads.length;
  const f = last ? "" : app.state.activation;
  const input = k === 0 ? "X" : `A${sup(k)}`;
  const sum = `Σᵢ ${input}ᵢ W${sup(c)}ᵢ${sub(j + 1)} + b${sup(c)}${sub(j + 1)}`;
  const formula = last ? `O${sub(j + 1)} = ${sum}` : `A${sup(c)}${sub(j + 1)} = ${f}(${sum})`;
  const at = (m) => (m ? fmt(m[j]) : "– (no step yet)");
  tooltip(event, `<b>${last ? `output ${j + 1}` : `neuron ${j + 1} of layer ${c}`}</b><br>
    bias b <b>${fmt(layer.bias[j])}</b><br>
    gradient ∂L/∂b <b>${at(layer.bias_grad)}</b><br>
    last update Δb <b>${at(layer.bias_update)}</b><br>
    mean |∂L/∂a| over the training points <b>${fmt(meanAbs)}</b><br>
    <span class="formula">${formula}</span><br>
    <i>click to edit the bias</i>`);
}

function openEditor(event, target, label, value) {
  const form = $("editor");
  app.editing = target;
  $("editor-label").textContent = label;
  $("editor-value").value = Number(value.toPrecision(6));
  form.hidden = false;
  form.style.left = `${event.pageX + 10}px`;
  form.style.top = `${event.pageY + 10}px`;
  $("tooltip").hidden = true;
  $("editor-value").focus();
  $("editor-value").select();
}

async function submitEditor(event) {
  event.preventDefault();
  const value = Number($("editor-value").value);
  $("editor").hidden = true;
  if (!app.editing || !Number.isFinite(value)) return;
  const { layer, row, col } = app.editing;
  setPlaying(false);
  try {
    show(await api.weight(app.run, layer, row, col, value));
    message("");
  } catch (e) {
    message(e.message);
  }
}

function setView(name, value) {
  app.view[name] = value;
  for (const input of document.querySelectorAll(`input[name="${name}"]`)) input.checked = input.value === value;
  writeHash(app.settings, app.view);
}

// ----------------------------------------------------------------------------- start-up

async function main() {
  drawChart = lossChart($("loss-chart"));
  network = new NetworkView($("network"), {
    onHoverEdge: hoverEdge,
    onHoverNode: hoverNode,
    onLeave: () => ($("tooltip").hidden = true),
    onClickEdge: (event, e) => {
      const n = edgeNames(e);
      openEditor(event, { layer: e.k, row: e.i, col: e.j }, `${n.w}[${e.i + 1},${e.j + 1}] =`,
        app.state.layers[e.k].weight[e.i][e.j]);
    },
    onClickNode: (event, c, j) =>
      openEditor(event, { layer: c - 1, row: null, col: j }, `bias b${sup(c)}${sub(j + 1)} =`,
        app.state.layers[c - 1].bias[j]),
    onResize: (k, delta) => {
      const hidden = [...app.settings.hidden];
      hidden[k] = Math.max(1, Math.min(app.defaults.max_width, hidden[k] + delta));
      change({ hidden });
    },
  });
  const defaults = await api.defaults();
  app.defaults = defaults;
  const { settings, view, ignored } = readHash(defaults);
  app.settings = settings;
  app.view = view;
  app.note = ignoredNote(ignored);
  setView("edges", view.edges);
  setView("neurons", view.neurons);
  setupControls(change, (name, text) => {
    showSettings(app.settings);
    message(text);
  });
  $("replay").onclick = () => newRun();
  $("play").onclick = () => {
    setPlaying(!app.playing);
    if (app.playing) message("");
  };
  $("step").onclick = () => {
    stopWalk();
    stepOnce();
  };
  $("backprop").onclick = () => startWalk();
  $("bw-next").onclick = () => nextBlock();
  $("bw-prev").onclick = () => {
    app.walk.index = Math.max(0, app.walk.index - 1);
    showBlock();
  };
  $("bw-close").onclick = () => stopWalk();
  $("layer-plus").onclick = () => {
    if (app.settings.hidden.length < defaults.max_layers) change({ hidden: [...app.settings.hidden, 4] });
  };
  $("layer-minus").onclick = () => {
    if (app.settings.hidden.length) change({ hidden: app.settings.hidden.slice(0, -1) });
  };
  for (const input of document.querySelectorAll('input[name="edges"], input[name="neurons"]')) {
    input.onchange = () => {
      setView(input.name, input.value);
      if (app.state) show(app.state);
    };
  }
  $("show-test").onchange = () => app.state && show(app.state);
  $("editor").onsubmit = submitEditor;
  $("editor-cancel").onclick = () => ($("editor").hidden = true);
  $("csv").onchange = async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    if (file.size > 64 * 1024) {
      message(`${file.name} is larger than 64 KiB`);
      return;
    }
    app.csv = await file.text();
    app.csvName = file.name;
    change({ dataset: "csv" });
  };
  window.addEventListener("pagehide", () => app.run && api.remove(app.run));
  // A link pasted into this tab (or the hash edited by hand): its settings, a new run.
  window.addEventListener("hashchange", () => {
    const fromUrl = readHash(defaults);
    app.settings = fromUrl.settings;
    app.note = ignoredNote(fromUrl.ignored);
    setView("edges", fromUrl.view.edges);
    setView("neurons", fromUrl.view.neurons);
    newRun();
  });
  await newRun();
}

function ignoredNote(ignored) {
  return ignored.length ? `Ignored from the link: ${ignored.join("; ")}.` : "";
}

function change(patch) {
  Object.assign(app.settings, patch);
  if (app.settings.dataset === "slp") app.settings.loss = "mse";
  newRun();
}

main().catch((e) => message(e.message));
