// 一张图: division boundaries, parcels coloured by stage (loaded per view, simplified on the server),
// control layers on demand, and the project box of a clicked parcel. No base map unless one is configured.
(function () {
  const stages = JSON.parse(document.getElementById("stages-data").textContent);
  const palette = ["#9e9e9e", "#8e44ad", "#6c3483", "#2e86c1", "#1f618d", "#17a589", "#138d75", "#d68910", "#ca6f1e", "#7d6608", "#c0392b", "#566573"];
  const colour = Object.fromEntries(stages.map((s, i) => [s.key, palette[i % palette.length]]));
  const el = document.getElementById("map");
  const timeZone = el.dataset.timeZone || "Asia/Shanghai";
  // a stage date as people read it: a date stays, an RFC 3339 time becomes its local date (sv-SE: YYYY-MM-DD)
  const localDay = s => !s ? "" : s.length <= 10 ? s : (isNaN(new Date(s)) ? s.slice(0, 10) : new Date(s).toLocaleDateString("sv-SE", { timeZone }));
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
  legend.onAdd = () => { const d = L.DomUtil.create("div", "legend"); d.innerHTML = stages.map(s => `<i style="background:${colour[s.key]}"></i>${s.name}`).join("<br>"); return d; };
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
    panel.innerHTML = "<h2>项目盒</h2><p class='muted'>加载中…</p>";
    const r = await window.ymt.api("GET", `/api/v1/parcels/${id}/box`);
    if (!r.ok) { panel.innerHTML = `<h2>项目盒</h2><p class="error">${window.ymt.esc(r.data.detail)}</p>`; return; }
    const p = r.data.parcel.properties;
    const html = [`<h2>项目盒</h2><p>地块 ${p.id}${p.parcel_no ? "（" + window.ymt.esc(p.parcel_no) + "）" : ""} · ${(p.area_m2 / 666.6667).toFixed(2)} 亩</p>`];
    for (const pr of r.data.projects) {
      html.push(`<div class="box-project"><a href="/code/${pr.code}"><b>${window.ymt.esc(pr.name)}</b></a><div class="mono muted">${pr.code}</div><ol class="timeline">`);
      for (const s of pr.stages) {
        const res = s.results.map(x => `<div class="result">${window.ymt.esc(x.kind)}</div>`).join("");
        html.push(`<li class="st-${s.status}"><span class="grp">${s.group || "码"}</span><div>${window.ymt.esc(s.name)} <span class="muted">${localDay(s.finished_at)}</span>${res}</div></li>`);
      }
      html.push("</ol></div>");
    }
    panel.innerHTML = html.join("");
  }
})();
