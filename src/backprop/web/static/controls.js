// The controls: settings in the page's widgets and in the URL's hash (as TF Playground keeps
// them), so a link reproduces a run.

export const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
export const MOMENTA = [0, 0.5, 0.9, 0.99];
export const DATASETS = ["circle", "xor", "gauss", "spiral", "moons", "slp"];
const NUMBERS = ["lr", "momentum", "batch_size", "seed", "noise", "ratio"];
const CHOICES = ["dataset", "activation", "loss", "optimizer"];
export const VIEW = { edges: ["weight", "gradient", "update"], neurons: ["output", "gradient"] };

// Settings and view modes from the hash, over the server's defaults; bad values are ignored.
export function readHash(defaults) {
  const settings = { ...defaults };
  delete settings.csv;
  const view = { edges: "weight", neurons: "output" };
  const hash = new URLSearchParams(location.hash.slice(1));
  for (const name of CHOICES) if (hash.has(name)) settings[name] = hash.get(name);
  for (const name of NUMBERS) {
    const v = Number(hash.get(name));
    if (hash.has(name) && Number.isFinite(v)) settings[name] = v;
  }
  if (hash.has("hidden")) {
    const text = hash.get("hidden");
    const widths = text === "" ? [] : text.split(",").map(Number);
    if (widths.every((w) => Number.isInteger(w) && w >= 1)) settings.hidden = widths;
  }
  if (!DATASETS.includes(settings.dataset)) settings.dataset = defaults.dataset;
  for (const name of ["edges", "neurons"]) {
    if (VIEW[name].includes(hash.get(name))) view[name] = hash.get(name);
  }
  return { settings, view };
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

// Build the widgets once; onChange(settingsPatch) is called for every user change.
export function setupControls(onChange) {
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
    const v = Math.floor(Number(e.target.value));
    if (Number.isFinite(v) && v >= 0) onChange({ seed: v });
  };
}

// Show `settings` in the widgets.
export function showSettings(settings) {
  const $ = (id) => document.getElementById(id);
  $("lr").value = String(settings.lr);
  $("momentum").value = String(settings.momentum);
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
