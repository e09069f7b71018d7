// The warnings page showed previous figures (or none yet) while the current ones are computed: reload once
// /web/warning-counts says they are current.
(function () {
  async function poll(delay) {
    const r = await window.ymt.api("GET", "/web/warning-counts");
    if (r.status === 200 && r.data && r.data.fresh) { window.location.reload(); return; }
    if (r.status === 200 || r.status === 202) setTimeout(() => poll(Math.min(delay * 1.5, 5000)), delay);
  }
  poll(800);
})();
