// Pictures on canvas: heatmaps of a value over the plane [-1, 1]², the data points, the
// gradient dots, and the loss curves (SVG, with D3). TF Playground's colours: orange for
// negative, blue for positive, light grey for zero.

const d3 = window.d3;
const NEG = [245, 147, 34];
const POS = [8, 119, 189];
const MID = [235, 236, 238];

export function rgb(v) {
  const t = Math.min(1, Math.abs(v));
  const c = v < 0 ? NEG : POS;
  return [0, 1, 2].map((i) => Math.round(MID[i] + (c[i] - MID[i]) * t));
}

export function css(v) {
  const [r, g, b] = rgb(v);
  return `rgb(${r},${g},${b})`;
}

export const colours = { negative: `rgb(${NEG})`, positive: `rgb(${POS})` };

const scratch = new Map();

// values: n·n numbers, row 0 at the top (y = 1); drawn scaled to the canvas, smoothed.
export function heatmap(canvas, values, n, { scale = 1, fade = 0 } = {}) {
  let small = scratch.get(n);
  if (!small) {
    small = document.createElement("canvas");
    small.width = small.height = n;
    scratch.set(n, small);
  }
  const sctx = small.getContext("2d");
  const image = sctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const [r, g, b] = rgb(values[i] / scale);
    image.data[4 * i] = r + (255 - r) * fade;
    image.data[4 * i + 1] = g + (255 - g) * fade;
    image.data[4 * i + 2] = b + (255 - b) * fade;
    image.data[4 * i + 3] = 255;
  }
  sctx.putImageData(image, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function place(canvas, x) {
  return [((x[0] + 1) / 2) * canvas.width, ((1 - x[1]) / 2) * canvas.height];
}

// Data points: labels 0/1 (orange/blue), or a regression target (its first coordinate).
export function points(canvas, xs, labels, { stroke = "white", radius = 4, regression = false } = {}) {
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 1;
  ctx.strokeStyle = stroke;
  xs.forEach((x, i) => {
    const [px, py] = place(canvas, x);
    const v = regression ? labels[i][0] * 3 : labels[i] ? 1 : -1;
    ctx.fillStyle = css(v);
    ctx.beginPath();
    ctx.arc(px, py, radius, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  });
}

// The decades of |value| a log colour scale spans: full colour at its top, grey 10³ below.
export const DECADES = 3;

// A signed colour depth in [-1, 1] on a log scale: ±1 at |v| = scale, 0 at scale / 10^DECADES and
// below. A few large values then leave the others visible, where a linear scale greys them out.
export function logDepth(v, scale) {
  if (!scale || !v) return 0;
  const t = 1 + Math.log10(Math.abs(v) / scale) / DECADES;
  return Math.sign(v) * Math.max(0, Math.min(1, t));
}

// A neuron's gradient dL/da at each training point: one dot per point, coloured by its sign
// and, on the log scale of logDepth, its size against `scale` (the largest |dL/da| of the layer).
export function gradientDots(canvas, xs, values, scale, radius = 1.6) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#f7f7f8";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const order = xs.map((_, i) => i).sort((a, b) => Math.abs(values[a]) - Math.abs(values[b]));
  for (const i of order) {
    const [px, py] = place(canvas, xs[i]);
    ctx.fillStyle = css(logDepth(values[i], scale));
    ctx.fillRect(px - radius, py - radius, 2 * radius, 2 * radius);
  }
}

// Train and test loss against the step, on a log scale.
export function lossChart(svgElement) {
  const svg = d3.select(svgElement);
  const width = +svgElement.getAttribute("width");
  const height = +svgElement.getAttribute("height");
  const margin = { top: 8, right: 10, bottom: 22, left: 44 };
  const x = d3.scaleLinear().range([margin.left, width - margin.right]);
  const y = d3.scaleLog().range([height - margin.bottom, margin.top]);
  const gx = svg.append("g").attr("class", "axis").attr("transform", `translate(0,${height - margin.bottom})`);
  const gy = svg.append("g").attr("class", "axis").attr("transform", `translate(${margin.left},0)`);
  const train = svg.append("path").attr("class", "curve train");
  const test = svg.append("path").attr("class", "curve test");
  return (curve) => {
    const rows = curve.filter((r) => r[1] !== null && r[1] > 0);
    if (!rows.length) return;
    const values = rows.flatMap((r) => [r[1], r[2]]).filter((v) => v !== null && v > 0);
    x.domain([0, Math.max(10, rows[rows.length - 1][0])]);
    const lo = d3.min(values);
    const hi = d3.max(values);
    y.domain([Math.min(lo / 1.5, hi / 10), hi * 1.2]);
    gx.call(d3.axisBottom(x).ticks(5).tickFormat(d3.format("~s")));
    const decades = d3.range(Math.floor(Math.log10(y.domain()[0])), Math.ceil(Math.log10(y.domain()[1])) + 1);
    const [ylo, yhi] = y.domain();
    const ticks = decades.map((e) => 10 ** e).filter((v) => v >= ylo && v <= yhi);
    gy.call(d3.axisLeft(y).tickValues(ticks).tickFormat(d3.format("~g")));
    const line = (k) =>
      d3.line().defined((r) => r[k] !== null && r[k] > 0).x((r) => x(r[0])).y((r) => y(r[k]));
    train.attr("d", line(1)(rows));
    test.attr("d", line(2)(rows));
  };
}
