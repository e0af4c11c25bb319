"use strict";
const $ = (id) => document.getElementById(id);
const CATEGORIES = { repair: "报修", complaint: "投诉", wish: "微心愿", dispute: "矛盾纠纷" };
const STATUSES = { new: "待接单", accepted: "已接单", in_progress: "处理中", resolved: "已办结", closed: "已关闭", reopened: "已重开", cancelled: "已取消" };
const OPEN = ["new", "accepted", "in_progress", "reopened"];
const EVENTS = { created: "建单", followed: "关注", accepted: "接单", progress: "进展", resolved: "办结", transferred: "转派",
  escalated: "升级", recategorized: "改类", claimed: "认领", rated: "评价", reopened: "重开", cancelled: "取消", closed: "关闭",
  whistled: "吹哨", reported: "报到", respond_overdue: "报到超时", retiered: "改调解层级",
  photo: "照片", photo_failed: "照片未能保存", supplemented: "居民补充" };
const ENTITY_NAMES = { building: "楼号", unit: "单元", room: "房号", facility: "设施", urgency: "紧急", person: "人" };
const PAGE = 50;
const WRONG_TOKEN = "管理令牌错误或已失效，请重新输入。Wrong or expired admin token.";
const state = { token: null, session: null, tab: "tickets", offset: 0, filters: { sort: "-id" }, ticket: null, message: null,
  timer: null, answer: null, org: null, orgText: null, retrain: null };

/* ---------- helpers ---------- */
function el(tag, props, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat(Infinity)) if (c != null && c !== false) n.append(c instanceof Node ? c : String(c));
  return n;
}
/* The filled part of a bar; its width is set through the CSSOM, which the page's CSP allows. */
function fill(fraction) {
  const i = el("i");
  i.style.width = `${Math.max(0, Math.min(1, Number(fraction) || 0)) * 100}%`;
  return i;
}
const pad = (n) => String(n).padStart(2, "0");
function bj(iso, short) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return "—";
  const b = new Date(d.getTime() + 8 * 3600e3);
  const md = `${pad(b.getUTCMonth() + 1)}-${pad(b.getUTCDate())} ${pad(b.getUTCHours())}:${pad(b.getUTCMinutes())}`;
  return short ? md : `${b.getUTCFullYear()}-${md}`;
}
const pct = (x) => (typeof x === "number" ? (x * 100).toFixed(x >= 0.995 || x < 0.1 ? 1 : 0) + "%" : "—");
const num = (x, digits) => (typeof x === "number" ? x.toFixed(digits ?? 0) : "—");
const chip = (cls, text) => el("span", { class: "chip " + cls }, text);
const statusChip = (s) => chip("s-" + s, STATUSES[s] || s || "—");
const catChip = (c) => chip("c-" + c, CATEGORIES[c] || c || "—");
const ticketLink = (id) => (id ? el("a", { href: "#ticket-" + id }, "#" + id) : "—");
function thead(...names) { return el("tr", { class: "head" }, names.map((n) => el("th", null, n))); }
/* On a phone a table's rows become cards whose cells are labelled with their column's name. */
function labelCells(table) {
  const head = table.querySelector("tr.head");
  if (!head) return;
  const names = [...head.children].map((th) => th.textContent.replace(/ [▲▼]$/, ""));
  table.classList.add("stack");
  for (const tr of table.querySelectorAll("tr:not(.head)")) {
    [...tr.children].forEach((td, i) => { if (!td.hasAttribute("colspan")) td.dataset.label = names[i] || ""; });
  }
}
function decodeEntities(s) {
  return s.replace(/<br\s*\/?>/gi, "\n").replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos|nbsp);/gi, (m, e) => {
    const named = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'", nbsp: " " }[e.toLowerCase()];
    if (named) return named;
    const code = /^#x/i.test(e) ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
  });
}
/* WeCom textcard description: only <div class="gray|normal|highlight"> is kept; everything else is text. */
function cardDescription(html) {
  const box = el("div", { class: "cd" }), re = /<div class="(gray|normal|highlight)">([\s\S]*?)<\/div>/g;
  let last = 0, m;
  const loose = (s) => s.trim() && box.append(el("div", { class: "normal" }, decodeEntities(s)));
  while ((m = re.exec(html || ""))) {
    loose(html.slice(last, m.index));
    box.append(el("div", { class: m[1] }, decodeEntities(m[2])));
    last = re.lastIndex;
  }
  loose((html || "").slice(last));
  return box;
}
function isOverdue(t, which) {
  const due = Date.parse(which === "accept" ? t.accept_due_at : t.resolve_due_at);
  if (!due || due > Date.now()) return false;
  return which === "accept" ? ["new", "reopened"].includes(t.status) : OPEN.includes(t.status);
}
/* The deadline that matters now (as sort=deadline orders them): the department's report, accepting, resolving. */
function dueNow(t) {
  if (!OPEN.includes(t.status)) return el("span", { class: "muted" }, "—");
  if (t.department && !t.reported_at && t.respond_due_at) {
    const late = Date.parse(t.respond_due_at) < Date.now();
    return el("span", { class: late ? "overdue" : "nowrap" }, "报到 ", bj(t.respond_due_at, true), late ? " 超时" : "");
  }
  return ["new", "reopened"].includes(t.status) ? ["接单 ", deadline(t, "accept")] : ["办结 ", deadline(t, "resolve")];
}
function deadline(t, which) {
  const iso = which === "accept" ? t.accept_due_at : t.resolve_due_at;
  if (!iso) return el("span", { class: "muted" }, "—");
  const late = isOverdue(t, which);
  return el("span", { class: late ? "overdue" : "nowrap", title: late ? "已超时 overdue" : "" }, bj(iso, true), late ? " 超时" : "");
}

/* ---------- API + token ---------- */
class AuthError extends Error {}
async function api(path, body, method) {
  if (!state.token && !state.session) throw new AuthError("请先登录");
  const verb = method || (body ? "POST" : "GET");
  const headers = body ? { "Content-Type": "application/json" } : {};
  // The admin token, or the signed-in person's session cookie with its CSRF token on changes.
  if (state.token) headers.Authorization = "Bearer " + state.token;
  else if (verb !== "GET") headers["X-CSRF-Token"] = state.session.csrf;
  const res = await fetch("/api/v1" + path, {
    method: verb, headers, credentials: "same-origin",
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && !state.token && state.session) { toSignIn(); throw new AuthError("401"); }
  if (res.status === 401) { showLogin(WRONG_TOKEN); throw new AuthError("401"); }
  if (!res.ok) { const err = new Error(data.error || `HTTP ${res.status}`); err.status = res.status; err.data = data; throw err; }
  return data;
}
/* A file from the API (CSV, YAML) saved by the browser; the token or the session goes with it. */
async function download(path, fallback) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const res = await fetch("/api/v1" + path, { headers, credentials: "same-origin" });
  if (res.status === 401) { if (!state.token && state.session) toSignIn(); else showLogin(WRONG_TOKEN); throw new AuthError("401"); }
  if (!res.ok) { const data = await res.json().catch(() => ({})); throw new Error(data.error || `HTTP ${res.status}`); }
  const disposition = res.headers.get("Content-Disposition") || "";
  const named = /filename\*=UTF-8''([^;]+)/.exec(disposition);
  const a = el("a", { href: URL.createObjectURL(await res.blob()), download: named ? decodeURIComponent(named[1]) : fallback });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}
const isAdmin = () => !!state.token || !!(state.session && state.session.admin);
/* A staff member signed in (WeCom from a task card, a password or a one-time link). */
async function findSession() {
  try {
    const res = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (res.ok) state.session = await res.json();
  } catch (e) { state.session = null; }
  const who = $("who");
  if (who) who.textContent = state.session ? `${state.session.name}（${(state.session.roles || []).join("、")}）` : "";
  applyRole();
}
/* Street admins and the token see the review queue, the models and the org file; others do not. */
function applyRole() {
  const admin = isAdmin();
  document.querySelectorAll('#tabs [data-tab="review"], #tabs [data-tab="models"]').forEach((b) => (b.hidden = !admin));
  $("orgAdmin").hidden = !admin;
  // The admin token is nobody: it holds no tickets, so it has no "mine".
  const mine = document.querySelector('#tAssignee option[value="me"]');
  if (mine) mine.hidden = mine.disabled = !!state.token;
}
function toSignIn() {
  location.href = "/login?next=" + encodeURIComponent(location.pathname + location.hash);
}
function showLogin(error) {
  $("login").hidden = false;
  $("loginErr").textContent = error || "";
  $("tokenInput").focus();
}
function takeTokenFromHash() {
  const parts = location.hash.slice(1).split("&");
  const tok = parts.find((p) => p.startsWith("token="));
  if (tok) {
    state.token = decodeURIComponent(tok.slice(6));
    sessionStorage.setItem("gridbot_token", state.token);
    const rest = parts.filter((p) => p !== tok).join("&");
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  } else {
    state.token = sessionStorage.getItem("gridbot_token");
  }
}
function guard(fn) {
  return async (...args) => {
    try { await fn(...args); } catch (e) { if (!(e instanceof AuthError)) report(e); }
  };
}
function report(e) {
  const sec = $("tab-" + state.tab);
  sec.querySelector(".loaderr")?.remove();
  sec.prepend(el("div", { class: "panel error loaderr" }, "出错了 error: " + e.message));
}
function clearError() { document.querySelectorAll(".loaderr").forEach((n) => n.remove()); }

