// 数据导入: validate (dry run) first, show the report, then confirm.
(function () {
  const form = document.getElementById("import-form");
  const confirmBtn = document.getElementById("confirm-button");
  const report = document.getElementById("report");
  const labels = { taken: "新登记", merged: "合并", review: "待复核", refused: "被拒", skipped: "跳过" };
  async function send(dryRun) {
    const kind = document.getElementById("import-kind").value;
    const file = document.getElementById("import-file").files[0];
    if (!file) return;
    const body = new FormData(); body.append("file", file);
    const edition = document.getElementById("import-land-use-edition").value;
    const extra = edition && kind !== "parcels" ? `&land_use_edition=${encodeURIComponent(edition)}` : "";
    const r = await window.ymt.api("POST", `/api/v1/imports/${kind}?dry_run=${dryRun}${extra}`, body);
    const rep = r.data.report || r.data;
    show(rep, r, dryRun);
    confirmBtn.disabled = !(dryRun && r.ok && rep && rep.counts && !rep.already_imported);
  }
  function show(rep, r, dryRun) {
    report.hidden = false;
    document.getElementById("report-title").textContent = dryRun ? "校验报告（未写入）" : (r.ok ? "导入完成" : "导入失败");
    const counts = document.getElementById("report-counts");
    if (!rep || !rep.counts) { counts.textContent = (r.data && r.data.detail) || "无法读取文件"; return; }
    counts.textContent = rep.already_imported ? "此文件已导入过，未做任何改动" :
      Object.entries(labels).map(([k, v]) => `${v} ${rep.counts[k] || 0}`).join("，") + (r.ok ? "" : "（有被拒的行，整个文件未导入）");
    if (rep.truncated) counts.textContent += `（${rep.truncated.note}）`;
    const rows = [];
    for (const k of ["refused", "review", "merged", "taken"]) for (const x of rep[k] || []) rows.push([x.row, labels[k], x.code || x.candidate_code || x.column || "", x.reason || x.name || (x.score ? "相似度 " + x.score : "")]);
    rows.sort((a, b) => a[0] - b[0]);
    document.querySelector("#report-table tbody").replaceChildren(...rows.map(c => window.ymt.el("tr", {}, c.map(v => window.ymt.el("td", {}, v)))));
  }
  form.addEventListener("submit", e => { e.preventDefault(); send(true); });
  confirmBtn.addEventListener("click", () => { confirmBtn.disabled = true; send(false); });
})();
