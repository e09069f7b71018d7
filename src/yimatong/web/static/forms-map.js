// The preview map of a parcel file before it is saved (web/forms/parcels.py): the parcels as read, no base map.
(function () {
  "use strict";
  const el = document.getElementById("preview-map");
  const node = document.getElementById("preview-data");
  if (!el || !node || !window.L) return;
  const data = JSON.parse(node.textContent);
  const map = L.map(el, { attributionControl: false });
  const layer = L.geoJSON(data, { style: { color: "#c05a00", weight: 2, fillOpacity: 0.25 } }).addTo(map);
  if (data.features.length) map.fitBounds(layer.getBounds(), { maxZoom: 17 });
  else map.setView([29.03, 111.69], 9);
})();
