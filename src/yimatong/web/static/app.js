// Calls the REST API with the session: the CSRF token goes in a header on every unsafe request.
window.ymt = {
  csrf: document.querySelector('meta[name="csrf-token"]')?.content || "",
  async api(method, url, body) {
    const opts = { method, headers: { "X-CSRF-Token": this.csrf }, credentials: "same-origin" };
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    const r = await fetch(url, opts);
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
    return { ok: r.ok, status: r.status, data };
  },
  // Builds an element from data: text always goes in as text (never parsed as HTML), so a stored value
  // such as "</script><img onerror=…>" shows as what it is. Attributes are set one by one.
  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
    for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : String(c));
    return e;
  },
};

// A file input marked data-autosubmit sends its form as soon as a file is chosen (拍照扫码).
document.querySelectorAll("input[data-autosubmit]").forEach(i => i.addEventListener("change", () => { if (i.files.length) i.form.submit(); }));
