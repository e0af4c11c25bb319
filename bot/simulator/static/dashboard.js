"use strict";
/* The dashboard: /api/v1/stats/dashboard drawn with charts.js, each chart with its table. */
(() => {
  const $ = (id) => document.getElementById(id);
  const el = GridCharts.htmlEl;
  const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%");
  const num = (v, d) => GridCharts.fmt(v, d);

  function beijingToday() {
    return new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  }

  function addDays(day, n) {
    const d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  /* The query for the chosen span: days=N, or from/to. */
  function query() {
    const form = $("range");
    const span = form.span.value;
    const today = beijingToday();
    if (span === "custom") {
      const params = new URLSearchParams();
      if (form.from.value) params.set("from", form.from.value);
      if (form.to.value) params.set("to", form.to.value);
      return params.toString();
    }
    if (span === "month") return `from=${today.slice(0, 8)}01&to=${today}`;
    if (span === "last-month") {
      const last = addDays(today.slice(0, 8) + "01", -1);
      return `from=${last.slice(0, 8)}01&to=${last}`;
    }
    return `days=${span}`;
  }

  function card(label, value, bad) {
    const box = el("div", "card" + (bad ? " bad" : ""));
    box.append(el("span", null, label), el("b", null, value));
    return box;
  }

  function cards(d) {
    const t = d.totals;
    $("cards").replaceChildren(
      card("受理", num(t.received)),
      card("办结（期间）", num(t.closed_in_span)),
      card("办结率", pct(t.closure_rate)),
      card("平均办结（小时）", num(t.avg_closure_hours, 1)),
      card("按时办结率", pct(t.within_sla_rate)),
      card("满意度", num(t.satisfaction, 2)),
      card("超时次数", num(t.breaches), t.breaches > 0),
      card("当前超时工单", num(t.overdue_now), t.overdue_now > 0),
    );
  }

  function overdueList(d) {
    const box = $("overdue-list");
    box.replaceChildren(el("h2", null, `当前超时工单（${d.overdue_now.total} 件，最早的 20 件）`));
    const scroll = el("div", "scroll");
    const t = el("table");
    const head = el("tr");
    ["工单", "类别", "楼栋", "网格", "经办", "超时", "超时(小时)", "升级次数"].forEach((h) => head.append(el("th", null, h)));
    const thead = el("thead");
    thead.append(head);
    const body = el("tbody");
    d.overdue_now.tickets.forEach((x) => {
      const row = el("tr");
      [`#${x.id}`, x.category_name, x.building ? x.building + "号楼" : "—", x.grid, x.holder || "—",
        x.overdue_names.join("、"), num(x.hours_over, 1), num(x.escalation_level)]
        .forEach((c) => row.append(el("td", null, c)));
      body.append(row);
    });
    if (!d.overdue_now.tickets.length) {
      const row = el("tr");
      const cell = el("td", "empty", "没有超时工单");
      cell.colSpan = 8;
      row.append(cell);
      body.append(row);
    }
    t.append(thead, body);
    scroll.append(t);
    box.append(scroll);
  }

  function categoryTable(d) {
    const rows = d.by_category;
    GridCharts.bars($("category-table"), {
      title: "按类别：受理与办结", labels: rows.map((r) => r.name), labelHeader: "类别",
      series: [{ name: "受理", values: rows.map((r) => r.received) },
        { name: "办结", values: rows.map((r) => r.closed) }],
      openTable: true,
      columns: [
        { name: "办结率", values: rows.map((r) => pct(r.closure_rate)) },
        { name: "平均办结(小时)", values: rows.map((r) => num(r.avg_closure_hours, 1)) },
        { name: "中位数(小时)", values: rows.map((r) => num(r.median_closure_hours, 1)) },
        { name: "按时办结率", values: rows.map((r) => pct(r.within_sla_rate)) },
        { name: "满意度", values: rows.map((r) => num(r.satisfaction, 2)) },
      ],
    });
  }

  function draw(d) {
    const days = d.days.map((x) => x.slice(5));
    cards(d);
    GridCharts.line($("chart-daily"), {
      title: "每日受理与办结", labels: days, labelHeader: "日期",
      series: [{ name: "受理", values: d.received }, { name: "办结", values: d.closed }],
    });
    GridCharts.bars($("chart-category"), {
      title: "每日受理（按类别）", labels: days, labelHeader: "日期", stacked: true,
      series: d.received_by_category.map((c) => ({ name: c.name, values: c.values })),
    });
    GridCharts.bars($("chart-breaches"), {
      title: "每日超时（按时限）", labels: days, labelHeader: "日期", stacked: true,
      note: "接单、办结期限被错过而升级，以及部门超过报到时限。",
      series: d.breaches.map((b) => ({ name: b.name, values: b.values })),
    });
    GridCharts.line($("chart-satisfaction"), {
      title: `满意度（当日办结工单的平均评分，期间 ${num(d.satisfaction.average, 2)}）`,
      labels: days, labelHeader: "日期", digits: 2, max: 5, legend: true,
      series: [{ name: "平均评分", values: d.satisfaction.values }],
      columns: [{ name: "评价数", values: d.satisfaction.rated.map(String) }],
    });
    GridCharts.bars($("chart-wishes"), {
      title: `微心愿认领（期间受理 ${d.wishes.received}，完成 ${d.wishes.fulfilled}）`,
      labels: days, labelHeader: "日期", legend: true,
      series: [{ name: "认领", values: d.wishes.claimed }],
    });
    GridCharts.bars($("chart-points"), {
      title: "积分发放与兑换", labels: days, labelHeader: "日期",
      series: [{ name: "发放", values: d.wishes.points_earned }, { name: "兑换", values: d.wishes.points_redeemed }],
    });
    GridCharts.bars($("chart-disputes"), {
      title: "矛盾纠纷（按层级与结果）", labels: d.disputes.map((t) => t.name), labelHeader: "层级",
      stacked: true, openTable: true,
      series: [{ name: "已化解", values: d.disputes.map((t) => t.resolved) },
        { name: "调解中", values: d.disputes.map((t) => t.open) },
        { name: "已撤销", values: d.disputes.map((t) => t.cancelled) }],
    });
    GridCharts.bars($("chart-overdue"), {
      title: `当前超时工单（${d.overdue_now.total} 件）`, labels: d.overdue_now.by_kind.map((k) => k.name),
      labelHeader: "时限", openTable: true, legend: true,
      series: [{ name: "工单数", values: d.overdue_now.by_kind.map((k) => k.tickets) }],
    });
    // Over several streets the figures come per street; a street's per grid.
    const places = d.by_street || d.by_grid;
    const unit = d.by_street ? "街道" : "网格";
    GridCharts.bars($("chart-grids"), {
      title: `按${unit}：期间受理（已办结 / 未办结）`,
      labels: places.map((g) => g.street || g.grid), labelHeader: unit, stacked: true,
      series: [{ name: "已办结", values: places.map((g) => g.closed) },
        { name: "未办结", values: places.map((g) => g.received - g.closed) }],
      columns: [
        ...(d.by_street ? [] : [{ name: "居民区", values: places.map((g) => g.district || "—") }]),
        { name: "办结率", values: places.map((g) => pct(g.closure_rate)) },
        { name: "按时办结率", values: places.map((g) => pct(g.within_sla_rate)) },
        { name: "满意度", values: places.map((g) => num(g.satisfaction, 2)) },
        { name: "超时次数", values: places.map((g) => String(g.breaches)) },
        { name: "当前超时工单", values: places.map((g) => String(g.overdue_now)) },
      ],
    });
    overdueList(d);
    categoryTable(d);
    $("status").textContent = `${d.from} 至 ${d.to}（北京时间）`;
  }

  let last = null;
  async function load() {
    $("error").hidden = true;
    $("status").textContent = "加载中…";
    try {
      last = await ReportApi.json("/api/v1/stats/dashboard?" + query());
      draw(last);
    } catch (err) {
      $("status").textContent = "";
      if (err instanceof ReportApi.AuthError) { $("signin").hidden = false; return; }
      $("error").textContent = "加载失败：" + err.message;
      $("error").hidden = false;
    }
  }

  ReportApi.takeTokenFromHash();
  ReportApi.bindSignIn($("signin"), load);
  $("range").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("range").span.addEventListener("change", load);
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (last) draw(last); }, 200);
  });
  load();
})();
