// 一张图 (the one map): parcels as vector tiles from the service's own OGC API - Tiles (every parcel at every zoom:
// dots merged per cell at city scale, polygons coloured by stage closer in), districts, the control layers,
// warnings, and the project box of a clicked parcel. Everything is served by this service; no glyphs, sprites or
// styles are fetched (no text labels), and the base map is drawn only when YMT_TILE_URL configures one.
// No inline script or HTML strings: the DOM is built with textContent (the page runs under a strict CSP).
import * as maplibregl from "/static/vendor/maplibre/maplibre-gl.mjs";

const stages = JSON.parse(document.getElementById("stages-data").textContent);
const palette = ["#9e9e9e", "#8e44ad", "#6c3483", "#2e86c1", "#1f618d", "#17a589", "#138d75", "#d68910", "#ca6f1e", "#7d6608", "#c0392b", "#566573"];
const colour = Object.fromEntries(stages.map((s, i) => [s.key, palette[i % palette.length]]));
const stageColour = ["match", ["coalesce", ["get", "stage"], ""], ...stages.flatMap(s => [s.key, colour[s.key]]), "#555555"];
const CONTROLS = [["basic_farmland", "永久基本农田", "#f1c40f"], ["eco_redline", "生态保护红线", "#27ae60"], ["dev_boundary", "城镇开发边界", "#e67e22"]];
const origin = window.location.origin;
const tiles = id => [`${origin}/ogc/collections/${id}/tiles/WebMercatorQuad/{z}/{y}/{x}`];
const el = document.getElementById("map");
const timeZone = el.dataset.timeZone || "Asia/Shanghai";
// a stage date as people read it: a date stays, an RFC 3339 time becomes its local date (sv-SE: YYYY-MM-DD)
const localDay = s => !s ? "" : s.length <= 10 ? s : (isNaN(new Date(s)) ? s.slice(0, 10) : new Date(s).toLocaleDateString("sv-SE", { timeZone }));

