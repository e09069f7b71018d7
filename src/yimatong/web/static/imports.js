// 数据导入: validate (dry run) first, show the report, then confirm. Source lists run as import jobs: the page
// polls the job (progress bar: rows read of the total, phase, time left), may cancel it, and filters the report
// by outcome. Parcel files are still one request.
(function () {
  const form = document.getElementById("import-form");
  const confirmBtn = document.getElementById("confirm-button");
  const checkBtn = document.getElementById("check-button");
  const cancelBtn = document.getElementById("cancel-button");
  const report = document.getElementById("report");
  const filter = document.getElementById("report-outcome");
  const bar = document.getElementById("job-progress");
  const barText = document.getElementById("job-progress-text");
  const labels = { taken: "新登记", merged: "合并", review: "待复核", unchanged: "无变化", refused: "被拒", skipped: "跳过" };
  let job = null;
  const sleep = ms => new Promise(r => setTimeout(r, ms));

  async function send(dryRun) {
    const kind = document.getElementById("import-kind").value;
    const file = document.getElementById("import-file").files[0];
    if (!file) return;
    const body = new FormData(); body.append("file", file);
    const edition = document.getElementById("import-land-use-edition").value;
    const extra = edition && kind !== "parcels" ? `&land_use_edition=${encodeURIComponent(edition)}` : "";
    checkBtn.disabled = true; confirmBtn.disabled = true;
    try {
      if (kind === "parcels") {
        const r = await window.ymt.api("POST", `/api/v1/imports/${kind}?dry_run=${dryRun}${extra}`, body);
        const rep = r.data.report || r.data;
        show(rep, r, dryRun);
        confirmBtn.disabled = !(dryRun && r.ok && rep && rep.counts && !rep.already_imported);
        return;
      }
      const r = await window.ymt.api("POST", `/api/v1/imports/${kind}/jobs?dry_run=${dryRun}${extra}`, body);
      if (!r.ok) { show(null, r, dryRun); return; }
      job = await follow(r.data);
      await showJob(job, dryRun);
      confirmBtn.disabled = !(dryRun && job.status === "done" && !job.counts.refused && !job.already_imported);
    } finally { checkBtn.disabled = false; cancelBtn.hidden = true; }
  }

  async function follow(j) {  // poll until the job ends, updating the progress bar
    report.hidden = false; bar.hidden = false; cancelBtn.hidden = false;
    document.getElementById("report-title").textContent = j.dry_run ? "正在校验…" : "正在导入…";
    while (j.status === "running") {
      progress(j);
      await sleep(500);
      const r = await window.ymt.api("GET", `/api/v1/import-jobs/${j.id}`);
      if (r.ok) j = r.data;
    }
    progress(j);
    return j;
  }

  function progress(j) {
    const publishing = j.phase === "publishing";
    const done = publishing ? j.rows_published : j.rows_read;
    const total = (publishing ? j.rows_to_publish : j.rows_total) || 0;
    bar.max = Math.max(total, 1); bar.value = Math.min(done, bar.max);
    const left = j.eta_seconds ? `，约剩 ${Math.ceil(j.eta_seconds)} 秒` : "";
    barText.textContent = `任务 ${j.id}　${j.phase_label}　${done} / ${total} 行${left}`;
  }

  async function showJob(j, dryRun) {
    const ok = j.status === "done";
    const r = await window.ymt.api("GET", `/api/v1/import-jobs/${j.id}/report?limit=1000${filter.value ? "&outcome=" + filter.value : ""}`);
    const rep = { counts: { ...j.counts, skipped: j.skipped }, already_imported: j.already_imported, rows: r.ok ? r.data.items : [] };
    show(rep, { ok, data: j.error || {} }, dryRun, j.status);
  }

  function show(rep, r, dryRun, status) {
    report.hidden = false;
    const title = status === "cancelled" ? "已取消，未做任何改动" : dryRun ? "校验报告（未写入）" : (r.ok ? "导入完成" : "导入失败");
    document.getElementById("report-title").textContent = title;
    const counts = document.getElementById("report-counts");
    if (!rep || !rep.counts) { counts.textContent = (r.data && r.data.detail) || "无法读取文件"; return; }
    counts.textContent = rep.already_imported ? "此文件已导入过，未做任何改动" :
      Object.entries(labels).map(([k, v]) => `${v} ${rep.counts[k] || 0}`).join("，") + (r.ok || status === "cancelled" ? "" : "（有被拒的行，整个文件未导入）");
    if (rep.truncated) counts.textContent += `（${rep.truncated.note}）`;
    const rows = [];
    if (rep.rows) {  // a job's report: one line per row (errors of a refused row each on its own line)
      for (const x of rep.rows) {
        const label = labels[x.outcome] || x.outcome_label;
        if (x.errors) for (const e of x.errors) rows.push([x.row, label, e.column, e.reason]);
        else rows.push([x.row, label, x.code || x.candidate_code || (x.target_row ? `第${x.target_row}行` : ""), x.name || (x.score ? "相似度 " + x.score : "")]);
      }
    } else {
      for (const k of ["refused", "review", "merged", "taken"]) for (const x of rep[k] || []) rows.push([x.row, labels[k], x.code || x.candidate_code || x.column || "", x.reason || x.name || (x.score ? "相似度 " + x.score : "")]);
      rows.sort((a, b) => a[0] - b[0]);
    }
    document.querySelector("#report-table tbody").replaceChildren(...rows.map(c => window.ymt.el("tr", {}, c.map(v => window.ymt.el("td", {}, v)))));
  }

  form.addEventListener("submit", e => { e.preventDefault(); send(true); });
  confirmBtn.addEventListener("click", () => { confirmBtn.disabled = true; send(false); });
  cancelBtn.addEventListener("click", async () => {
    if (job && window.confirm("取消这个导入任务？已校验的行将被丢弃，库中不会有任何改动。")) {
      await window.ymt.api("POST", `/api/v1/import-jobs/${job.id}/cancel`);
    }
  });
  filter.addEventListener("change", () => { if (job && job.status !== "running") showJob(job, job.dry_run); });
})();
