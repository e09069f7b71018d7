// The small map of a project's parcels on the one-code page (no base map unless configured).
(function () {
  const el = document.getElementById("mini-map");
  const data = JSON.parse(document.getElementById("parcels-data").textContent);
  if (!el) return;
  const map = L.map(el, { attributionControl: false });
  const layer = L.geoJSON(data, { style: { color: "#1d5fa8", weight: 2, fillOpacity: 0.3 } }).addTo(map);
  if (data.features.length) map.fitBounds(layer.getBounds(), { maxZoom: 17 });
  else map.setView([29.03, 111.69], 9);
})();
