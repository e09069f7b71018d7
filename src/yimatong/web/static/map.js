// 一张图: division boundaries, parcels coloured by stage (loaded per view, simplified on the server),
// control layers on demand, and the project box of a clicked parcel. No base map unless one is configured.
(function () {
  const h = window.ymt.el;
  const stages = JSON.parse(document.getElementById("stages-data").textContent);
  const palette = ["#9e9e9e", "#8e44ad", "#6c3483", "#2e86c1", "#1f618d", "#17a589", "#138d75", "#d68910", "#ca6f1e", "#7d6608", "#c0392b", "#566573"];
  const colour = Object.fromEntries(stages.map((s, i) => [s.key, palette[i % palette.length]]));
  const el = document.getElementById("map");
  const map = L.map(el, { preferCanvas: true }).setView([29.05, 111.7], 9);
  window.ymtMap = map;
  if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution, maxZoom: 18 }).addTo(map);
  const divisions = L.geoJSON(null, { style: f => ({ color: f.properties.level === "city" ? "#1d5fa8" : "#5d6d7e", weight: f.properties.level === "city" ? 3 : 1.5, fill: false }) }).addTo(map);
  fetch("/web/divisions.geojson", { credentials: "same-origin" }).then(r => r.json()).then(d => divisions.addData(d));
  const parcels = L.geoJSON(null, {
    style: f => ({ color: colour[f.properties.stage] || "#555", weight: 1, fillOpacity: 0.55 }),
    onEachFeature: (f, l) => l.on("click", () => openBox(f.properties.id)),
  }).addTo(map);
  const controls = {};
  const overlays = { "地块": parcels, "行政区划": divisions };
  for (const [kind, label, col] of [["basic_farmland", "永久基本农田", "#f1c40f"], ["eco_redline", "生态保护红线", "#27ae60"], ["dev_boundary", "城镇开发边界", "#e67e22"]]) {
    controls[kind] = L.geoJSON(null, { style: { color: col, weight: 1, fillOpacity: 0.2 } });
    overlays[label] = controls[kind];
  }
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = () => {
    const d = L.DomUtil.create("div", "legend");
    stages.forEach((s, i) => {
      const swatch = h("i");
      swatch.style.background = colour[s.key];  // the CSSOM, not a style attribute: allowed by the CSP
      if (i) d.append(h("br"));
      d.append(swatch, s.name);
    });
    return d;
  };
  legend.addTo(map);
  let seq = 0;
  async function refresh() {
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(v => v.toFixed(6)).join(",");
    const mine = ++seq;
    if (map.getZoom() >= 11) {
      const r = await fetch(`/web/parcels?bbox=${bbox}`, { credentials: "same-origin" });
      if (mine !== seq || !r.ok) return;
      parcels.clearLayers(); parcels.addData(await r.json());
    } else parcels.clearLayers();
    for (const [kind, layer] of Object.entries(controls)) {
      if (!map.hasLayer(layer)) continue;
      const r = await fetch(`/web/control-layers?kind=${kind}&bbox=${bbox}`, { credentials: "same-origin" });
      if (r.ok) { layer.clearLayers(); layer.addData(await r.json()); }
    }
  }
  map.on("moveend overlayadd", refresh);
  refresh();
  const panel = document.getElementById("box");
  async function openBox(id) {
    panel.replaceChildren(h("h2", {}, "项目盒"), h("p", { class: "muted" }, "加载中…"));
    const r = await window.ymt.api("GET", `/api/v1/parcels/${encodeURIComponent(id)}/box`);
    if (!r.ok) { panel.replaceChildren(h("h2", {}, "项目盒"), h("p", { class: "error" }, (r.data && r.data.detail) || "加载失败")); return; }
    const p = r.data.parcel.properties;
    const parts = [h("h2", {}, "项目盒"),
      h("p", {}, `地块 ${p.id}`, p.parcel_no ? `（${p.parcel_no}）` : "", ` · ${(p.area_m2 / 666.6667).toFixed(2)} 亩`)];
    for (const pr of r.data.projects) {
      const steps = pr.stages.map(s => h("li", { class: `st-${s.status}` }, h("span", { class: "grp" }, s.group || "码"),
        h("div", {}, s.name, " ", h("span", { class: "muted" }, s.finished_at ? s.finished_at.slice(0, 10) : ""),
          s.results.map(x => h("div", { class: "result" }, x.kind)))));
      parts.push(h("div", { class: "box-project" }, h("a", { href: `/code/${encodeURIComponent(pr.code)}` }, h("b", {}, pr.name)),
        h("div", { class: "mono muted" }, pr.code), h("ol", { class: "timeline" }, steps)));
    }
    panel.replaceChildren(...parts);
  }
})();
