// The dashboard never waits for the warnings (seconds at 100 000 projects right after a start or a change):
// it shows 计算中 or the previous counts, and asks for the counts until they are current.
(function () {
  const cells = document.querySelectorAll("b[data-warning-kind]");
  async function poll(delay) {
    const r = await window.ymt.api("GET", "/web/warning-counts");
    if (r.status === 200 && r.data && r.data.ready) {
      cells.forEach(b => { b.textContent = r.data.counts[b.dataset.warningKind] ?? 0; b.classList.remove("pending"); b.removeAttribute("title"); });
      if (r.data.fresh) return;
    }
    if (r.status === 200 || r.status === 202) setTimeout(() => poll(Math.min(delay * 1.5, 5000)), delay);
  }
  poll(500);
})();