/* ---------- tabs + routing ---------- */
const LOADERS = {};
const hashTab = () => location.hash.slice(1).replace(/^tab=/, "");
function route() {
  if (/(^|&)token=/.test(location.hash.slice(1))) { takeTokenFromHash(); $("login").hidden = true; }
  const h = hashTab();
  const tm = /^ticket-(\d+)$/.exec(h);
  if (tm) { showTab(state.tab || "tickets", false); openTicket(Number(tm[1])); return; }
  const mm = /^message-(\d+)$/.exec(h);
  if (mm) { showTab(state.tab || "messages", false); openMessage(Number(mm[1])); return; }
  closeDrawer(false);
  showTab(LOADERS[h] ? h : state.tab, false);
}
function showTab(tab, push = true) {
  const changed = tab !== state.tab || !document.querySelector("#tabs button.on");
  state.tab = tab;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === tab));
  document.querySelectorAll("main > section").forEach((s) => (s.hidden = s.id !== "tab-" + tab));
  if (push) history.replaceState(null, "", "#" + tab);
  if (changed && tab === "review") review.focusFirst = true;
  if (changed) load();
}
function load() {
  clearError();
  const fn = LOADERS[state.tab];
  if (fn) guard(fn)();
  guard(loadDeadBadge)();
  if (isAdmin() && (state.tab !== "review" || review.status !== "open")) guard(loadReviewBadge)();
}
async function loadDeadBadge() {
  const data = await api("/outbox?status=dead&limit=500");
  const n = (data.outbox || []).length;
  $("deadBadge").hidden = !n;
  $("deadBadge").textContent = n >= 500 ? "500+" : n;
}

