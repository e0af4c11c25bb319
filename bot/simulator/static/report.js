"use strict";
/* The monthly review page: the review as gridbot renders it (format=html, the same page the
   API serves), taken into this page; and its PDF, CSV and HTML as downloads. */
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("pick");

  function lastMonth() {
    const now = new Date(Date.now() + 8 * 3600 * 1000);
    now.setUTCDate(1);
    now.setUTCMonth(now.getUTCMonth() - 1);
    return now.toISOString().slice(0, 7);
  }

  /* A downloaded HTML file carries its style inside (standalone), to open anywhere. */
  function query(format, standalone) {
    const params = new URLSearchParams({ month: form.month.value, format });
    if (form.street.value.trim()) params.set("street", form.street.value.trim());
    if (standalone) params.set("standalone", "1");
    return "/api/v1/reports/monthly?" + params.toString();
  }

  function failed(err) {
    $("status").textContent = "";
    if (err instanceof ReportApi.AuthError) { $("signin").hidden = false; return; }
    $("error").textContent = "失败：" + err.message;
    $("error").hidden = false;
  }

  async function show() {
    $("error").hidden = true;
    $("status").textContent = "生成中…";
    try {
      const page = new DOMParser().parseFromString(await ReportApi.text(query("html", false)), "text/html");
      const main = page.querySelector("main");
      const title = page.querySelector("h1");
      const note = page.querySelector("header .note");
      const parts = [];
      if (title) parts.push(document.adoptNode(title));
      if (note) parts.push(document.adoptNode(note));
      parts.push(...Array.from(main ? main.childNodes : []).map((n) => document.adoptNode(n)));
      $("report").replaceChildren(...parts);
      $("status").textContent = "";
      history.replaceState(null, "", "?month=" + form.month.value);
    } catch (err) { failed(err); }
  }

  async function save(format) {
    $("error").hidden = true;
    $("status").textContent = "生成中…";
    try {
      await ReportApi.download(query(format, format === "html"), `gridbot-report-${form.month.value}.${format}`);
      $("status").textContent = "";
    } catch (err) { failed(err); }
  }

  ReportApi.takeTokenFromHash();
  ReportApi.bindSignIn($("signin"), show);
  form.month.value = new URLSearchParams(location.search).get("month") || lastMonth();
  form.addEventListener("submit", (event) => { event.preventDefault(); show(); });
  form.querySelectorAll("button[data-format]").forEach((button) =>
    button.addEventListener("click", () => save(button.dataset.format)));
  show();
})();