const sources = {
  divisions: { type: "geojson", data: `${origin}/web/divisions.geojson` },
  parcels: { type: "vector", tiles: tiles("parcels"), minzoom: 0, maxzoom: 16 },
  control: { type: "vector", tiles: tiles("control_layers"), minzoom: 0, maxzoom: 16 },
  warnings: { type: "geojson", data: { type: "FeatureCollection", features: [] } },  // filled on load (below)
};
const layers = [{ id: "background", type: "background", paint: { "background-color": "#e9eef2" } }];
if (el.dataset.tileUrl) {
  sources.base = { type: "raster", tiles: [el.dataset.tileUrl], tileSize: 256, attribution: el.dataset.tileAttribution || "" };
  layers.push({ id: "base", type: "raster", source: "base" });
}
for (const [kind, , col] of CONTROLS) {
  layers.push({ id: `control-${kind}`, type: "fill", source: "control", "source-layer": "control_layers",
    filter: ["==", ["get", "kind"], kind], layout: { visibility: "none" },
    paint: { "fill-color": col, "fill-opacity": 0.25, "fill-outline-color": col } });
}
layers.push(
  { id: "parcels-fill", type: "fill", source: "parcels", "source-layer": "parcels", filter: ["==", ["geometry-type"], "Polygon"],
    paint: { "fill-color": stageColour, "fill-opacity": 0.55 } },
  { id: "parcels-line", type: "line", source: "parcels", "source-layer": "parcels", filter: ["==", ["geometry-type"], "Polygon"],
    paint: { "line-color": stageColour, "line-width": 1 } },
  { id: "parcels-dots", type: "circle", source: "parcels", "source-layer": "parcels", filter: ["==", ["geometry-type"], "Point"],
    paint: { "circle-color": stageColour, "circle-opacity": 0.75,
      "circle-radius": ["interpolate", ["linear"], ["sqrt", ["coalesce", ["get", "n"], 1]], 1, 1.5, 30, 8] } },
  { id: "divisions", type: "line", source: "divisions",
    paint: { "line-color": ["case", ["==", ["get", "level"], "city"], "#1d5fa8", "#5d6d7e"],
      "line-width": ["case", ["==", ["get", "level"], "city"], 3, 1.5] } },
  { id: "warnings", type: "circle", source: "warnings", layout: { visibility: "none" },
    paint: { "circle-color": ["case", [">=", ["get", "level"], 2], "#c0392b", "#e67e22"], "circle-radius": 6,
      "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 } },
);

const map = new maplibregl.Map({
  container: el, center: [111.7, 29.05], zoom: 8.5, maxZoom: 20, attributionControl: el.dataset.tileUrl ? {} : false,
  style: { version: 8, sources, layers },
  transformRequest: url => ({ url, credentials: "same-origin" }),
});
window.ymtMap = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
map.addControl(new maplibregl.ScaleControl({ maxWidth: 120, unit: "metric" }), "bottom-left");

// --- layer switches and legend, built with DOM nodes ---
function toggle(label, ids, on) {
  const row = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox"; box.checked = on;
  box.addEventListener("change", () => ids.forEach(id => map.setLayoutProperty(id, "visibility", box.checked ? "visible" : "none")));
  row.append(box, document.createTextNode(" " + label));
  document.getElementById("map-layers").append(row);
}
map.on("load", () => {
  toggle("地块", ["parcels-fill", "parcels-line", "parcels-dots"], true);
  toggle("行政区划", ["divisions"], true);
  for (const [kind, label] of CONTROLS) toggle(label, [`control-${kind}`], false);
  toggle("预警", ["warnings"], false);
  if (el.dataset.tileUrl) toggle("底图", ["base"], true);
});
const legend = document.getElementById("map-legend");
for (const s of stages) {
  const i = document.createElement("i");
  i.style.background = colour[s.key];
  legend.append(i, document.createTextNode(s.name), document.createElement("br"));
}

// --- clicks: a dot zooms in, a parcel opens its project box, a warning says what it is ---
map.on("click", e => {
  const hit = map.queryRenderedFeatures(e.point, { layers: ["warnings", "parcels-fill", "parcels-dots"] });
  if (measuring) return;  // a click while measuring adds a vertex (below), it opens nothing
  if (!hit.length) return;
  const f = hit[0];
  if (f.layer.id === "parcels-dots") map.easeTo({ center: e.lngLat, zoom: Math.min(map.getZoom() + 3, 17) });
  else if (f.layer.id === "parcels-fill") openBox(f.id);
  else showWarning(f.properties);
});
for (const id of ["parcels-fill", "parcels-dots", "warnings"]) {
  map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
}

const panel = document.getElementById("box");
function node(tag, text, cls) {
  const n = document.createElement(tag);
  if (text !== undefined && text !== null) n.textContent = text;
  if (cls) n.className = cls;
  return n;
}
function showWarning(p) {
  panel.replaceChildren(node("h2", "预警"), node("p", `${p.kind_label || p.kind} · ${p.level} 级`),
    node("p", p.detail), node("div", p.code, "mono muted"));
}
async function openBox(id) {
  panel.replaceChildren(node("h2", "项目盒"), node("p", "加载中…", "muted"));
  const r = await window.ymt.api("GET", `/api/v1/parcels/${id}/box`);
  if (!r.ok) { panel.replaceChildren(node("h2", "项目盒"), node("p", r.data?.detail || "加载失败", "error")); return; }
  const p = r.data.parcel.properties;
  const out = [node("h2", "项目盒"),
    node("p", `地块 ${p.id}${p.parcel_no ? "（" + p.parcel_no + "）" : ""} · ${(p.area_m2 / 666.6667).toFixed(2)} 亩`)];
  for (const pr of r.data.projects) {
    const box = node("div", null, "box-project");
    const a = node("a"); a.href = `/code/${encodeURIComponent(pr.code)}`; a.append(node("b", pr.name));
    const steps = node("ol", null, "timeline");
    for (const s of pr.stages) {
      const li = node("li", null, `st-${s.status}`);
      const body = node("div", s.name + " ");
      body.append(node("span", localDay(s.finished_at), "muted"));
      for (const x of s.results) body.append(node("div", x.kind, "result"));
      li.append(node("span", s.group || "码", "grp"), body);
      steps.append(li);
    }
    box.append(a, node("div", pr.code, "mono muted"), steps);
    out.push(box);
  }
  panel.replaceChildren(...out);
}

// --- density: say what the view shows instead of capping silently ---
const polygonZoom = Number(el.dataset.polygonZoom || 13);
const statusBar = document.getElementById("map-status");
let warningNote = "";
function showStatus() {
  const notes = [];
  if (map.getZoom() < polygonZoom) notes.push(`当前比例尺下地块按格网合并为圆点（圆点越大地块越多）；放大到第 ${polygonZoom} 级显示每个地块的轮廓。`);
  if (warningNote) notes.push(warningNote);
  statusBar.textContent = notes.join(" ");
  statusBar.hidden = !notes.length;
}
map.on("zoomend", showStatus);
map.on("load", showStatus);
const WARNINGS_MAX = 10000;
map.on("load", async () => {
  const r = await window.ymt.api("GET", `/ogc/collections/warnings/items?limit=${WARNINGS_MAX}`);
  if (!r.ok || !r.data) return;
  map.getSource("warnings").setData(r.data);
  const shown = r.data.features.length, total = r.data.numberMatched;
  warningNote = typeof total === "number" && total > shown
    ? `预警点过多：地图上仅显示 ${shown} / ${total} 个，完整清单请到“预警监管”页查看或导出。` : "";
  showStatus();
});

// --- search: a code, name or parcel number asks the service; coordinates fly there directly ---
const hitsList = document.getElementById("map-hits");
let marker = null;
function flyToBox(b) {
  if (!b) return false;
  if (b[0] === b[2] && b[1] === b[3]) map.flyTo({ center: [b[0], b[1]], zoom: 17 });
  else map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 18 });
  return true;
}
function pin(lon, lat) {
  if (marker) marker.remove();
  marker = new maplibregl.Marker({ color: "#c0392b" }).setLngLat([lon, lat]).addTo(map);
}
// "111.69,29.03", "29.03 111.69" or with °: longitude and latitude in either order (China: lon 73–136, lat 3–54)
function coordinates(text) {
  const m = text.trim().match(/^(-?\d+(?:\.\d+)?)\s*°?\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*°?$/);
  if (!m) return null;
  let [a, b] = [Number(m[1]), Number(m[2])];
  if (a < 60 && b > 60) [a, b] = [b, a];
  return a >= -180 && a <= 180 && b >= -90 && b <= 90 ? [a, b] : null;
}
function hitLabel(h) {
  if (h.kind === "parcel") return `地块 ${h.parcel_no}（${(h.area_m2 * 15 / 10000).toFixed(2)} 亩）${h.codes.length ? " · " + h.codes[0] : ""}`;
  return `${h.name} · ${h.code}`;
}
function showHits(items, text) {
  hitsList.replaceChildren();
  if (!items.length) { hitsList.append(node("li", `没有找到“${text}”相符的项目或地块`, "muted")); hitsList.hidden = false; return; }
  for (const h of items) {
    const li = node("li");
    const b = node("button", hitLabel(h), "link");
    b.type = "button";
    b.addEventListener("click", () => {
      hitsList.hidden = true;
      if (!flyToBox(h.bbox)) { panel.replaceChildren(node("h2", "项目盒"), node("p", `${h.name}（${h.code}）尚未挂接地块`, "muted")); return; }
      if (h.kind === "parcel") openBox(h.id);
    });
    li.append(b);
    if (!h.bbox) li.append(node("span", "（无地块）", "muted"));
    hitsList.append(li);
  }
  hitsList.hidden = false;
}
document.getElementById("map-search").addEventListener("submit", async e => {
  e.preventDefault();
  const text = document.getElementById("map-q").value.trim();
  if (!text) return;
  const at = coordinates(text);
  if (at) { hitsList.hidden = true; pin(at[0], at[1]); map.flyTo({ center: at, zoom: 16 }); return; }
  const r = await window.ymt.api("GET", `/web/map-search?q=${encodeURIComponent(text)}`);
  if (!r.ok) { showHits([], text); return; }
  const items = r.data.items;
  if (items.length === 1 && items[0].bbox) { hitsList.hidden = true; flyToBox(items[0].bbox); if (items[0].kind === "parcel") openBox(items[0].id); return; }
  showHits(items, text);
});

