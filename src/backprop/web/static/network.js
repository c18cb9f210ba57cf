// The network drawing: one column per layer, each neuron a small picture (its output over the
// plane, or its gradient dL/da at the training points), each weight an edge whose colour is the
// sign and whose width is the magnitude of the weight, its gradient, or its last update.

import { colours, css, gradientDots, heatmap } from "./plots.js";

const d3 = window.d3;
const NODE = 40;
const GAP = 12;
const TOP = 54;
const SUB = "₀₁₂₃₄₅₆₇₈₉";
export const sub = (n) => String(n).split("").map((c) => SUB[+c]).join("");
export const sup = (n) => "⁽" + String(n).split("").map((c) => "⁰¹²³⁴⁵⁶⁷⁸⁹"[+c]).join("") + "⁾";

const EDGE_KEY = { weight: "weight", gradient: "weight_grad", update: "weight_update" };
const BIAS_KEY = { weight: "bias", gradient: "bias_grad", update: "bias_update" };

export class NetworkView {
  constructor(container, handlers) {
    this.container = container;
    this.handlers = handlers; // onHoverEdge, onHoverNode, onLeave, onClickEdge, onClickNode, onResize
    this.sizes = [];
  }

  layout(sizes, inputGrids) {
    this.sizes = sizes;
    const box = this.container;
    box.innerHTML = "";
    const width = Math.max(520, box.clientWidth || 560);
    const columns = sizes.length;
    const spacing = (width - NODE - 40) / (columns - 1);
    const tallest = Math.max(...sizes);
    const height = TOP + tallest * (NODE + GAP) + 10;
    box.style.height = `${height}px`;
    this.pos = sizes.map((n, c) => {
      const top = TOP + ((tallest - n) * (NODE + GAP)) / 2;
      return d3.range(n).map((j) => ({ x: 20 + c * spacing, y: top + j * (NODE + GAP) }));
    });
    const svg = d3.select(box).append("svg").attr("width", width).attr("height", height).attr("class", "edges");
    this.edges = [];
    for (let k = 0; k < columns - 1; k++) {
      for (let i = 0; i < sizes[k]; i++) {
        for (let j = 0; j < sizes[k + 1]; j++) this.edges.push({ k, i, j });
      }
    }
    const link = d3.linkHorizontal();
    const path = (e) => {
      const a = this.pos[e.k][e.i];
      const b = this.pos[e.k + 1][e.j];
      return link({ source: [a.x + NODE, a.y + NODE / 2], target: [b.x, b.y + NODE / 2] });
    };
    this.edgePaths = svg.append("g").selectAll("path").data(this.edges).join("path")
      .attr("class", "edge").attr("d", path);
    svg.append("g").selectAll("path").data(this.edges).join("path")
      .attr("class", "edge-hit").attr("d", path)
      .attr("data-edge", (e) => `${e.k}-${e.i}-${e.j}`)
      .on("mousemove", (event, e) => this.handlers.onHoverEdge(event, e))
      .on("mouseleave", () => this.handlers.onLeave())
      .on("click", (event, e) => this.handlers.onClickEdge(event, e));
    this.nodes = [];
    sizes.forEach((n, c) => {
      const heading = document.createElement("div");
      heading.className = "column-title";
      heading.style.left = `${this.pos[c][0].x + NODE / 2}px`;
      heading.textContent = c === 0 ? "input" : c === columns - 1 ? "output" : `layer ${c}`;
      box.appendChild(heading);
      if (c > 0 && c < columns - 1) {
        const buttons = document.createElement("div");
        buttons.className = "width-buttons";
        buttons.style.left = `${this.pos[c][0].x + NODE / 2}px`;
        for (const [label, delta] of [["−", -1], ["+", 1]]) {
          const b = document.createElement("button");
          b.textContent = label;
          b.title = delta > 0 ? "add a neuron" : "remove a neuron";
          b.className = `width-${delta > 0 ? "plus" : "minus"}`;
          b.onclick = () => this.handlers.onResize(c - 1, delta);
          buttons.appendChild(b);
        }
        box.appendChild(buttons);
      }
      this.pos[c].forEach((p, j) => {
        const node = document.createElement("div");
        node.className = "node";
        node.dataset.node = `${c}-${j}`;
        node.style.left = `${p.x}px`;
        node.style.top = `${p.y}px`;
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = NODE;
        node.appendChild(canvas);
        if (c === 0) {
          const label = document.createElement("span");
          label.className = "node-label";
          label.textContent = `X${sub(j + 1)}`;
          node.appendChild(label);
          heatmap(canvas, inputGrids[j], Math.sqrt(inputGrids[j].length));
        } else {
          const bias = document.createElement("div");
          bias.className = "bias";
          node.appendChild(bias);
          node.onmousemove = (event) => this.handlers.onHoverNode(event, c, j);
          node.onmouseleave = () => this.handlers.onLeave();
          node.onclick = (event) => this.handlers.onClickNode(event, c, j);
        }
        box.appendChild(node);
        this.nodes.push({ c, j, node, canvas });
      });
    });
  }

  // mode.edges: weight | gradient | update; mode.neurons: output | gradient
  update(state, train, mode, highlight) {
    const layers = state.layers;
    const key = EDGE_KEY[mode.edges];
    const value = (e) => (layers[e.k][key] ? layers[e.k][key][e.i][e.j] : 0);
    const scale = d3.max(this.edges, (e) => Math.abs(value(e))) || 1;
    this.edgePaths
      .attr("stroke", (e) => (value(e) >= 0 ? colours.positive : colours.negative))
      .attr("stroke-width", (e) => {
        const width = 0.5 + 5.5 * Math.min(1, Math.abs(value(e)) / scale);
        // a highlighted layer stays visible even where its numbers are small
        return edgeClass(e, highlight) === " hl" ? Math.max(1.5, width) : width;
      })
      .attr("class", (e) => `edge${edgeClass(e, highlight, this.sizes.length)}`);
    const bkey = BIAS_KEY[mode.edges];
    const biasScale = d3.max(layers, (l) => (l[bkey] ? d3.max(l[bkey], Math.abs) : 0)) || 1;
    for (const { c, j, node, canvas } of this.nodes) {
      node.classList.toggle("hl", nodeLit(c, highlight, this.sizes.length));
      if (c === 0) continue;
      const layer = layers[c - 1];
      const b = layer[bkey] ? layer[bkey][j] : 0;
      node.querySelector(".bias").style.background = css(b / biasScale);
      if (mode.neurons === "gradient") {
        const grads = layer.activation_grad;
        const layerScale = d3.max(grads, (row) => d3.max(row, Math.abs)) || 1;
        gradientDots(canvas, train.x, grads[j], layerScale);
      } else {
        const grid = layer.grid[j];
        heatmap(canvas, grid, Math.sqrt(grid.length));
      }
    }
  }
}

function edgeClass(e, highlight) {
  if (!highlight) return "";
  if (highlight.part === "update" || (highlight.part === "linear" && highlight.layer === e.k)) return " hl";
  return " dim";
}

function nodeLit(c, highlight, columns) {
  if (!highlight) return false;
  if (highlight.part === "loss") return c === columns - 1;
  if (highlight.part === "activation" || highlight.part === "linear") return c === highlight.layer + 1;
  return false;
}
