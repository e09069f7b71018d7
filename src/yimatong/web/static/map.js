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
  warnings: { type: "geojson", data: `${origin}/ogc/collections/warnings/items?limit=10000` },
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