// --- measuring: distances and areas on the CGCS2000 ellipsoid (GeographicLib's geodesics, vendored from npm:
// the inverse problem for each leg, a geodesic polygon for the area — not a planar approximation) ---
const CGCS2000 = new window.geodesic.Geodesic.Geodesic(6378137, 1 / 298.257222101);
let measuring = null, vertices = [];
const out = document.getElementById("measure-out");
const lineBtn = document.getElementById("measure-line"), areaBtn = document.getElementById("measure-area");
function fmtLength(m) { return m >= 1000 ? `${(m / 1000).toFixed(3)} 千米` : `${m.toFixed(2)} 米`; }
function fmtArea(m2) { return `${m2.toFixed(2)} 平方米 · ${(m2 * 15 / 10000).toFixed(4)} 亩 · ${(m2 / 10000).toFixed(4)} 公顷`; }
export function measure(points, closed) {
  const poly = CGCS2000.Polygon(!closed);
  for (const [lon, lat] of points) poly.AddPoint(lat, lon);
  const r = poly.Compute(false, true);
  return { length: r.perimeter, area: closed && points.length >= 3 ? Math.abs(r.area) : 0 };
}
window.ymtMeasure = measure;
function drawMeasure() {
  const closed = measuring === "area";
  const ring = closed && vertices.length >= 3 ? [...vertices, vertices[0]] : vertices;
  const data = { type: "FeatureCollection", features: [
    ...vertices.map(v => ({ type: "Feature", geometry: { type: "Point", coordinates: v }, properties: {} })),
    ...(ring.length >= 2 ? [{ type: "Feature", geometry: { type: "LineString", coordinates: ring }, properties: {} }] : []),
    ...(closed && vertices.length >= 3 ? [{ type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: {} }] : []),
  ] };
  map.getSource("measure").setData(data);
  if (!vertices.length) { out.textContent = closed ? "在地图上依次点击面的各个顶点" : "在地图上依次点击线的各个点"; out.hidden = false; return; }
  const m = measure(vertices, closed);
  out.textContent = closed ? (vertices.length >= 3 ? `面积 ${fmtArea(m.area)}；周长 ${fmtLength(m.length)}` : "再点击至少 " + (3 - vertices.length) + " 个顶点")
    : `距离 ${fmtLength(m.length)}（${vertices.length} 个点）`;
  out.hidden = false;
}
function setMode(mode) {
  measuring = measuring === mode ? null : mode;
  vertices = [];
  lineBtn.setAttribute("aria-pressed", String(measuring === "line"));
  areaBtn.setAttribute("aria-pressed", String(measuring === "area"));
  map.getCanvas().style.cursor = measuring ? "crosshair" : "";
  if (measuring) drawMeasure(); else { map.getSource("measure").setData({ type: "FeatureCollection", features: [] }); out.hidden = true; }
}
map.on("load", () => {
  map.addSource("measure", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  map.addLayer({ id: "measure-fill", type: "fill", source: "measure", filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#1d5fa8", "fill-opacity": 0.15 } });
  map.addLayer({ id: "measure-line", type: "line", source: "measure", filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#1d5fa8", "line-width": 2, "line-dasharray": [2, 1] } });
  map.addLayer({ id: "measure-pts", type: "circle", source: "measure", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 4, "circle-color": "#fff", "circle-stroke-color": "#1d5fa8", "circle-stroke-width": 2 } });
  lineBtn.addEventListener("click", () => setMode("line"));
  areaBtn.addEventListener("click", () => setMode("area"));
  document.getElementById("measure-clear").addEventListener("click", () => { if (measuring) { vertices = []; drawMeasure(); } else setMode(null); });
  el.dataset.ready = "1";
});
map.on("click", e => {
  if (!measuring) return;
  vertices.push([e.lngLat.lng, e.lngLat.lat]);
  drawMeasure();
});
