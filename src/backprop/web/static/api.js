// The API client: every request carries the page's token (from the URL the server printed).

const params = new URLSearchParams(location.search);
export const token = params.get("token") || "";

async function call(method, path, body) {
  const headers = { Authorization: `token ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

export const api = {
  defaults: () => call("GET", "/api/defaults"),
  create: (settings) => call("POST", "/api/runs", settings),
  get: (id) => call("GET", `/api/runs/${id}`),
  step: (id, steps) => call("POST", `/api/runs/${id}/step`, { steps }),
  weight: (id, layer, row, col, value) =>
    call("POST", `/api/runs/${id}/weight`, { layer, row, col, value }),
  backward: (id) => call("GET", `/api/runs/${id}/backward`),
  remove: (id) =>
    fetch(`/api/runs/${id}`, {
      method: "DELETE",
      headers: { Authorization: `token ${token}` },
      keepalive: true,
    }).catch(() => null),
  exportUrl: (id, format) =>
    `/api/runs/${id}/export?format=${format}&token=${encodeURIComponent(token)}`,
};

// The live view: send {"play": true|false}; every frame is a STATE without the points.
export function live(id, onFrame, onError) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const url = `${proto}://${location.host}/api/runs/${id}/live?token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.error) onError(message.error);
    else onFrame(message);
  };
  return ws;
}
