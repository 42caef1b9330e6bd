"use strict";
// The report's behaviour: a sortable, filterable task table and a task view built on demand from the
// gzip-compressed JSON embedded in #task-data (unpacked once, with no request leaving the page).
(function () {
  const KEYWORDS = new Set(("False None True and as assert async await break class continue def del elif else except " +
    "finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case").split(" "));
  const BUILTINS = new Set(("abs all any bool dict enumerate filter float int isinstance len list map max min print " +
    "range reversed round set sorted str sum tuple zip").split(" "));
  const TOKEN = /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|[rbfuRBFU]{0,2}"(?:\\.|[^"\\\n])*"|[rbfuRBFU]{0,2}'(?:\\.|[^'\\\n])*')|(\b\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?j?\b)|([A-Za-z_]\w*)/g;

  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  // A small Python highlighter: comments, strings, numbers, keywords, builtins and defined names.
  function highlight(code) {
    let out = "", last = 0, prev = "";
    code.replace(TOKEN, (m, com, str, num, name, at) => {
      out += esc(code.slice(last, at));
      last = at + m.length;
      let cls = com ? "com" : str ? "str" : num ? "num" : "";
      if (name) cls = KEYWORDS.has(name) ? "kw" : (prev === "def" || prev === "class") ? "def" : BUILTINS.has(name) ? "bi" : "";
      out += cls ? `<span class="tk-${cls}">${esc(m)}</span>` : esc(m);
      if (name) prev = name;
      return m;
    });
    return out + esc(code.slice(last));
  }

  let data = null;
  async function loadData() {
    if (data) return data;
    const b64 = document.getElementById("task-data").textContent.trim();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    data = JSON.parse(await new Response(stream).text());
    return data;
  }

  function codeBlock(code) { return `<pre class="code">${highlight(code || "")}</pre>`; }

  function sampleHtml(task, row) {
    const [idx, codeIdx, category, errorType, failedTest, message, finish, chStatus, chFailed, hard] = row;
    const slug = category.replace(/ /g, "-");
    let head = `<span class="badge ${slug}">${esc(category)}</span>`;
    if (errorType && category !== "passed") head += `<span class="badge">${esc(errorType)}</span>`;
    if (chStatus) head += `<span class="badge ${chStatus === "passed" ? "passed" : "runtime-error"}">challenge: ${esc(chStatus)}</span>`;
    if (hard) head += `<span class="badge hard">hard-coded</span>`;
    if (finish) head += ` <span class="ci">finish: ${esc(finish)}</span>`;
    let body = codeBlock(data.codes[codeIdx]);
    if (failedTest !== null && failedTest !== undefined && task.tests[failedTest]) {
      body += `<div class="failing">failing assert ${failedTest + 1}: <code>${esc(task.tests[failedTest])}</code></div>`;
    }
    if (chFailed !== null && chFailed !== undefined && task.challenge[chFailed]) {
      body += `<div class="failing">failing challenge test ${chFailed + 1}: <code>${esc(task.challenge[chFailed])}</code></div>`;
    }
    if (message) body += `<pre class="code failing">${esc(message)}</pre>`;
    if (hard) body += `<div class="warn">${esc(hard)}</div>`;
    const notable = category !== "passed" || hard || (chStatus && chStatus !== "passed") ? "1" : "0";
    return `<details class="sample" data-notable="${notable}"><summary>sample #${idx} ${head}</summary>${body}</details>`;
  }

  async function showTask(taskId) {
    const view = document.getElementById("task-view"), body = document.getElementById("task-body");
    view.hidden = false;
    body.innerHTML = "loading...";
    const d = await loadData();
    const task = d.tasks[taskId];
    if (!task) { body.innerHTML = `<p>No data for ${esc(taskId)}.</p>`; return; }
    let html = `<h2 id="task-title">${esc(taskId)}</h2>`;
    if (task.text) html += `<p>${esc(task.text)}</p>`;
    if (task.tests.length) html += `<h3>Tests</h3>${codeBlock(task.tests.join("\n"))}`;
    if (task.challenge.length) html += `<h3>Challenge tests (held out)</h3>${codeBlock(task.challenge.join("\n"))}`;
    if (task.reference) html += `<h3>Reference solution</h3>${codeBlock(task.reference)}`;
    if (task.prompt) html += `<details><summary><b>Prompt</b></summary><pre class="code">${esc(task.prompt)}</pre></details>`;
    d.labels.forEach((label, i) => {
      const rows = task.runs[i] || [];
      const passed = rows.filter((r) => r[2] === "passed").length;
      html += `<h3>${esc(label)}: ${passed}/${rows.length} samples pass</h3>`;
      html += rows.map((r) => sampleHtml(task, r)).join("");
    });
    body.innerHTML = html;
    // open what is worth reading: failing, hard-coded or challenge-failing samples (a few), else the first
    const all = Array.from(body.querySelectorAll("details.sample"));
    const notable = all.filter((d) => d.dataset.notable === "1").slice(0, 3);
    (notable.length ? notable : all.slice(0, 1)).forEach((d) => { d.open = true; });
  }

  function closeTask() {
    document.getElementById("task-view").hidden = true;
    if (location.hash.startsWith("#task=")) history.replaceState(null, "", "#tasks");
  }

  // Opened from a click: the hash is set without a hashchange event so a second click reopens it.
  function openTask(taskId) {
    history.replaceState(null, "", "#task=" + encodeURIComponent(taskId));
    showTask(taskId);
  }

  function fromHash() {
    if (location.hash.startsWith("#task=")) showTask(decodeURIComponent(location.hash.slice(6)));
  }

  function setupTable() {
    const table = document.getElementById("task-table"), tbody = table.tBodies[0];
    const rows = Array.from(tbody.rows), filter = document.getElementById("task-filter");
    const flag = document.getElementById("task-flag"), count = document.getElementById("task-count");
    const apply = () => {
      const q = filter.value.trim().toLowerCase(), f = flag.value;
      let shown = 0;
      for (const r of rows) {
        const ok = (!q || r.textContent.toLowerCase().includes(q)) && (!f || r.dataset.flags.split(" ").includes(f));
        r.hidden = !ok;
        shown += ok;
      }
      count.textContent = `${shown} of ${rows.length} tasks`;
    };
    filter.addEventListener("input", apply);
    flag.addEventListener("change", apply);
    table.tHead.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
      const desc = th.classList.contains("sortable-asc");
      table.tHead.querySelectorAll("th").forEach((h) => h.classList.remove("sortable-asc", "sortable-desc"));
      th.classList.add(desc ? "sortable-desc" : "sortable-asc");
      const key = (r) => th.dataset.type === "num" ? parseFloat(r.cells[col].dataset.v) : r.cells[col].textContent;
      const cmp = (a, b) => {
        const x = key(a), y = key(b);
        const c = typeof x === "number" ? x - y : x.localeCompare(y, undefined, { numeric: true });
        return desc ? -c : c;
      };
      rows.sort(cmp).forEach((r) => tbody.appendChild(r));
    }));
    tbody.addEventListener("click", (e) => {
      const tr = e.target.closest("tr");
      if (tr) { e.preventDefault(); openTask(tr.dataset.task); }
    });
    apply();
  }

  setupTable();
  document.getElementById("task-close").addEventListener("click", closeTask);
  document.getElementById("task-view").addEventListener("click", (e) => { if (e.target.id === "task-view") closeTask(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeTask(); });
  document.querySelectorAll("a.task-link").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    openTask(a.dataset.task);
  }));
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