/* ---------- tickets ---------- */
function fillSelect(sel, map) { for (const [k, v] of Object.entries(map)) sel.append(el("option", { value: k }, `${v} ${k}`)); }
LOADERS.tickets = async function loadTickets() {
  const q = listQuery();
  q.set("limit", PAGE);
  q.set("offset", state.offset);
  guard(loadAssignees)();
  const data = await api("/tickets?" + q);
  renderTickets(data.tickets || [], data.total || 0);
};
function sinceIso(date) { return new Date(date + "T00:00:00+08:00").toISOString(); }
/* Column → sort key; clicking a sortable column's name sorts by it, again to reverse. */
const SORTABLE = { "编号": "id", "类别": "category", "状态": "status", "楼栋": "building", "时限": "deadline", "创建时间": "created" };
function sortHead(...names) {
  const current = state.filters.sort || "-id", key = current.replace(/^-/, ""), down = current.startsWith("-");
  return el("tr", { class: "head" }, names.map((n) => {
    const sort = SORTABLE[n];
    if (!sort) return el("th", null, n);
    const on = sort === key;
    return el("th", { class: "sortable" + (on ? " on" : ""), "data-sort": sort, tabindex: 0, title: "点击排序 sort",
      "aria-sort": on ? (down ? "descending" : "ascending") : "none", onclick: () => sortBy(sort), onkeydown: (e) => e.key === "Enter" && sortBy(sort) },
    n, on ? el("span", { class: "arrow" }, down ? " ▼" : " ▲") : null);
  }));
}
function sortBy(key) {
  const current = state.filters.sort || "-id";
  const next = current === key ? "-" + key : current === "-" + key ? key : (key === "id" || key === "created" ? "-" : "") + key;
  state.filters.sort = next;
  $("tSort").value = [...$("tSort").options].some((o) => o.value === next) ? next : "";
  state.offset = 0;
  load();
}
function listQuery() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filters)) if (v) q.set(k, k === "since" ? sinceIso(v) : v);
  return q;
}
async function exportTickets() {
  const day = bj(new Date().toISOString()).slice(0, 10).replace(/-/g, "");
  await download("/tickets.csv?" + listQuery(), `工单-${day}.csv`);
}
/* The staff of the viewer's streets, for the assignee filter (once). */
async function loadAssignees() {
  if (state.org) return;
  state.org = await api("/org");
  const sel = $("tAssignee");
  for (const p of state.org.people) {
    const account = p.wecom_userid || p.wechat_id;
    if (account && p.roles.some((r) => !r.startsWith("志愿者"))) sel.append(el("option", { value: account }, `${p.name}（${p.roles[0]}）`));
  }
  if (state.filters.assignee) sel.value = state.filters.assignee;
}
function renderTickets(rows, total) {
  const table = $("tTable");
  table.replaceChildren(sortHead("编号", "类别", "状态", "楼栋", "网格", "处理人", "紧急/层级", "内容", "时限", "办结时限", "创建时间"));
  for (const t of rows) {
    table.append(el("tr", { class: "click", onclick: () => (location.hash = "ticket-" + t.id) },
      el("td", null, el("b", null, "#" + t.id)), el("td", null, catChip(t.category)), el("td", null, statusChip(t.status)),
      el("td", { class: "nowrap" }, t.building ? t.building + "号楼" : "—"), el("td", { class: "nowrap" }, t.grid || "—"),
      el("td", { class: "nowrap" }, t.assignee || "—", t.escalation_level ? el("span", { class: "small urgent" }, ` ↑${t.escalation_level}`) : null),
      el("td", { class: "nowrap" }, urgencyText(t)),
      el("td", { class: "text", title: t.text || "" }, excerpt(t.text, 48)),
      el("td", null, dueNow(t)), el("td", null, deadline(t, "resolve")),
      el("td", { class: "nowrap" }, bj(t.created_at, true))));
  }
  if (!rows.length) table.append(el("tr", null, el("td", { colspan: 11, class: "muted" }, "没有符合条件的工单 no tickets")));
  labelCells(table);
  $("tTotal").textContent = `共 ${total} 件 total`;
  const page = Math.floor(state.offset / PAGE) + 1, pages = Math.max(1, Math.ceil(total / PAGE));
  $("page").textContent = `第 ${page} / ${pages} 页`;
  $("prev").disabled = state.offset <= 0;
  $("next").disabled = state.offset + PAGE >= total;
}
function urgencyText(t) {
  const parts = [];
  if (t.urgency === "emergency") parts.push(el("span", { class: "urgent" }, "紧急"));
  else parts.push(URGENCY[t.urgency] || t.urgency || "—");
  if (t.tier) parts.push(" · " + (TIERS[t.tier] || t.tier));
  return parts;
}
function excerpt(s, n) { s = String(s || "").replace(/\s+/g, " "); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

/* ---------- ticket drawer ---------- */
async function openTicket(id, quiet) {
  state.ticket = id;
  state.message = null;
  $("drawer").hidden = $("backdrop").hidden = false;
  $("dTitle").textContent = "工单 #" + id;
  if (!quiet) {
    $("dChips").replaceChildren();
    $("dBody").replaceChildren(el("p", { class: "muted" }, "加载中 loading…"));
  }
  try {
    const t = await api("/tickets/" + id);
    if (state.ticket === id) {
      const top = $("dBody").scrollTop;
      renderTicket(t);
      if (quiet) $("dBody").scrollTop = top;
    }
  } catch (e) {
    if (!(e instanceof AuthError)) $("dBody").replaceChildren(el("p", { class: "error" }, "无法加载工单：" + e.message));
  }
}
function closeDrawer(updateHash = true) {
  if ($("drawer").hidden) return;
  state.ticket = null;
  state.message = null;
  state.answer = null;
  $("drawer").hidden = $("backdrop").hidden = true;
  if (updateHash) history.replaceState(null, "", "#" + state.tab);
}
function renderTicket(t) {
  $("dChips").replaceChildren(catChip(t.category), " ", statusChip(t.status), " ",
    t.urgency === "emergency" ? chip("s-dead", "紧急") : "");
  const kv = [["楼栋 building", t.building ? t.building + "号楼" : "—"], ["网格 grid", t.grid], ["处理人 assignee",
    t.assignee ? `${t.assignee}${t.assignee_userid ? " (" + t.assignee_userid + ")" : ""}` : "—"],
  ["报告人 reporter", t.reporter], ["设施 facility", t.facility], ["位置 location", t.location],
  ["紧急度 urgency", URGENCY[t.urgency] || t.urgency], ["纠纷层级 tier", t.tier ? TIERS[t.tier] || t.tier : null],
  ["升级层级", t.escalation_level ? String(t.escalation_level) : null], ["接单时限", deadline(t, "accept")],
  ["办结时限", deadline(t, "resolve")], ["接单于", t.accepted_at && bj(t.accepted_at)], ["办结于", t.resolved_at && bj(t.resolved_at)],
  ["关闭于", t.closed_at && bj(t.closed_at)], ["评价 rating", t.rating ? "★".repeat(t.rating) + ` (${t.rating}/5)` : null],
  ["创建 created", bj(t.created_at)], ["更新 updated", bj(t.updated_at)]];
  $("dBody").replaceChildren(
    el("h3", null, "操作 Actions"), actionsBlock(t),
    el("h3", null, "居民原话 What the resident said"), el("div", { class: "quote" }, t.text || "—"),
    ...((t.attachments || []).length ? [el("h3", null, `现场照片 Photos（${t.attachments.length}）`), photosBlock(t.attachments)] : []),
    el("h3", null, "基本信息 Details"), el("dl", { class: "kv" }, kv.filter(([, v]) => v != null && v !== "")
      .map(([k, v]) => [el("dt", null, k), el("dd", null, v)])),
    el("h3", null, "为什么建单 The NLU decision"), decisionBlock(t.decision),
    ...correctionBlock(t),
    el("h3", null, `处理经过 Timeline（${(t.events || []).length}）`), timeline(t.events || []),
    el("h3", null, `发出的消息 Messages sent（${(t.messages || []).length}）`),
    el("div", null, (t.messages || []).length ? t.messages.map(outboxItem) : el("p", { class: "muted" }, "没有消息")));
}
/* A ticket's pictures. An <img> cannot send the admin token, so each is fetched with the
   token or the session and shown from a blob: URL, kept while the page lives so that the
   drawer's refreshes do not fetch it again. */
const pictures = new Map();
async function pictureSrc(url) {
  if (!pictures.has(url)) {
    pictures.set(url, (async () => {
      const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
      const res = await fetch(url, { headers, credentials: "same-origin" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return URL.createObjectURL(await res.blob());
    })());
    pictures.get(url).catch(() => pictures.delete(url));
  }
  return pictures.get(url);
}
function photosBlock(list) {
  return el("div", { class: "photos" }, list.map((a) => {
    const box = el("a", { class: "photo", target: "_blank", rel: "noopener" }, el("span", { class: "muted" }, "加载中…"));
    pictureSrc(a.url).then((src) => {
      box.href = src;
      box.replaceChildren(el("img", { src, alt: "现场照片 photo" }));
    }).catch((e) => box.replaceChildren(el("span", { class: "error" }, "照片无法加载：" + e.message)));
    return box;
  }));
}
/* Re-file a ticket gridbot understood wrongly, or cancel it as no matter at all; the
   correction also goes to the NLU review queue, like the 改类 chat command. */
function correctionBlock(t) {
  if (t.status === "closed" || t.status === "cancelled") return [];
  const select = el("select", { id: "dCategory", "aria-label": "改为 category" }, Object.entries(CATEGORIES).filter(([k]) => k !== t.category)
    .map(([k, v]) => el("option", { value: k }, `${v} ${k}`)));
  if (t.status !== "resolved") select.append(el("option", { value: "none" }, "不是事项，取消 none"));
  const note = el("span", { class: "muted" });
  const button = el("button", { type: "button", class: "btn", id: "dCorrect" }, "更正 Correct");
  button.addEventListener("click", guard(async () => {
    button.disabled = true;
    try {
      await api("/tickets/" + t.id, { category: select.value }, "PATCH");
      await openTicket(t.id, true);
      if (LOADERS[state.tab]) await LOADERS[state.tab]();
    } catch (e) {
      if (!(e instanceof AuthError)) note.textContent = "未能更正：" + e.message;
    } finally { button.disabled = false; }
  }));
  return [el("h3", null, "更正类别 Correct the category"),
    el("p", null, select, " ", button, " ", note)];
}
function decisionBlock(d) {
  if (!d) return el("p", { class: "muted" }, "没有记录（工单不是由消息创建，或消息已清理）");
  const nlu = d.nlu || {}, intent = nlu.intent || {};
  const rows = [["结果 outcome", outcomeLabel(d.outcome)], ["原因 reason", d.reason],
    ["意图 intent", intent.name ? `${INTENTS[intent.name] || intent.name} · ${pct(intent.confidence)}` : null],
    ["实体 entities", (nlu.entities || []).map((e) => `${e.entity}=${e.value}`).join("，") || null],
    ["依据 evidence", nlu.evidence && nlu.evidence.terms.length ? nlu.evidence.terms.map((t) => `${t.term} +${t.weight}`).join(" · ") +
      `（对比 ${INTENTS[nlu.evidence.rival] || nlu.evidence.rival}）` : null],
    ["紧急度 urgency", nlu.urgency ? URGENCY[nlu.urgency] || nlu.urgency : null],
    ["层级 tier", nlu.tier ? TIERS[nlu.tier] || nlu.tier : null],
    ["模型 model", nlu.model ? (typeof nlu.model === "string" ? nlu.model : JSON.stringify(nlu.model)) : null]];
  return el("div", null, el("dl", { class: "kv" }, rows.filter(([, v]) => v).map(([k, v]) => [el("dt", null, k), el("dd", null, v)])),
    (nlu.intent_ranking || []).length ? el("div", { class: "mt8" }, ranking(nlu.intent_ranking)) : null);
}
function timeline(events) {
  if (!events.length) return el("p", { class: "muted" }, "没有事件");
  return el("ul", { class: "timeline" }, events.map((e) => el("li", null,
    el("div", { class: "t" }, bj(e.at), " · ", e.actor || "系统", " · ", el("b", null, EVENTS[e.kind] || COMMANDS[e.kind] || e.kind),
      e.data && e.data.status ? [" → ", statusChip(e.data.status)] : null),
    e.text ? el("div", { class: "txt" }, e.text) : null)));
}
function targetText(t) {
  t = t || {};
  if (t.chat_id) return `群 ${t.name || t.chat_id}`;
  if (t.department) return `部门 ${t.department}（群机器人）`;
  if ("webhook_key" in t) return "群机器人 robot";
  const who = t.person || (t.userids || []).filter(Boolean).join(",") || t.openid || t.chatid || "?";
  return `${t.name ? t.name + " " : ""}(${who})`;
}
function outboxItem(m) {
  const p = m.payload || {};
  const body = p.msgtype === "textcard"
    ? el("div", { class: "card" }, el("div", { class: "ct" }, p.title || ""), cardDescription(p.description || ""))
    : el("div", { class: "body" }, p.text ?? p.content ?? "");
  return el("div", { class: "omsg" + (m.status === "dead" ? " dead" : "") },
    el("div", { class: "h" }, chip("s-" + m.status, m.status), el("b", null, m.transport), "→ " + targetText(m.target),
      el("span", null, bj(m.sent_at || m.created_at)), m.attempts > 1 ? el("span", null, `尝试 ${m.attempts} 次`) : null, retryButton(m)),
    body, m.last_error ? el("div", { class: "error small" }, "错误 last_error: " + m.last_error) : null);
}

/* ---------- stats ---------- */
LOADERS.stats = async function loadStats() {
  const v = $("sSince").value;
  let since = "";
  if (v === "month") {
    const b = new Date(Date.now() + 8 * 3600e3);
    since = `${b.getUTCFullYear()}-${pad(b.getUTCMonth() + 1)}-01T00:00:00+08:00`;
  } else if (v) { // midnight Beijing time, v-1 days ago
    since = new Date(Date.now() + 8 * 3600e3 - (Number(v) - 1) * 86400e3).toISOString().slice(0, 10) + "T00:00:00+08:00";
  }
  const s = await api("/stats" + (since ? "?since=" + encodeURIComponent(since) : ""));
  renderStats(s);
};
function renderStats(s) {
  const kpi = (label, value, sub) => el("div", { class: "kpi" }, el("div", { class: "muted small" }, label), el("div", { class: "v" }, value),
    sub ? el("div", { class: "small muted" }, sub) : null);
  $("kpis").replaceChildren(kpi("受理 received", num(s.received)), kpi("办结 closed", num(s.closed)),
    kpi("办结率 closure rate", pct(s.closure_rate), el("div", { class: "bar" }, fill(s.closure_rate))),
    kpi("平均办结时长 avg hours", s.avg_closure_hours == null ? "—" : num(s.avg_closure_hours, 1) + " h"),
    kpi("满意度 satisfaction", s.satisfaction == null ? "—" : num(s.satisfaction, 2) + " / 5"));
  statsTable($("byCat"), "类别 category", s.by_category || {}, (k) => catChip(k));
  // Over several streets the figures come per street; a street's per grid.
  const places = s.by_street || s.by_grid || {};
  const keys = Object.keys(places).sort((a, b) => a.localeCompare(b, "zh-CN", { numeric: true }));
  $("byGridTitle").textContent = s.by_street ? "按街道 By street" : "按网格 By grid";
  statsTable($("byGrid"), s.by_street ? "街道 street" : "网格 grid", places, (k) => (k === "unassigned" ? "未分配 unassigned" : k), keys);
}
function statsTable(table, label, data, name, keys) {
  table.replaceChildren(thead(label, "受理", "办结", "办结率 closure rate", "平均办结(小时)", "满意度"));
  for (const k of keys || Object.keys(data)) {
    const r = data[k];
    table.append(el("tr", null, el("td", null, name(k)), el("td", { class: "num" }, num(r.received)), el("td", { class: "num" }, num(r.closed)),
      el("td", null, el("div", { class: "barcell" }, el("div", { class: "bar" }, fill(r.closure_rate)),
        el("span", null, pct(r.closure_rate)))),
      el("td", { class: "num" }, r.avg_closure_hours == null ? "—" : num(r.avg_closure_hours, 1)),
      el("td", { class: "num" }, r.satisfaction == null ? "—" : num(r.satisfaction, 2))));
  }
  if (!Object.keys(data).length) table.append(el("tr", null, el("td", { colspan: 6, class: "muted" }, "暂无数据 no data")));
  labelCells(table);
}

/* ---------- messages ---------- */
LOADERS.messages = async function loadMessages() {
  const q = new URLSearchParams({ limit: $("mLimit").value });
  if ($("mStatus").value) q.set("status", $("mStatus").value);
  const data = await api("/messages?" + q);
  const table = $("mTable");
  table.replaceChildren(thead("收到 received", "来源 from", "内容 text", "结果 outcome", "意图 intent", "原因 reason", "工单"));
  table.classList.add("clickable");
  for (const m of data.messages || []) table.append(messageRow(m));
  if (!(data.messages || []).length) table.append(el("tr", null, el("td", { colspan: 7, class: "muted" }, "暂无消息")));
  labelCells(table);
};
function messageRow(m) {
  const d = m.decision || {}, nlu = d.nlu || {}, intent = nlu.intent || {};
  const ents = (nlu.entities || []).map((e) => `${e.entity}=${e.value}`).join(" ");
  const outcome = d.outcome ? chip(outcomeClass(d.outcome), outcomeLabel(d.outcome)) : statusChip(m.status);
  return el("tr", { class: "click", "data-message": m.id, title: "查看详情 detail",
    onclick: (e) => { if (!e.target.closest("a")) location.hash = "message-" + m.id; } },
    el("td", { class: "nowrap" }, bj(m.received_at, true)),
    el("td", { class: "small" }, el("div", null, m.sender_name || m.sender_id), el("div", { class: "muted" }, `${m.channel} · ${m.chat_id || "1:1"}`)),
    el("td", { class: "text" }, m.text || ""),
    el("td", null, outcome, m.error ? el("div", { class: "error small" }, m.error) : null),
    el("td", { class: "small nowrap" }, intent.name ? [INTENTS[intent.name] || intent.name, " ", el("b", null, pct(intent.confidence))] : "—",
      nlu.urgency === "emergency" ? el("div", { class: "urgent" }, "紧急") : null, nlu.tier ? el("div", null, TIERS[nlu.tier] || nlu.tier) : null,
      ents ? el("div", { class: "muted" }, ents) : null),
    el("td", { class: "small text" }, d.reason || ""),
    el("td", null, ticketLink(d.ticket_id)));
}
function outcomeClass(o) {
  if (o === "ticket_created" || o === "followed" || o === "already_reported" || o.startsWith("command:")) return "s-sent";
  if (o === "refused" || o === "asked_building") return "s-pending";
  if (o === "ignored") return "";
  return "s-accepted";
}

/* ---------- outbox ---------- */
LOADERS.outbox = async function loadOutbox() {
  const q = new URLSearchParams({ limit: $("oLimit").value });
  if ($("oStatus").value) q.set("status", $("oStatus").value);
  const [dead, recent] = await Promise.all([api("/outbox?status=dead&limit=100"), api("/outbox?" + q)]);
  outboxTable($("deadTable"), dead.outbox || [], "没有投递失败的消息 ✓ no failed deliveries");
  outboxTable($("oTable"), recent.outbox || [], "暂无");
};
function outboxTable(table, rows, none) {
  table.replaceChildren(thead("#", "创建 created", "通道 transport", "发给 to", "内容 content", "状态", "尝试", "错误 last_error", "工单", ""));
  for (const m of rows) {
    const p = m.payload || {};
    const text = p.msgtype === "textcard" ? `[卡片] ${p.title || ""}` : p.text ?? p.content ?? "";
    table.append(el("tr", null, el("td", null, m.id), el("td", { class: "nowrap" }, bj(m.created_at, true)), el("td", null, m.transport),
      el("td", { class: "small" }, targetText(m.target)), el("td", { class: "text" }, excerpt(text, 80)),
      el("td", null, chip("s-" + m.status, m.status)), el("td", { class: "num" }, m.attempts ?? ""),
      el("td", { class: "small error text" }, m.last_error || ""), el("td", null, ticketLink(m.ticket_id || ticketInText(text))),
      el("td", null, retryButton(m))));
  }
  if (!rows.length) table.append(el("tr", null, el("td", { colspan: 10, class: "muted" }, none)));
  labelCells(table);
}
function ticketInText(s) { const m = /[#＃](\d+)/.exec(s || ""); return m ? Number(m[1]) : null; }

/* ---------- NLU ---------- */
const NLU_EXAMPLES = ["5号楼电梯里有人被困住了", "3号楼楼道灯坏了好几天了", "楼上天天半夜拖椅子吵得睡不着",
  "我家楼上漏水，找他他不管，还骂人", "隔壁独居的李奶奶腿脚不便，想找人帮忙买菜", "今天天气真好"];
LOADERS.nlu = async function () {};
async function parseNlu(e) {
  e.preventDefault();
  const text = $("nluText").value;
  $("nluErr").textContent = "";
  if (!text.trim()) return;
  try {
    renderNlu(await api("/nlu/parse", { text }));
  } catch (err) {
    if (!(err instanceof AuthError)) $("nluErr").textContent = err.message;
  }
}
function ranking(list) {
  return el("div", { class: "rank" }, list.map((r, i) => [
    el("div", { class: i ? "" : "top" }, `${INTENTS[r.name] || ""} `, el("span", { class: "muted small" }, r.name)),
    el("div", { class: i ? "" : "top" }, el("div", { class: "bar" }, fill(r.confidence))),
    el("div", { class: "small" }, pct(r.confidence))]));
}
function highlighted(text, entities) {
  const chars = Array.from(text); // entity offsets count code points
  const sorted = [...entities].filter((e) => Number.isInteger(e.start) && e.end > e.start).sort((a, b) => a.start - b.start);
  const box = el("div", { class: "hl" });
  let at = 0;
  for (const e of sorted) {
    if (e.start < at) continue;
    box.append(chars.slice(at, e.start).join(""));
    box.append(el("mark", { title: `${e.entity} = ${e.value}` }, chars.slice(e.start, e.end).join(""), el("sub", null, ENTITY_NAMES[e.entity] || e.entity)));
    at = e.end;
  }
  box.append(chars.slice(at).join(""));
  return box;
}
function renderNlu(r) {
  const intent = r.intent || {};
  const ents = r.entities || [];
  const out = $("nluOut");
  out.hidden = false;
  out.replaceChildren(
    el("h2", null, "意图 ", el("span", { class: "chip s-accepted" }, `${INTENTS[intent.name] || ""} ${intent.name || "?"}`), " ",
      el("span", { class: "muted" }, "置信度 " + pct(intent.confidence)),
      r.urgency ? [" ", chip(r.urgency === "emergency" ? "s-dead" : "", "紧急度 " + (URGENCY[r.urgency] || r.urgency))] : null,
      r.tier ? [" ", chip("s-in_progress", "层级 " + (TIERS[r.tier] || r.tier))] : null),
    el("h3", null, "候选意图 Intent ranking"), ranking(r.intent_ranking || []),
    el("h3", null, "实体 Entities"), highlighted(r.text || "", ents),
    ents.length ? el("table", { class: "mt8 entities" }, thead("实体 entity", "值 value", "位置", "来源"),
      ents.map((e) => el("tr", null, el("td", null, `${ENTITY_NAMES[e.entity] || ""} ${e.entity}`), el("td", null, String(e.value)),
        el("td", { class: "small muted" }, `${e.start}–${e.end}`), el("td", { class: "small muted" }, e.extractor || "")))) :
      el("p", { class: "muted" }, "没有识别到实体"),
    el("details", null, el("summary", { class: "small muted" }, "原始 JSON raw"), el("pre", { class: "small" }, JSON.stringify(r, null, 2))));
}

/* ---------- NLU review queue ---------- */
// Button order (and the 1–5 keys) follows how often each label is needed, not storage order.
const REVIEW_INTENTS = [["repair_request", "报修"], ["complaint", "投诉"], ["micro_wish", "微心愿"], ["dispute", "纠纷"], ["none", "无关"]];
const REVIEW_NAMES = Object.fromEntries(REVIEW_INTENTS);
const REASONS = { low_confidence: ["模型不确定", "r-low"], corrected: ["工作人员改类", "r-corrected"] };
const REVIEW_SHOW = 100, REVIEW_COUNT = 500, REVIEW_PAGE = 50;
const review = { status: "open", offset: 0, cards: new Map(), history: [], focusFirst: false, count: null };
const intentChip = (i) => (i ? chip("i-" + i, `${REVIEW_NAMES[i] || INTENTS[i] || ""} ${i}`) : el("span", { class: "muted" }, "—"));
const reasonChip = (r) => chip((REASONS[r] || ["", ""])[1], `${(REASONS[r] || [r])[0]} ${r}`);

LOADERS.review = async function loadReview() {
  renderReviewSeg();
  if (review.status === "open") {
    const data = await api(`/nlu/review?status=open&limit=${REVIEW_COUNT}`);
    const items = data.items || [];
    setReviewCount(items.length);
    if (state.tab === "review" && review.status === "open") renderOpen(items.slice(0, REVIEW_SHOW), items.length);
  } else {
    const status = review.status, items = [];
    for (let offset = 0; offset < 50000; offset += 1000) { // newest first needs them all; the API pages by id
      const page = (await api(`/nlu/review?status=${status}&limit=1000&offset=${offset}`)).items || [];
      items.push(...page);
      if (page.length < 1000) break;
    }
    if (review.status !== status) return;
    items.sort((a, b) => (b.labeled_at || "").localeCompare(a.labeled_at || "") || b.id - a.id);
    review.history = items;
    renderHistory();
  }
};
async function loadReviewBadge() {
  const data = await api(`/nlu/review?status=open&limit=${REVIEW_COUNT}`);
  setReviewCount((data.items || []).length);
}
function setReviewCount(n) {
  review.count = Math.max(0, n);
  const text = n >= REVIEW_COUNT ? `${REVIEW_COUNT}+` : String(review.count);
  $("reviewBadge").hidden = !review.count;
  $("reviewBadge").textContent = text;
  $("rOpenCount").textContent = ` (${text})`;
}
function renderReviewSeg() {
  document.querySelectorAll("#rSeg button").forEach((b) => b.classList.toggle("on", b.dataset.status === review.status));
  const open = review.status === "open";
  $("rList").hidden = !open;
  $("rKeys").hidden = !open;
  $("rHistory").hidden = open;
  if (!open) $("rEmpty").hidden = $("rMore").hidden = true;
}
function setReviewStatus(status) {
  if (status === review.status) return;
  review.status = status;
  review.offset = 0;
  review.history = [];
  review.cards.clear();
  $("rList").replaceChildren();
  $("rTable").replaceChildren();
  review.focusFirst = status === "open";
  load();
}
const liveCards = () => [...$("rList").children].filter((c) => !c.classList.contains("done"));

/* Keeps existing cards (and the keyboard focus) when the list is refreshed. */
function renderOpen(items, total) {
  const list = $("rList");
  const ids = new Set(items.map((i) => i.id));
  for (const [id, card] of review.cards) {
    if (!ids.has(id) && !card.classList.contains("done") && !card.classList.contains("busy")) { card.remove(); review.cards.delete(id); }
  }
  let prev = null;
  for (const item of items) {
    let card = review.cards.get(item.id);
    if (!card) { card = reviewCard(item); review.cards.set(item.id, card); }
    let next = prev ? prev.nextElementSibling : list.firstElementChild;
    while (next && next !== card && next.classList.contains("done")) next = next.nextElementSibling;
    if (next !== card) list.insertBefore(card, next);
    prev = card;
  }
  const shown = liveCards().length;
  $("rEmpty").hidden = shown > 0;
  $("rEmpty").textContent = "审核队列是空的 ✓ 没有需要标注的消息 the review queue is empty";
  $("rMore").hidden = total <= items.length;
  $("rMore").textContent = `只显示最早的 ${items.length} 条，共 ${total >= REVIEW_COUNT ? REVIEW_COUNT + "+" : total} 条；标注后会继续加载 showing the oldest ${items.length}`;
  if (review.focusFirst && shown && $("drawer").hidden && $("login").hidden) liveCards()[0].focus({ preventScroll: true });
  review.focusFirst = false;
}
function reviewCard(item) {
  const card = el("article", { class: "rcard", tabindex: 0, "data-id": item.id, "aria-label": `待审核 #${item.id}` });
  const buttons = REVIEW_INTENTS.map(([intent, name], i) => el("button", {
    type: "button", class: intent === item.suggested ? "sugg" : null, "data-intent": intent,
    title: `标注为 ${name} ${intent}（按 ${i + 1}）`, onclick: () => labelCard(card, item, intent) },
  el("kbd", null, String(i + 1)), name, el("span", { class: "en" }, intent),
  intent === item.suggested ? el("span", { class: "tag" }, "建议 ↵") : null));
  const conf = item.confidence;
  card.append(
    el("div", { class: "h" }, el("b", { class: "ink" }, "#" + item.id), reasonChip(item.reason),
      el("span", null, bj(item.created_at)), item.ticket_id ? ["工单 ", ticketLink(item.ticket_id)] : null,
      item.model_version ? el("span", { class: "mono", title: "当时使用的模型 model version" }, item.model_version) : null),
    el("div", { class: "rtext" }, item.text || "—"),
    el("div", { class: "why" },
      el("span", null, "模型判断 predicted：", intentChip(item.predicted),
        typeof conf === "number" ? [" 置信度 ", el("b", null, pct(conf)),
          el("span", { class: "bar", title: pct(conf) }, fill(conf))] : null),
      item.suggested ? el("span", { class: "sugg-line" }, item.reason === "corrected" ? "工作人员改为 " : "建议 suggested：",
        el("b", null, `${REVIEW_NAMES[item.suggested] || item.suggested} ${item.suggested}`)) : null),
    el("div", { class: "labels" }, buttons, el("button", { type: "button", class: "dismiss", title: "不是有用的训练样本，忽略（按 d）",
      onclick: () => labelCard(card, item, null) }, el("kbd", null, "d"), "忽略 dismiss")),
    el("div", { class: "hint" }));
  card.addEventListener("keydown", (e) => cardKey(e, card, item));
  return card;
}
function cardKey(e, card, item) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (!$("drawer").hidden || !$("login").hidden) return;
  const onControl = e.target !== card && /^(A|BUTTON|SELECT|INPUT|TEXTAREA)$/.test(e.target.tagName);
  const k = e.key;
  if (k === "ArrowDown" || k === "j" || k === "ArrowUp" || k === "k") {
    e.preventDefault();
    const cards = liveCards(), i = cards.indexOf(card) + (k === "ArrowDown" || k === "j" ? 1 : -1);
    if (cards[i]) { cards[i].focus(); cards[i].scrollIntoView({ block: "nearest" }); }
    return;
  }
  if (card.classList.contains("busy") || card.classList.contains("done")) return;
  if (/^[1-5]$/.test(k)) { e.preventDefault(); labelCard(card, item, REVIEW_INTENTS[Number(k) - 1][0]); }
  else if (k === "d" || k === "D") { e.preventDefault(); labelCard(card, item, null); }
  else if (k === "Enter" && !onControl) {
    e.preventDefault();
    if (item.suggested) labelCard(card, item, item.suggested);
    else card.querySelector(".hint").textContent = "这条没有建议标签，请按 1–5 选择 no suggestion here — press 1–5";
  }
}
async function labelCard(card, item, intent) {
  if (card.classList.contains("busy") || card.classList.contains("done")) return;
  const hint = card.querySelector(".hint");
  const buttons = card.querySelectorAll(".labels button");
  hint.textContent = "";
  card.classList.add("busy");
  buttons.forEach((b) => (b.disabled = true));
  try {
    await api("/nlu/review/" + item.id, intent ? { intent } : { dismiss: true });
  } catch (e) {
    card.classList.remove("busy");
    buttons.forEach((b) => (b.disabled = false));
    if (e instanceof AuthError) return;
    if (e.status === 404) { retireCard(card, item, "这条已不在队列里 no longer in the queue", true); return; }
    hint.textContent = "标注失败 failed: " + e.message;
    return;
  }
  retireCard(card, item, intent ? `✓ #${item.id} 已标注为 ${REVIEW_NAMES[intent]} ${intent}` : `#${item.id} 已忽略 dismissed`, !intent);
}
function retireCard(card, item, message, dismissed) {
  const hadFocus = card.contains(document.activeElement);
  const cards = liveCards(), i = cards.indexOf(card);
  const next = cards[i + 1] || cards[i - 1];
  card.classList.remove("busy");
  card.classList.add("done");
  card.classList.toggle("dismissed", !!dismissed);
  card.removeAttribute("tabindex");
  card.setAttribute("role", "status");
  card.replaceChildren(el("div", null, message, el("span", { class: "muted small" }, "  ", excerpt(item.text, 40))));
  if (hadFocus && next) {
    next.focus({ preventScroll: true });
    if (!isVisible(next)) next.scrollIntoView({ block: "nearest" });
  }
  setReviewCount((review.count || 1) - 1);
  setTimeout(() => {
    card.style.maxHeight = card.scrollHeight + "px";
    void card.offsetHeight; // start the collapse from the real height
    card.classList.add("gone");
    setTimeout(() => {
      card.remove();
      review.cards.delete(item.id);
      if (state.tab === "review" && review.status === "open" && !liveCards().length) load();
    }, 280);
  }, 900);
}
function isVisible(n) { const r = n.getBoundingClientRect(); return r.top >= 50 && r.bottom <= window.innerHeight; }

function renderHistory() {
  const items = review.history, labeled = review.status === "labeled";
  if (review.offset >= items.length) review.offset = Math.max(0, Math.floor((items.length - 1) / REVIEW_PAGE) * REVIEW_PAGE);
  const table = $("rTable");
  table.replaceChildren(thead("#", labeled ? "标注于 labeled" : "忽略于 dismissed", "原话 text", "来由 why", "模型判断 predicted",
    "建议 suggested", "标注 label", "操作人 by", "工单", "更改 change"));
  const page = items.slice(review.offset, review.offset + REVIEW_PAGE);
  for (const item of page) {
    const change = el("select", { class: "small", title: "改标注 relabel" }, el("option", { value: "" }, "改为… relabel"),
      REVIEW_INTENTS.filter(([i]) => i !== item.label).map(([i, n]) => el("option", { value: i }, `${n} ${i}`)),
      item.status !== "dismissed" ? el("option", { value: "dismiss" }, "忽略 dismiss") : null);
    change.addEventListener("change", () => relabel(item, change));
    table.append(el("tr", null, el("td", null, item.id), el("td", { class: "nowrap" }, bj(item.labeled_at, true)),
      el("td", { class: "text" }, item.text || ""), el("td", null, reasonChip(item.reason)),
      el("td", { class: "nowrap" }, intentChip(item.predicted), typeof item.confidence === "number" ? el("span", { class: "small muted" }, " " + pct(item.confidence)) : null),
      el("td", null, item.suggested ? intentChip(item.suggested) : "—"),
      el("td", null, item.status === "dismissed" ? chip("", "已忽略 dismissed") : intentChip(item.label)),
      el("td", { class: "small" }, item.labeled_by || "—"), el("td", null, ticketLink(item.ticket_id)), el("td", null, change)));
  }
  if (!items.length) table.append(el("tr", null, el("td", { colspan: 10, class: "muted" }, labeled ? "还没有标注过的消息" : "还没有忽略过的消息")));
  labelCells(table);
  $("rTotal").textContent = `共 ${items.length} 条，最近的在前 newest first`;
  const pages = Math.max(1, Math.ceil(items.length / REVIEW_PAGE));
  $("rPage").textContent = `第 ${Math.floor(review.offset / REVIEW_PAGE) + 1} / ${pages} 页`;
  $("rPrev").disabled = review.offset <= 0;
  $("rNext").disabled = review.offset + REVIEW_PAGE >= items.length;
}
async function relabel(item, select) {
  const v = select.value;
  if (!v) return;
  select.disabled = true;
  try {
    await api("/nlu/review/" + item.id, v === "dismiss" ? { dismiss: true } : { intent: v });
    await LOADERS.review();
  } catch (e) {
    select.disabled = false;
    select.value = "";
    if (!(e instanceof AuthError)) report(e);
  }
}

/* ---------- NLU models ---------- */
LOADERS.models = async function loadModels() {
  renderModels(await api("/nlu/models"));
  if (!state.retrain || state.tab !== "models") guard(pollRetrain)();
};
function renderModels(d) {
  const models = d.models || [], active = models.find((m) => m.active);
  const known = models.some((m) => m.version === d.serving);
  $("mdServing").replaceChildren(el("div", null, "本进程正在使用 serving：", el("b", { class: "mono" }, d.serving || "—"),
    known ? null : el("span", { class: "muted" }, "（内置模型 packaged）"),
    active && d.serving !== active.version ? el("span", { class: "small orange" },
      `  正在切换到 ${active.version} switching…`) : null),
  el("div", { class: "small muted" }, "已启用 active：", active ? el("span", { class: "mono" }, active.version) : "无，使用内置模型 none (packaged model)"));
  $("mdRollback").disabled = !active;
  $("mdRollback").title = active ? "" : "没有启用的训练模型 no trained model is active";
  const table = $("mdTable");
  table.replaceChildren(thead("状态", "版本 version", "创建 created (北京时间)", "样本 examples", "macro-F1", "备注 note", ""));
  for (const m of models) {
    const delta = active && !m.active && typeof m.macro_f1 === "number" && typeof active.macro_f1 === "number"
      ? m.macro_f1 - active.macro_f1 : null;
    table.append(el("tr", { class: m.active ? "active" : null },
      el("td", { class: "nowrap" }, m.active ? chip("s-sent", "● 已启用 active") : "",
        m.version === d.serving ? el("div", { class: "small muted" }, "本进程 serving") : null),
      el("td", { class: "mono" }, m.version),
      el("td", { class: "nowrap" }, bj(m.created_at)),
      el("td", { class: "num" }, typeof m.examples === "number" ? m.examples.toLocaleString("en-US") : "—"),
      el("td", { class: "num nowrap" }, el("b", null, num(m.macro_f1, 3)),
        delta != null ? el("span", { class: "delta " + (delta > 0 ? "up" : delta < 0 ? "down" : ""), title: "与已启用模型相比 vs active" },
          (delta >= 0 ? "+" : "−") + Math.abs(delta).toFixed(3)) : null),
      el("td", { class: "text small" }, m.note || ""),
      el("td", { class: "nowrap" }, m.active ? "" : el("button", { class: "btn", type: "button", onclick: () => activateModel(m, active) }, "启用 Activate"))));
  }
  if (!models.length) table.append(el("tr", null, el("td", { colspan: 7, class: "muted empty" },
    "尚无训练的模型，当前使用内置模型。运行 gridbot nlu retrain 训练。")));
  labelCells(table);
}
function modelMsg(text, ok) {
  $("mdMsg").className = "small " + (ok ? "okmsg" : "error");
  $("mdMsg").textContent = text;
}
async function activateModel(m, active) {
  const f1 = (x) => (typeof x === "number" ? x.toFixed(3) : "—");
  const question = `启用模型 ${m.version}（macro-F1 ${f1(m.macro_f1)}）？` +
    (active ? `\n当前启用 ${active.version}（macro-F1 ${f1(active.macro_f1)}）。` : "\n当前使用内置模型。") +
    "\n所有运行中的 gridbot 进程会在几秒内切换到它。";
  if (!confirm(question)) return;
  try {
    const r = await api(`/nlu/models/${encodeURIComponent(m.version)}/activate`, {});
    modelMsg(`✓ 已启用 ${r.active}` + (r.previous ? `（之前 ${r.previous}）` : "") + "，各进程几秒内跟随。", true);
  } catch (e) {
    if (!(e instanceof AuthError)) modelMsg("启用失败 failed: " + e.message);
  }
  guard(LOADERS.models)();
}
async function rollbackModel() {
  if (!confirm("回滚到上一个启用过的模型？\n所有运行中的 gridbot 进程会在几秒内切换。")) return;
  try {
    const r = await api("/nlu/rollback", {});
    modelMsg(`✓ 已回滚，现在启用 ${r.active}，各进程几秒内跟随。`, true);
  } catch (e) {
    if (e instanceof AuthError) return;
    modelMsg(e.status === 409 ? `没有可回滚的更早版本 nothing to roll back to（${e.message}）` : "回滚失败 failed: " + e.message);
  }
  guard(LOADERS.models)();
}

/* ---------- ticket actions (the chat commands' decisions, for the signed-in person) ---------- */
const ACTION_HINTS = {
  progress: "进展说明，居民会在群里看到（电话号码会被隐去）", resolve: "办结说明（可不填），居民会被请求评价",
  reopen: "重新打开的原因（可不填）", cancel: "取消的原因，居民会看到",
};
const CONFIRM = {
  close: "结案后不再等待居民评价；居民 7 天内仍可回复“没修好”重新打开。确定结案？",
  escalate: "确定把工单升级给上一级负责人？",
};
function actionsBlock(t) {
  const box = el("div", { id: "dActions", class: "actions", "data-ticket": t.id }, el("p", { class: "muted small" }, "正在查看可用的操作…"));
  (async () => {
    try {
      const offered = await api(`/tickets/${t.id}/actions`);
      if (state.ticket === t.id) renderActions(box, t, offered);
    } catch (e) {
      if (!(e instanceof AuthError)) box.replaceChildren(el("p", { class: "error small" }, "无法读取可用操作：" + e.message));
    }
  })();
  return box;
}
function renderActions(box, t, offered) {
  const allowed = offered.actions.filter((a) => a.allowed), refused = offered.actions.filter((a) => !a.allowed);
  const buttons = allowed.map((a) => el("button", {
    type: "button", id: "act-" + a.action, "data-action": a.action,
    class: "btn" + (["accept", "resolve"].includes(a.action) ? " primary" : "") + (["cancel", "close"].includes(a.action) ? " danger" : ""),
    onclick: () => startAction(t, offered, a) },
  a.label, a.action === "escalate" && offered.escalates_to ? el("span", { class: "small" }, ` → ${offered.escalates_to}`) : null));
  const last = state.answer && state.answer.ticket === t.id ? state.answer : null;
  box.replaceChildren(
    allowed.length ? el("div", { class: "actbar" }, buttons) : el("p", { class: "muted small" }, "您目前不能对这张工单做任何操作。"),
    el("div", { id: "actSlot" }),
    el("div", { id: "actResult", role: "status", class: "small" + (last ? (last.ok ? " okmsg" : " error") : "") }, last ? last.text : ""),
    refused.length ? el("details", { id: "actWhy", class: "small" },
      el("summary", { class: "muted" }, `其他操作为什么不可用（${refused.length}）`),
      el("ul", { class: "why" }, refused.map((a) => el("li", { "data-action": a.action }, el("b", null, a.label), "：", a.why || "")))) : null);
}
function actionField(a, offered, t) {
  if (a.field === "to") {
    return el("select", { id: "actArg", name: "to", required: true, "aria-label": a.field_label },
      offered.staff.filter((p) => p.account && p.account !== t.assignee_userid)
        .map((p) => el("option", { value: p.account }, `${p.name}（${p.roles.join("、")}）`)));
  }
  if (a.field === "department") {
    return el("select", { id: "actArg", name: "department", required: true, "aria-label": a.field_label },
      offered.departments.map((d) => el("option", { value: d.name }, `${d.name}${d.on_wecom ? "（企业微信）" : "（群机器人）"}`)));
  }
  if (a.field === "tier") {
    const sel = el("select", { id: "actArg", name: "tier", required: true, "aria-label": a.field_label },
      offered.tiers.map((x) => el("option", { value: x.tier }, x.name)));
    sel.value = (offered.tiers.find((x) => x.tier !== t.tier) || offered.tiers[0]).tier;
    return sel;
  }
  return el("textarea", { id: "actArg", name: "note", rows: 3, maxlength: 500, required: a.required || null,
    placeholder: ACTION_HINTS[a.action] || a.field_label || "" });
}
function startAction(t, offered, a) {
  const slot = $("actSlot");
  state.answer = null;
  $("actResult").textContent = "";
  if (!a.field) {
    if (CONFIRM[a.action] && !confirm(CONFIRM[a.action])) return;
    slot.replaceChildren();
    submitAction(t, a, {});
    return;
  }
  const field = actionField(a, offered, t);
  const form = el("form", { id: "actForm", class: "actform", "data-action": a.action },
    el("label", { class: "small muted", for: "actArg" }, `${a.label}：${a.field_label || ""}${a.required ? "" : "（可不填）"}`),
    field,
    el("div", { class: "actbar" },
      el("button", { class: "btn primary", id: "actSubmit" }, "确定 " + a.label),
      el("button", { type: "button", class: "btn", id: "actCancel", onclick: () => slot.replaceChildren() }, "取消 cancel")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = field.value.trim();
    if (a.required && !value) { field.focus(); return; }
    submitAction(t, a, value ? { [a.field]: value } : {});
  });
  slot.replaceChildren(form);
  field.focus();
}
async function submitAction(t, a, body) {
  const result = $("actResult");
  document.querySelectorAll("#dActions button").forEach((b) => (b.disabled = true));
  result.className = "small muted";
  result.textContent = "处理中 working…";
  try {
    const done = await api(`/tickets/${t.id}/${a.action}`, body);
    state.answer = { ticket: t.id, ok: true, text: "✓ " + (done.answer || `已${a.label}`) };
  } catch (e) {
    if (e instanceof AuthError) return;
    state.answer = { ticket: t.id, ok: false, text: `未能${a.label}：${e.message}` };
  }
  await openTicket(t.id, true);
  if (LOADERS[state.tab] && state.tab === "tickets") guard(LOADERS.tickets)();
}
/* Whether the drawer holds something the person is doing (a form, a focused field): then
   the automatic refresh leaves it alone. */
function drawerBusy() {
  const active = document.activeElement;
  return !!$("actForm") || (!!active && $("drawer").contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
}

/* ---------- a message in detail ---------- */
async function openMessage(id, quiet) {
  state.message = id;
  state.ticket = null;
  $("drawer").hidden = $("backdrop").hidden = false;
  $("dTitle").textContent = "消息 #" + id;
  if (!quiet) {
    $("dChips").replaceChildren();
    $("dBody").replaceChildren(el("p", { class: "muted" }, "加载中 loading…"));
  }
  try {
    const d = await api("/messages/" + id);
    if (state.message === id) renderMessage(d);
  } catch (e) {
    if (!(e instanceof AuthError)) $("dBody").replaceChildren(el("p", { class: "error" }, "无法加载消息：" + e.message));
  }
}
function renderMessage(d) {
  const m = d.message, decision = m.decision || {};
  $("dChips").replaceChildren(statusChip(m.status), " ",
    decision.outcome ? chip(outcomeClass(decision.outcome), outcomeLabel(decision.outcome)) : "");
  const g = d.group;
  const kv = [["收到 received", bj(m.received_at)], ["处理 processed", m.processed_at && bj(m.processed_at)],
    ["来源 channel", m.channel], ["群 group", g ? `${g.name || g.chat_id}${g.building ? `（${g.building}号楼）` : ""}` : m.chat_id || "一对一 1:1"],
    ["发送人 sender", `${m.sender_name || ""} (${m.sender_id})`], ["身份 roles", d.sender ? d.sender.roles.join("、") || "—" : "居民 resident"],
    ["尝试 attempts", m.attempts > 1 ? String(m.attempts) : null], ["错误 error", m.error]];
  const t = d.ticket;
  $("dBody").replaceChildren(
    el("h3", null, "原话 Text"), el("div", { class: "quote" }, m.text || "—"),
    el("h3", null, "基本信息 Details"), el("dl", { class: "kv" }, kv.filter(([, v]) => v).map(([k, v]) => [el("dt", null, k), el("dd", null, v)])),
    el("h3", null, "决定与依据 Decision and NLU evidence"), decisionBlock(m.decision),
    el("h3", null, "工单 Ticket"),
    t ? el("p", { id: "mTicket" }, ticketLink(t.id), " ", catChip(t.category), " ", statusChip(t.status), " ", excerpt(t.text, 60))
      : el("p", { class: "muted" }, "这条消息没有建立或改动工单（或工单不在您的范围内）"),
    el("h3", null, `发出的消息 Messages it made（${d.outbox.length}）`),
    el("div", { id: "mOutbox" }, d.outbox.length ? d.outbox.map(outboxItem) : el("p", { class: "muted" }, "没有消息")));
}
/* A dead delivery goes out again once the cause is fixed. */
function retryButton(m) {
  if (m.status !== "dead") return null;
  const button = el("button", { type: "button", class: "btn small", id: "retry-" + m.id, "data-retry": m.id }, "重试 retry");
  button.addEventListener("click", async (e) => {
    e.stopPropagation();
    button.disabled = true;
    try {
      await api(`/outbox/${m.id}/retry`, {});
      button.textContent = "已重新排队 queued";
      guard(loadDeadBadge)();
    } catch (err) {
      button.disabled = false;
      if (!(err instanceof AuthError)) button.textContent = "重试失败：" + err.message;
    }
  });
  return button;
}

/* ---------- the org map ---------- */
function duration(seconds) {
  if (!seconds) return "—";
  const units = [[86400, "天"], [3600, "小时"], [60, "分钟"], [1, "秒"]];
  const [size, name] = units.find(([u]) => seconds % u === 0 && seconds >= u);
  return `${seconds / size}${name}`;
}
const whoText = (p) => (p ? `${p.name}${p.phone ? " " + p.phone : ""}` : "—");
LOADERS.org = async function loadOrg() {
  const data = await api("/org");
  state.org = data;
  renderOrg(data);
  const sel = $("orgStreet");
  const chosen = sel.value;
  sel.replaceChildren(...data.streets.map((s) => el("option", { value: s.name }, s.name)));
  if (chosen) sel.value = chosen;
};
function renderOrg(data) {
  $("orgStreets").replaceChildren(...data.streets.map(streetPanel));
  renderPeople();
}
function streetPanel(s) {
  const sla = s.sla || {}, accept = sla.accept || {}, resolve = sla.resolve || {};
  const summary = [["街道管理员", s.admins.map(whoText).join("、") || "—"],
    ["吹哨部门", s.departments.map((d) => `${d.name}（${d.wecom_userid ? "企业微信 " + d.wecom_userid : d.robot ? "群机器人" : "无法送达"}，${d.respond}内报到）`).join("、") || "—"],
    ["接单时限", `紧急 ${duration(accept.emergency)}，一般 ${duration(accept.normal)}`],
    ["办结时限", Object.entries(resolve).map(([k, v]) => `${CATEGORIES[k] || (k === "emergency" ? "紧急" : k)} ${duration(v)}`).join("，")],
    ["评价时限", duration(sla.confirm)], ["积分", Object.entries(s.points || {}).map(([k, v]) => `${CATEGORIES[k] || k} ${v} 分`).join("，")]];
  return el("div", { class: "panel street", "data-street": s.name },
    el("h2", null, s.name),
    el("dl", { class: "kv" }, summary.map(([k, v]) => [el("dt", null, k), el("dd", null, v)])),
    s.districts.map((d) => districtBlock(d)));
}
function districtBlock(d) {
  const table = el("table", { class: "orgtable" }, thead("网格", "网格员", "网格长", "志愿者", "楼栋", "楼组长", "群"));
  for (const g of d.grids) {
    const rows = g.buildings.length ? g.buildings : [null];
    rows.forEach((b, i) => table.append(el("tr", { "data-grid": g.name },
      el("td", { class: "nowrap" }, i ? "" : g.name), el("td", null, i ? "" : whoText(g.worker)), el("td", null, i ? "" : whoText(g.leader)),
      el("td", { class: "small" }, i ? "" : g.volunteers.map(whoText).join("、") || "—"),
      el("td", { class: "nowrap" }, b ? b.number + "号楼" : "—"), el("td", null, b ? whoText(b.captain) : ""),
      el("td", { class: "small" }, b ? [b.groups.map((x) => `${x.name || x.chat_id}（${x.channel}）`).join("、") || "—", b.robot ? " · 群机器人" : ""] : ""))));
  }
  labelCells(table);
  return el("div", { class: "district" },
    el("h3", null, d.name),
    el("p", { class: "small" }, "居民区管理员：", d.admins.map(whoText).join("、") || "—", " · 调解员：",
      d.mediators.map((m) => `${m.tier_name} ${m.people.map(whoText).join("、")}`).join("；") || "—"),
    el("div", { class: "scroll" }, table));
}
function renderPeople() {
  const data = state.org || { people: [] };
  const needle = $("orgSearch").value.trim().toLowerCase();
  const shown = data.people.filter((p) => !needle || [p.name, p.wecom_userid, p.wechat_id, p.phone, ...p.roles]
    .some((x) => x && String(x).toLowerCase().includes(needle)));
  const phones = data.people.some((p) => "phone" in p);
  const table = $("orgPeople");
  table.replaceChildren(phones ? thead("姓名", "企业微信", "微信", "电话", "角色") : thead("姓名", "企业微信", "微信", "角色"));
  for (const p of shown) {
    table.append(el("tr", { "data-person": p.wecom_userid || p.wechat_id || "" }, el("td", null, p.name),
      el("td", { class: "mono" }, p.wecom_userid || "—"), el("td", { class: "mono" }, p.wechat_id || "—"),
      phones ? el("td", { class: "nowrap" }, p.phone || "—") : null, el("td", { class: "small" }, p.roles.join("、"))));
  }
  if (!shown.length) table.append(el("tr", null, el("td", { colspan: 5, class: "muted" }, "没有找到 nobody")));
  labelCells(table);
  $("orgCount").textContent = `${shown.length} / ${data.people.length} 人`;
}
async function exportOrg() {
  const street = $("orgStreet").value;
  await download("/org/export" + (street ? "?street=" + encodeURIComponent(street) : ""), "org.yaml");
}
async function pickOrgFile() {
  const file = $("orgFile").files[0];
  state.orgText = file ? await file.text() : null;
  $("orgFileName").textContent = file ? `${file.name}（${Math.ceil(file.size / 1024)} KB）` : "";
  $("orgCheck").disabled = $("orgImport").disabled = !state.orgText;
  $("orgResult").replaceChildren();
}
async function importOrg(dryRun) {
  if (!state.orgText) return;
  if (!dryRun && !confirm("导入后角色以文件为准，文件里没有的角色会被移除。确定导入？")) return;
  const out = $("orgResult");
  out.replaceChildren(el("p", { class: "muted small" }, dryRun ? "检查中…" : "导入中…"));
  try {
    const r = await api("/org/import", { yaml: state.orgText, dry_run: dryRun });
    const head = dryRun ? (r.changed ? `检查通过。导入${r.street}将会：` : `检查通过：${r.street}与文件一致，导入不会改变任何内容。`)
      : (r.changed ? `✓ 已导入${r.street}：` : `✓ 已导入${r.street}，没有变化。`);
    out.replaceChildren(el("p", { class: "okmsg", id: "orgOk" }, head), el("ul", { class: "small" }, (r.lines || []).map((l) => el("li", null, l))));
    if (!dryRun) { state.org = null; guard(LOADERS.org)(); }
  } catch (e) {
    if (e instanceof AuthError) return;
    const errors = (e.data && e.data.errors) || [];
    const lines = state.orgText.split(/\r?\n/);
    out.replaceChildren(el("p", { class: "error", id: "orgError" }, e.message),
      errors.length ? el("ol", { class: "orgerrors small" }, errors.map((x) => el("li", { "data-line": x.line },
        el("b", null, `第 ${x.line} 行 line ${x.line}：`), x.message,
        lines[x.line - 1] != null ? el("pre", { class: "mono" }, `${x.line} | ${lines[x.line - 1]}`) : null))) : null);
  }
}

/* ---------- points ---------- */
LOADERS.points = async function loadPoints() {
  const data = await api("/points");
  const table = $("pTable");
  table.replaceChildren(thead("姓名", "账号", "余额 balance"));
  for (const p of data.people || []) {
    table.append(el("tr", { class: "click", "data-person": p.person, onclick: () => guard(openAccount)(p.person) },
      el("td", null, p.name), el("td", { class: "mono" }, p.person), el("td", { class: "num" }, p.balance)));
  }
  if (!(data.people || []).length) table.append(el("tr", null, el("td", { colspan: 3, class: "muted" }, "还没有积分记录")));
  labelCells(table);
};
async function openAccount(person) {
  const a = await api("/points/" + encodeURIComponent(person));
  const box = $("pAccount");
  box.hidden = false;
  const entries = el("table", null, thead("时间", "积分", "原因", "工单"),
    a.entries.map((e) => el("tr", null, el("td", { class: "nowrap" }, bj(e.at, true)), el("td", { class: "num" }, e.points > 0 ? "+" + e.points : e.points),
      el("td", { class: "text" }, e.reason), el("td", null, ticketLink(e.ticket)))));
  if (!a.entries.length) entries.append(el("tr", null, el("td", { colspan: 4, class: "muted" }, "没有记录")));
  labelCells(entries);
  const note = el("span", { class: "small", id: "redeemMsg", role: "status" });
  const form = isAdmin() ? el("form", { class: "filters flush mt8", id: "redeemForm" },
    el("input", { type: "number", id: "redeemPoints", min: 1, max: 1000000, required: true, placeholder: "积分 points" }),
    el("input", { id: "redeemWhat", class: "wide", maxlength: 100, required: true, placeholder: "兑换什么，例如“大米一袋”" }),
    el("button", { class: "btn primary", id: "redeemSubmit" }, "兑换 Redeem"), note) : null;
  form?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const points = Number($("redeemPoints").value), what = $("redeemWhat").value.trim();
    if (!points || !what) return;
    try {
      const r = await api(`/points/${encodeURIComponent(person)}/redeem`, { points, what });
      await openAccount(person);
      $("redeemMsg").className = "small okmsg";
      $("redeemMsg").textContent = `✓ 已兑换，余额 ${r.balance} 分`;
      guard(LOADERS.points)();
    } catch (err) {
      if (err instanceof AuthError) return;
      note.className = "small error";
      note.textContent = err.status === 409 ? `余额不足：${err.data && err.data.balance != null ? "余额 " + err.data.balance + " 分" : err.message}` : "兑换失败：" + err.message;
    }
  });
  box.replaceChildren(el("h2", null, `${a.name}（${a.person}）余额 ${a.balance} 分`), form, el("div", { class: "scroll mt8" }, entries));
  box.scrollIntoView({ block: "nearest" });
}

/* ---------- retraining ---------- */
function retrainStep(s) {
  const step = s.step || "";
  const fold = /^fold (\d+)\/(\d+)$/.exec(step);
  if (fold) return `交叉验证 第 ${fold[1]}/${fold[2]} 折`;
  return { starting: "准备训练数据", "final model": "训练最终模型", done: "完成" }[step] || step;
}
async function pollRetrain() {
  clearTimeout(state.retrain);
  if (!isAdmin()) return;
  const s = await api("/nlu/retrain");
  renderRetrain(s);
  if (s.state === "running" && state.tab === "models") state.retrain = setTimeout(guard(pollRetrain), 1000);
  else if (s.state === "done" && state.retrainWatched) { state.retrainWatched = false; guard(LOADERS.models)(); }
}
function renderRetrain(s) {
  const running = s.state === "running";
  $("rtStart").disabled = running;
  $("rtStatus").hidden = s.state === "idle";
  if (s.state === "idle") return;
  const share = s.total ? s.done / s.total : 0;
  $("rtStep").textContent = running ? `训练中：${retrainStep(s)}（${s.done}/${s.total}）` : s.state === "done" ? "✓ 训练完成" : "✗ 训练失败";
  $("rtStep").className = running ? "" : s.state === "done" ? "okmsg" : "error";
  $("rtWhen").textContent = ` · ${s.by || ""} 于 ${bj(s.started_at, true)} 开始${s.note ? " · " + s.note : ""}`;
  $("rtBar").replaceChildren(fill(s.state === "done" ? 1 : share));
  $("rtBar").setAttribute("aria-valuenow", Math.round((s.state === "done" ? 1 : share) * 100));
  const out = $("rtResult");
  if (s.state === "done") {
    const f1 = (x) => (typeof x === "number" ? x.toFixed(3) : "—");
    const delta = typeof s.macro_f1 === "number" && typeof s.active_macro_f1 === "number" ? s.macro_f1 - s.active_macro_f1 : null;
    out.replaceChildren(el("span", null, "新模型 ", el("b", { class: "mono" }, s.version), `：macro-F1 ${f1(s.macro_f1)}，${s.examples} 条样本（其中标注 ${s.reviewed} 条）`,
      s.active_version ? `；已启用的 ${s.active_version}：${f1(s.active_macro_f1)}` : "；目前使用内置模型",
      delta != null ? el("span", { class: "delta " + (delta > 0 ? "up" : delta < 0 ? "down" : "") }, ` ${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(3)}`) : null),
    " ", el("button", { type: "button", class: "btn", id: "rtActivate", onclick: () => activateModel({ version: s.version, macro_f1: s.macro_f1 },
      s.active_version ? { version: s.active_version, macro_f1: s.active_macro_f1 } : null) }, "启用 Activate"));
  } else {
    out.replaceChildren(s.error ? el("span", { class: "error" }, s.error) : "");
  }
}
async function startRetrain(e) {
  e.preventDefault();
  const note = $("rtNote").value.trim();
  try {
    renderRetrain(await api("/nlu/retrain", note ? { note } : {}));
    state.retrainWatched = true;
    state.retrain = setTimeout(guard(pollRetrain), 1000);
  } catch (err) {
    if (err instanceof AuthError) return;
    modelMsg(err.status === 409 ? "已有一次训练在进行，请等它结束。" : "无法开始训练：" + err.message);
    guard(pollRetrain)();
  }
}

/* ---------- wiring ---------- */
function wire() {
  fillSelect(document.querySelector('#tFilters [name=status]'), STATUSES);
  fillSelect(document.querySelector('#tFilters [name=category]'), CATEGORIES);
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => { closeDrawer(false); showTab(b.dataset.tab); }));
  $("tFilters").addEventListener("submit", (e) => {
    e.preventDefault();
    state.filters = Object.fromEntries(new FormData(e.target));
    state.offset = 0;
    load();
  });
  $("tFilters").addEventListener("reset", () => setTimeout(() => { state.filters = { sort: "-id" }; state.offset = 0; load(); }));
  for (const id of ["tSort", "tAssignee"]) $(id).addEventListener("change", () => $("tFilters").requestSubmit());
  $("tExport").addEventListener("click", guard(exportTickets));
  $("orgSearch").addEventListener("input", renderPeople);
  $("orgExport").addEventListener("click", guard(exportOrg));
  $("orgFile").addEventListener("change", guard(pickOrgFile));
  $("orgCheck").addEventListener("click", () => importOrg(true));
  $("orgImport").addEventListener("click", () => importOrg(false));
  $("rtForm").addEventListener("submit", startRetrain);
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
  $("next").addEventListener("click", () => { state.offset += PAGE; load(); });
  for (const id of ["sSince", "mStatus", "mLimit", "oStatus", "oLimit"]) $(id).addEventListener("change", load);
  $("dClose").addEventListener("click", () => closeDrawer());
  $("backdrop").addEventListener("click", () => closeDrawer());
  document.addEventListener("keydown", (e) => e.key === "Escape" && closeDrawer());
  $("nluForm").addEventListener("submit", parseNlu);
  document.querySelectorAll("#rSeg button").forEach((b) => b.addEventListener("click", () => setReviewStatus(b.dataset.status)));
  $("rPrev").addEventListener("click", () => { review.offset = Math.max(0, review.offset - REVIEW_PAGE); renderHistory(); });
  $("rNext").addEventListener("click", () => { review.offset += REVIEW_PAGE; renderHistory(); });
  $("mdRollback").addEventListener("click", rollbackModel);
  $("nluText").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("nluForm").requestSubmit();
  });
  $("nluExamples").replaceChildren(...NLU_EXAMPLES.map((t) => el("button", { type: "button",
    onclick: () => { $("nluText").value = t; $("nluForm").requestSubmit(); } }, t)));
  $("loginForm").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("tokenInput").value.trim();
    if (!state.token) return;
    sessionStorage.setItem("gridbot_token", state.token);
    $("login").hidden = true;
    applyRole();
    load();
    if (state.ticket) openTicket(state.ticket);
  });
  $("logout").addEventListener("click", async () => {
    if (!state.token && state.session) {
      await fetch("/auth/logout", { method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": state.session.csrf } }).catch(() => null);
      state.session = null;
      location.href = "/login";
      return;
    }
    sessionStorage.removeItem("gridbot_token");
    state.token = null;
    showLogin("已退出 signed out");
  });
  window.addEventListener("hashchange", route);
  state.timer = setInterval(() => {
    const busy = !$("auto").checked || !$("login").hidden || document.hidden || ["nlu", "org", "points"].includes(state.tab);
    if (busy) return;
    if (state.tab === "review" && review.status !== "open") { // history: nothing changes it but this page
      guard(loadDeadBadge)();
      guard(loadReviewBadge)();
      return;
    }
    load();
    if (state.ticket && !drawerBusy()) openTicket(state.ticket, true);
    if (state.message && !drawerBusy()) openMessage(state.message, true);
  }, 10000);
}
async function start() {
  takeTokenFromHash();
  wire();
  if (!state.token) await findSession();
  if (!state.token && !state.session) showLogin();
  applyRole();
  state.tab = "";
  const h = hashTab();
  if (!/^(ticket|message)-\d+$/.test(h)) showTab(LOADERS[h] ? h : "tickets", false);
  route();
}
start();
