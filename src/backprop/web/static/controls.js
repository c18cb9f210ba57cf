// The controls: settings in the page's widgets and in the URL's hash (as TF Playground keeps
// them), so a link reproduces a run.

export const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
export const MOMENTA = [0, 0.5, 0.9, 0.99];
export const DATASETS = ["circle", "xor", "gauss", "spiral", "moons", "slp"];
const NUMBERS = ["lr", "momentum", "batch_size", "seed", "noise", "ratio"];
const CHOICES = ["dataset", "activation", "loss", "optimizer"];
export const VIEW = { edges: ["weight", "gradient", "update"], neurons: ["output", "gradient"] };

const SEED_MAX = 2 ** 32 - 1;

// The limits of each number, as the widgets (or, for the learning rate and momentum, the
// server) allow it: [lowest, highest, whole numbers only, the lowest excluded].
function limits() {
  const range = (id, scale = 1) => {
    const input = document.getElementById(id);
    return [Number(input.min) / scale, Number(input.max) / scale];
  };
  return {
    lr: [0, LEARNING_RATES[LEARNING_RATES.length - 1], false, true],
    momentum: [0, 0.999, false, false],
    batch_size: [...range("batch_size"), true, false],
    seed: [0, SEED_MAX, true, false],
    noise: [...range("noise", 100), false, false],
    ratio: [...range("ratio", 100), false, false],
  };
}

function lies(v, [lo, hi, whole, openLo]) {
  return Number.isFinite(v) && v <= hi && (openLo ? v > lo : v >= lo) && (!whole || Number.isInteger(v));
}

function describe([lo, hi, whole, openLo]) {
  return `${whole ? "a whole number" : "a number"} in ${openLo ? "(" : ""}${lo} … ${hi}`;
}

// Settings and view modes from the hash, over the server's defaults (`defaults` is the answer of
// GET /api/defaults). A value outside the controls' limits is ignored and named in `ignored`.
export function readHash(defaults) {
  const settings = { ...defaults.settings };
  delete settings.csv;
  const view = { edges: "weight", neurons: "output" };
  const ignored = [];
  const hash = new URLSearchParams(location.hash.slice(1));
  const skip = (name, why) => ignored.push(`${name}=${hash.get(name)} (${why})`);
  for (const name of CHOICES) {
    if (!hash.has(name)) continue;
    const choices = name === "dataset" ? DATASETS : [...document.getElementById(name).options].map((o) => o.value);
    if (choices.includes(hash.get(name))) settings[name] = hash.get(name);
    else skip(name, `one of ${choices.join(", ")}`);
  }
  const bounds = limits();
  for (const name of NUMBERS) {
    if (!hash.has(name)) continue;
    const v = Number(hash.get(name));
    if (hash.get(name).trim() !== "" && lies(v, bounds[name])) settings[name] = v;
    else skip(name, describe(bounds[name]));
  }
  if (hash.has("hidden")) {
    const text = hash.get("hidden");
    const widths = text === "" ? [] : text.split(",").map(Number);
    if (widths.length <= defaults.max_layers && widths.every((w) => lies(w, [1, defaults.max_width, true, false]))) {
      settings.hidden = widths;
    } else {
      skip("hidden", `at most ${defaults.max_layers} widths, each 1 … ${defaults.max_width}`);
    }
  }
  if (settings.dataset === "slp" && settings.loss !== "mse") {
    skip("loss", "slp is a regression: MSE");
    settings.loss = "mse";
  }
  for (const name of ["edges", "neurons"]) {
    if (VIEW[name].includes(hash.get(name))) view[name] = hash.get(name);
  }
  return { settings, view, ignored };
}

export function writeHash(settings, view) {
  const hash = new URLSearchParams();
  for (const name of [...CHOICES, ...NUMBERS]) hash.set(name, settings[name]);
  hash.set("hidden", settings.hidden.join(","));
  hash.set("edges", view.edges);
  hash.set("neurons", view.neurons);
  history.replaceState(null, "", `${location.pathname}${location.search}#${hash}`);
}

function fill(select, values, format = String) {
  select.innerHTML = "";
  for (const v of values) {
    const option = document.createElement("option");
    option.value = String(v);
    option.textContent = format(v);
    select.appendChild(option);
  }
}

// Build the widgets once; onChange(settingsPatch) is called for every user change, and
// onRefuse(name, text) for a value the page refuses (the widget is shown its setting again).
export function setupControls(onChange, onRefuse) {
  const $ = (id) => document.getElementById(id);
  fill($("lr"), LEARNING_RATES);
  fill($("momentum"), MOMENTA);
  const box = $("datasets");
  for (const name of DATASETS) {
    const b = document.createElement("button");
    b.textContent = name;
    b.dataset.dataset = name;
    b.onclick = () => onChange({ dataset: name });
    box.appendChild(b);
  }
  for (const name of ["lr", "momentum"]) $(name).onchange = (e) => onChange({ [name]: Number(e.target.value) });
  for (const name of ["activation", "loss", "optimizer"]) $(name).onchange = (e) => onChange({ [name]: e.target.value });
  $("batch_size").oninput = (e) => ($("batch-value").textContent = e.target.value);
  $("batch_size").onchange = (e) => onChange({ batch_size: Number(e.target.value) });
  $("noise").oninput = (e) => ($("noise-value").textContent = `${e.target.value}%`);
  $("noise").onchange = (e) => onChange({ noise: Number(e.target.value) / 100 });
  $("ratio").oninput = (e) => ($("ratio-value").textContent = `${e.target.value}%`);
  $("ratio").onchange = (e) => onChange({ ratio: Number(e.target.value) / 100 });
  $("seed").onchange = (e) => {
    const v = Number(e.target.value);
    if (e.target.value !== "" && lies(v, limits().seed)) onChange({ seed: v });
    else onRefuse("seed", `seed must be ${describe(limits().seed)}`);
  };
}

// Show `settings` in the widgets.
export function showSettings(settings) {
  const $ = (id) => document.getElementById(id);
  for (const [name, values] of [["lr", LEARNING_RATES], ["momentum", MOMENTA]]) {
    // a value from a link that the list lacks joins it, in order
    fill($(name), [...new Set([...values, settings[name]])].sort((a, b) => a - b));
    $(name).value = String(settings[name]);
  }
  $("momentum").disabled = settings.optimizer !== "sgd";
  for (const name of ["activation", "loss", "optimizer"]) $(name).value = settings[name];
  $("batch_size").value = settings.batch_size;
  $("batch-value").textContent = settings.batch_size;
  $("noise").value = Math.round(settings.noise * 100);
  $("noise-value").textContent = `${Math.round(settings.noise * 100)}%`;
  $("ratio").value = Math.round(settings.ratio * 100);
  $("ratio-value").textContent = `${Math.round(settings.ratio * 100)}%`;
  $("seed").value = settings.seed;
  $("layer-count").textContent =
    `${settings.hidden.length} hidden layer${settings.hidden.length === 1 ? "" : "s"}`;
  for (const b of document.querySelectorAll("#datasets button")) {
    b.classList.toggle("selected", b.dataset.dataset === settings.dataset);
  }
  $("loss").querySelector('[value="cross_entropy"]').disabled = settings.dataset === "slp";
}
