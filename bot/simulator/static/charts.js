"use strict";
/* gridbot's own small charts: SVG line, bar and stacked-bar charts drawn from plain arrays,
   each followed by the table of the numbers behind it. No library, no CDN: the street office
   may run on a closed network. Colours come from classes s0…s6 in report.css (no inline
   style, so the page keeps its Content-Security-Policy). */
const GridCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const HEIGHT = 240, TOP = 14, BOTTOM = 34, LEFT = 40, RIGHT = 10;

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function htmlEl(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  /* A top for the value axis whose four steps are round: 1, 2 or 5 times a power of ten. */
  function niceMax(value) {
    if (!(value > 0)) return 4;
    const quarter = value / 4;
    const magnitude = Math.pow(10, Math.floor(Math.log10(quarter)));
    for (const step of [1, 1.5, 2, 2.5, 5, 10]) if (quarter <= step * magnitude) return 4 * step * magnitude;
    return 40 * magnitude;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    return digits ? Number(value).toFixed(digits) : String(Math.round(value * 100) / 100);
  }

  function legend(series) {
    const box = htmlEl("div", "legend");
    series.forEach((s, i) => {
      const item = htmlEl("span");
      item.append(htmlEl("i", "s" + (i % 7)), document.createTextNode(s.name));
      box.append(item);
    });
    return box;
  }

  /* The frame: grid lines, value ticks and as many category labels as fit. */
  function frame(svg, width, top, labels) {
    const plotH = HEIGHT - TOP - BOTTOM;
    for (let i = 0; i <= 4; i++) {
      const y = TOP + plotH * i / 4;
      svg.append(svgEl("line", { x1: LEFT, y1: y, x2: width - RIGHT, y2: y, class: "axis" }));
      svg.append(svgEl("text", { x: LEFT - 4, y: y + 4, "text-anchor": "end", class: "tick" },
        fmt(top * (4 - i) / 4)));
    }
    const slot = (width - LEFT - RIGHT) / Math.max(1, labels.length);
    const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor((width - LEFT) / 48))));
    labels.forEach((label, i) => {
      if (i % every) return;
      svg.append(svgEl("text", { x: LEFT + slot * (i + 0.5), y: HEIGHT - BOTTOM + 16,
        "text-anchor": "middle", class: "tick" }, label));
    });
    return slot;
  }

  function yOf(value, top) {
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top);
  }

  function start(container, options) {
    container.replaceChildren();
    container.classList.add("chart-box");
    if (options.title) container.append(htmlEl("h2", null, options.title));
    if (options.note) container.append(htmlEl("p", "note", options.note));
    if (options.series.length > 1 || options.legend) container.append(legend(options.series));
    const width = Math.max(300, Math.round(container.clientWidth || 600) - 4);
    const svg = svgEl("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, class: "chart", role: "img",
      "aria-label": options.title || "" });
    svg.append(svgEl("title", {}, options.title || ""));
    container.append(svg);
    return { svg, width };
  }

  /* The table behind a chart: one row per label, one column per series (and per
     `columns` entry, figures the chart does not draw: {name, values} with values as text). */
  function table(container, options) {
    const box = htmlEl("details", "table-box");
    if (options.openTable) box.open = true;
    box.append(htmlEl("summary", null, "数据表"));
    const scroll = htmlEl("div", "scroll");
    const t = htmlEl("table");
    const head = htmlEl("tr");
    head.append(htmlEl("th", null, options.labelHeader || ""));
    options.series.forEach((s) => head.append(htmlEl("th", null, s.name)));
    if (options.total) head.append(htmlEl("th", null, "合计"));
    (options.columns || []).forEach((c) => head.append(htmlEl("th", null, c.name)));
    const thead = htmlEl("thead");
    thead.append(head);
    const tbody = htmlEl("tbody");
    options.labels.forEach((label, i) => {
      const row = htmlEl("tr");
      row.append(htmlEl("td", null, label));
      let sum = 0;
      options.series.forEach((s) => {
        const v = s.values[i];
        sum += v || 0;
        row.append(htmlEl("td", null, fmt(v, options.digits)));
      });
      if (options.total) row.append(htmlEl("td", null, fmt(sum)));
      (options.columns || []).forEach((c) => row.append(htmlEl("td", null, c.values[i])));
      tbody.append(row);
    });
    t.append(thead, tbody);
    scroll.append(t);
    box.append(scroll);
    container.append(box);
  }

  /* line(container, {title, labels, series: [{name, values}], digits}): null leaves a gap. */
  function line(container, options) {
    const { svg, width } = start(container, options);
    const all = options.series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const top = options.max || niceMax(Math.max(0, ...all));
    const slot = frame(svg, width, top, options.labels);
    options.series.forEach((s, n) => {
      let run = [];
      const flush = () => {
        if (run.length > 1) svg.append(svgEl("polyline", { points: run.join(" "), class: `line s${n % 7}` }));
        run = [];
      };
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { flush(); return; }
        const x = LEFT + slot * (i + 0.5), y = yOf(v, top);
        run.push(`${x.toFixed(1)},${y.toFixed(1)}`);
        const dot = svgEl("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5, class: `s${n % 7}` });
        dot.append(svgEl("title", {}, `${options.labels[i]} ${s.name}：${fmt(v, options.digits)}`));
        svg.append(dot);
      });
      flush();
    });
    table(container, options);
    return svg;
  }

  /* bars(container, {title, labels, series, stacked}): side by side, or stacked. */
  function bars(container, options) {
    const { svg, width } = start(container, options);
    const series = options.series;
    const totals = options.labels.map((_, i) => options.stacked
      ? series.reduce((sum, s) => sum + (s.values[i] || 0), 0)
      : Math.max(0, ...series.map((s) => s.values[i] || 0)));
    const top = niceMax(Math.max(0, ...totals));
    const slot = frame(svg, width, top, options.labels);
    const groupW = Math.max(2, slot * 0.76);
    options.labels.forEach((label, i) => {
      let base = 0;
      series.forEach((s, n) => {
        const v = s.values[i] || 0;
        if (v <= 0) return;
        const w = options.stacked ? groupW : groupW / series.length;
        const x = LEFT + slot * i + (slot - groupW) / 2 + (options.stacked ? 0 : w * n);
        const y0 = yOf(options.stacked ? base : 0, top), y1 = yOf((options.stacked ? base : 0) + v, top);
        const bar = svgEl("rect", { x: x.toFixed(1), y: y1.toFixed(1), width: Math.max(1, w - 0.5).toFixed(1),
          height: Math.max(0.5, y0 - y1).toFixed(1), class: `s${n % 7}` });
        bar.append(svgEl("title", {}, `${label} ${s.name}：${fmt(v, options.digits)}`));
        svg.append(bar);
        if (options.stacked) base += v;
      });
    });
    table(container, { ...options, total: options.total ?? (options.stacked && series.length > 1) });
    return svg;
  }

  return { line, bars, table, niceMax, fmt, htmlEl };
})();
