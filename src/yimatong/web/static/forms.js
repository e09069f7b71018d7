// The forms (web/forms): live preview of the code segments, duplicate warnings while typing, a drop zone for
// files, one submission per click. Data comes from <script type="application/json"> blocks; every text goes
// into the page as text (ymt.el), never as HTML.
(function () {
  "use strict";
  const $ = (s, root) => (root || document).querySelector(s);
  const $$ = (s, root) => Array.from((root || document).querySelectorAll(s));
  const dataOf = (id) => { const n = document.getElementById(id); return n ? JSON.parse(n.textContent) : null; };

  // --- code segments ------------------------------------------------------------------------------------
  const preview = dataOf("code-preview-data");
  const form = $("#project-form");
  if (preview && form) {
    const code = form.dataset.code || "";
    const meaning = (el) => {
      if (!el || !el.value) return "";
      if (el.tagName !== "SELECT") return el.value;
      const text = el.options[el.selectedIndex].textContent;
      return text.startsWith(el.value + " ") ? text.slice(el.value.length + 1) : text;
    };
    const render = () => {
      const table = $("#preview-segments");
      table.replaceChildren();
      let full = "", offset = 0;
      const stale = [];
      for (const seg of preview.segments) {
        let value, label;
        if (seg.name === "region") { value = preview.region; label = preview.region_label || ""; }
        else if (seg.kind === "serial") { value = code ? code.substr(offset, seg.length) : "·".repeat(seg.length); label = code ? "" : "登记时签发"; }
        else { const el = form.elements[seg.name]; value = el ? el.value.trim() : ""; label = meaning(el); }
        const shown = value && value.length === seg.length ? value : "?".repeat(seg.length);
        full += shown;
        if (code && seg.kind !== "serial" && seg.name !== "region" && shown !== code.substr(offset, seg.length)) stale.push(seg.label);
        offset += seg.length;
        const cls = value ? "" : "pending";
        table.append(ymt.el("tr", {}, ymt.el("th", {}, seg.label), ymt.el("td", { class: "mono " + cls }, shown),
                            ymt.el("td", { class: cls }, label || (value ? "" : "未选择"))));
      }
      const box = $("#preview-code");
      if (box) box.textContent = full;
      const warn = $("#outdated-warning");
      if (warn) {
        warn.hidden = stale.length === 0;
        warn.textContent = stale.length ? "保存后，项目码中的“" + stale.join("”“") + "”段将与项目属性不一致：项目码不变，项目将标记为码段过期。" : "";
      }
    };
    form.addEventListener("input", render);
    form.addEventListener("change", render);
    render();

    // --- duplicates as you type ---------------------------------------------------------------------------
    const dup = $("#dup-warning");
    let timer = null, asked = 0;
    const check = async () => {
      const mine = ++asked;
      const name = (form.elements.name?.value || "").trim();
      const inv = (form.elements.investment_code?.value || "").trim();
      const found = new Map();
      const ask = async (q, why) => {
        const r = await ymt.api("GET", "/api/v1/projects?status=active&limit=5&q=" + encodeURIComponent(q));
        if (r.ok && r.data && Array.isArray(r.data.items)) for (const p of r.data.items) if (p.code !== code && !found.has(p.code)) found.set(p.code, [p, why]);
      };
      if (inv.length >= 10) await ask(inv, "投资项目代码相同");
      if (name.length >= 2) await ask(name, "名称相近");
      if (mine !== asked) return;  // a newer keystroke asked again
      dup.replaceChildren();
      dup.hidden = found.size === 0;
      if (!found.size) return;
      dup.append(ymt.el("b", {}, "可能已登记："));
      const ul = ymt.el("ul", {});
      for (const [c, [p, why]] of found) ul.append(ymt.el("li", {}, ymt.el("a", { href: "/code/" + c, target: "_blank", rel: "noopener", class: "mono" }, c), " ", p.name, "（" + why + "）"));
      dup.append(ul);
    };
    $$("[data-dup]", form).forEach(i => i.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 350); }));
  }

  // --- files: drag and drop onto the zone, the list of chosen files --------------------------------------
  $$("[data-dropzone]").forEach(zone => {
    const input = document.getElementById(zone.dataset.dropzone);
    const list = $("#" + zone.dataset.dropzone + "-list");
    const show = () => {
      if (!list) return;
      list.replaceChildren(...Array.from(input.files).map(f => ymt.el("li", {}, f.name + "（" + Math.max(1, Math.round(f.size / 1024)) + " KB）")));
    };
    zone.addEventListener("dragover", e => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", e => {
      e.preventDefault(); zone.classList.remove("over");
      const all = new DataTransfer();
      for (const f of Array.from(input.files)) all.items.add(f);
      for (const f of Array.from(e.dataTransfer.files)) all.items.add(f);
      input.files = all.files;
      show();
    });
    input.addEventListener("change", show);
  });

  // --- one submission per click (a slow upload must not be sent twice) -----------------------------------
  $$("form[data-once]").forEach(f => f.addEventListener("submit", () => {
    $$("button[type=submit]", f).forEach(b => { b.disabled = true; b.dataset.busyText = b.textContent; b.textContent = "正在提交…"; });
  }));

  // --- choosing another stage shows that stage's current values -----------------------------------------
  // (a result kind with a data schema shows its fields: the kind input reloads the form when the typed fields to
  // show change — to a typed kind, or away from the one shown — never for a free-form kind)
  $$("select[data-reload], input[data-reload]").forEach(s => s.addEventListener("change", () => {
    if (s.tagName === "INPUT") {
      const typed = (s.dataset.typed || "").split("|").filter(Boolean);
      const want = typed.includes(s.value) ? s.value : "";
      if (want === (s.dataset.shown || "")) return;
    }
    const url = new URL(window.location.href);
    url.searchParams.set(s.dataset.reload, s.value);
    url.searchParams.delete("done");
    window.location.assign(url.toString());
  }));

  // --- a secret shown once: copy it --------------------------------------------------------------------
  $$("button[data-copy]").forEach(b => b.addEventListener("click", async () => {
    const t = document.getElementById(b.dataset.copy);
    try { await navigator.clipboard.writeText(t.textContent.trim()); b.textContent = "已复制"; } catch (e) { b.textContent = "请手动选中复制"; }
  }));
})();
