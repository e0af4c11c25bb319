"use strict";
const $ = (id) => document.getElementById(id);
const POLL_MS = 700;
const BOT_NAME = "网格小助手 gridbot";
const TONES = { ticket_created: "ok", followed: "ok", already_reported: "ok", answered: "ok", help: "ok", notice: "ok",
  ignored: "skip", refused: "warn", asked_building: "warn", asked_facility: "warn", supplemented: "ok",
  home_set: "ok", home_unknown: "warn", failed: "bad", error: "bad" };
const toneOf = (outcome) => TONES[outcome] || (String(outcome).startsWith("command:") ? "ok" : "skip");
/* What each kind of speaker may try in a building group; {b} the building, {t} the latest
   ticket of the group, {soon} a moment two minutes ahead (Beijing time) for a scheduled notice. */
const EXAMPLES = {
  res: ["{b}号楼电梯坏了，被困在里面了！", "楼上天天半夜拖椅子吵得睡不着", "我家楼上漏水，找他他不管，还骂人",
    "隔壁把鞋柜放在楼道里，和他家吵了几句", "隔壁独居的李奶奶腿脚不便，想找人帮忙买菜", "今天天气真好",
    "查询 {t}", "我的工单", "评价 {t} 5", "没修好 {t}", "撤销 {t}", "心愿", "收到"],
  cap: ["通知 今晚8点停水检修，请提前储水", "通知 定时 {soon} 电梯例行保养，请改走楼梯", "回执", "本楼工单",
    "接单 {t}", "完成 {t} 已调解，双方已和好", "升级 {t}"],
  vol: ["心愿", "认领 {t}", "完成 {t} 菜已送到", "积分", "我的任务"],
};
/* How a person is reached, as the right pane's tag says. */
const APP_TAGS = { wecom: "企业微信 WeCom", wechat: "微信 1:1 WeChat", robot: "群机器人 Robot" };

const state = {
  dir: null, convs: new Map(), alias: new Map(), names: new Map(), seen: new Set(),
  cursor: { in: 0, out: 0 }, group: null, inbox: null, list: "groups",
  openWhy: new Set(), loaded: false, dirty: new Set(),
};

/* ---------- small helpers ---------- */
function el(tag, props, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat(Infinity)) if (c != null && c !== false) n.append(c instanceof Node ? c : String(c));
  return n;
}
const pad = (n) => String(n).padStart(2, "0");
function bj(iso, full) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return "";
  const b = new Date(d.getTime() + 8 * 3600e3);
  const hm = `${pad(b.getUTCHours())}:${pad(b.getUTCMinutes())}`;
  return full ? `${b.getUTCFullYear()}-${pad(b.getUTCMonth() + 1)}-${pad(b.getUTCDate())} ${hm}:${pad(b.getUTCSeconds())}` : hm;
}
function hashId(s) {
  let h = 5381;
  for (const ch of s) h = ((h * 33) ^ ch.codePointAt(0)) >>> 0;
  return h.toString(36).slice(0, 5);
}
function initial(name) { return Array.from((name || "?").trim())[0] || "?"; }
function colorOf(s) { return `hsl(${parseInt(hashId(s || "x"), 36) % 360} 45% 52%)`; }
function avatar(name, cls) {
  const a = el("span", { class: "ava " + (cls || "") }, cls ? (cls === "bot" ? "助" : "群") : initial(name));
  if (!cls) a.style.background = colorOf(name);
  return a;
}
function withMentions(text) {
  const frag = document.createDocumentFragment();
  String(text ?? "").split(/(@[^\s@，。,:：]+)/).forEach((part, i) => {
    frag.append(i % 2 ? el("span", { class: "mention" }, part) : document.createTextNode(part));
  });
  return frag;
}
function decodeEntities(s) {
  return s.replace(/<br\s*\/?>/gi, "\n").replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos|nbsp);/gi, (m, e) => {
    const named = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'", nbsp: " " }[e.toLowerCase()];
    if (named) return named;
    const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
  });
}
/* WeCom textcard description: only <div class="gray|normal|highlight"> survives; the rest is text. */
function cardDescription(html) {
  const box = el("div", { class: "cd" });
  const re = /<div class="(gray|normal|highlight)">([\s\S]*?)<\/div>/g;
  let last = 0, m;
  const loose = (s) => { if (s.trim()) box.append(el("div", { class: "normal" }, decodeEntities(s))); };
  while ((m = re.exec(html || ""))) {
    loose(html.slice(last, m.index));
    box.append(el("div", { class: m[1] }, decodeEntities(m[2])));
    last = re.lastIndex;
  }
  loose((html || "").slice(last));
  return box;
}
function safeUrl(u) { return typeof u === "string" && /^(https?:\/\/|\/)/i.test(u) ? u : null; }
/* With a real channel on, the simulator's API needs the admin token: taken from #token= like the
   console does (and kept for this tab, as the console keeps it), or asked for. */
const TOKEN_KEY = "gridbot_token";
const WRONG_TOKEN = "需要管理令牌，或令牌错误。Admin token missing or wrong.";
function takeTokenFromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (!h.has("token")) return;
  sessionStorage.setItem(TOKEN_KEY, h.get("token"));
  h.delete("token");
  history.replaceState(null, "", location.pathname + location.search + (h.toString() ? "#" + h : ""));
}
function askToken() {
  $("login").hidden = false;
  $("loginErr").textContent = sessionStorage.getItem(TOKEN_KEY) ? WRONG_TOKEN : "";
  $("tokenInput").focus();
}
async function api(path, body) {
  const headers = body ? { "Content-Type": "application/json" } : {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(path, body ? { method: "POST", headers, body: JSON.stringify(body) } : { headers });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) { askToken(); throw new Error(WRONG_TOKEN); }
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

/* ---------- directory → conversations ---------- */
function conv(key, init) {
  let c = state.convs.get(key);
  if (!c) { c = { key, items: [], unread: 0, last: 0, snippet: "", ...init }; state.convs.set(key, c); }
  return c;
}
function addInbox(p, roles, kinds) {
  const key = p.wecom_userid || p.wechat_id;
  if (!key || state.alias.has(key)) return;
  const c = conv("p:" + key, { kind: "inbox", person: key, title: p.name || key, roles: roles || [], kinds: kinds || [],
    app: p.wecom_userid ? "wecom" : "wechat" });
  for (const id of [p.wecom_userid, p.wechat_id]) if (id) { state.alias.set(id, c.key); state.names.set(id, p.name); }
}
/* A department reached only through its WeCom group robot: it reads what gridbot posts
   there and cannot answer (its whistler records its 报到). */
function robotConv(name) {
  return conv("d:" + name, { kind: "inbox", robot: true, person: null, title: name, roles: ["部门 · 群机器人（只收不回）"],
    kinds: ["department"], app: "robot" });
}
function loadDirectory(dir) {
  state.dir = dir;
  $("street").textContent = dir.street || "";
  for (const b of dir.buildings || []) {
    const chat = b.group && b.group.chat_id;
    if (!chat) continue;
    conv("g:" + chat, { kind: "group", chat, title: b.group.name || `${b.number}号楼`, building: b });
  }
  for (const s of dir.staff || []) addInbox(s, s.roles, s.kinds);
  for (const v of dir.volunteers || []) addInbox(v, ["志愿者 " + (v.grid || "")], v.kinds || ["volunteer"]);
  for (const d of dir.departments || []) if (!d.wecom_userid && d.webhook_key) robotConv(d.name);
  for (const b of dir.buildings || []) {
    if (b.captain && b.captain.wechat_id) state.names.set(b.captain.wechat_id, b.captain.name);
  }
}
function inboxKeyOf(id) {
  if (!id) return null;
  if (state.alias.has(id)) return state.alias.get(id);
  return conv("p:" + id, { kind: "inbox", person: id, title: state.names.get(id) || id, roles: ["(目录外 not in directory)"],
    kinds: [], app: "wecom" }).key;
}
function routeOf(item) {
  if (item.direction === "in") {
    if (item.chat_id) return conv("g:" + item.chat_id, { kind: "group", chat: item.chat_id, title: item.chat_id }).key;
    return inboxKeyOf(item.sender_id);
  }
  const t = item.target || {};
  if (t.department) return robotConv(t.department).key;
  if (t.chat_id) return conv("g:" + t.chat_id, { kind: "group", chat: t.chat_id, title: t.name || t.chat_id }).key;
  return inboxKeyOf(t.person || (t.userids || [])[0] || t.openid);
}

/* ---------- feed ---------- */
function timeOf(item) { return Date.parse(item.direction === "in" ? item.received_at : item.created_at) || Date.now(); }
/* An inbound message as its bubble says it: a voice's transcription, a photo. */
function inText(m) {
  if (m.kind === "voice") return "🎤 " + (m.text || "（语音，没识别出文字）");
  if (m.picture) return "📷 照片" + (m.text ? " " + m.text : "");
  return m.text || "";
}
function textOf(item) {
  if (item.direction === "in") return inText(item);
  const p = item.payload || {};
  return p.msgtype === "textcard" ? p.title || p.text || "" : p.text || p.content || "";
}
function ingest(item) {
  const id = item.direction + ":" + item.id;
  if (state.seen.has(id)) return;
  state.seen.add(id);
  const key = routeOf(item);
  if (!key) return;
  const c = state.convs.get(key);
  if (item.direction === "in") {
    if (item.sender_name) state.names.set(item.sender_id, item.sender_name);
    c.items = c.items.filter((x) => !(x.local && x.msg_id === item.msg_id));
  }
  c.items.push({ id, ts: timeOf(item), raw: item });
  c.last = Math.max(c.last, timeOf(item));
  c.snippet = textOf(item).replace(/\s+/g, " ").slice(0, 40);
  const visible = (key === state.group && paneShown("mid")) || (key === state.inbox && paneShown("right"));
  if (!visible && state.loaded) c.unread++;
  state.dirty.add(key);
}
async function poll() {
  try {
    const q = `after_in=${state.cursor.in}&after_out=${state.cursor.out}`;
    const data = await api(`/simulator/api/feed?${q}`);
    (data.items || []).forEach(ingest);
    state.cursor = { in: data.after_in ?? state.cursor.in, out: data.after_out ?? state.cursor.out };
    setConn(true);
    refresh();
    const more = (data.items || []).length >= 200;
    if (!more) state.loaded = true; // history before the page opened is not "unread"
    setTimeout(poll, more ? 50 : POLL_MS);
  } catch (e) {
    setConn(false, e.message);
    setTimeout(poll, 2500);
  }
}
function setConn(ok, why) {
  const c = $("conn");
  c.className = "conn " + (ok ? "ok" : "bad");
  c.textContent = ok ? "实时 live" : "连接中断 offline";
  c.title = why || "";
}

/* ---------- rendering: lists ---------- */
function refresh() {
  if (!state.dirty.size) return;
  if (state.dirty.has(state.group)) { renderChat($("gMsgs"), state.group); renderExamples(); }
  if (state.dirty.has(state.inbox)) { renderChat($("sMsgs"), state.inbox); prefillTicket(); }
  state.dirty.clear();
  renderLists();
}
function badge(n) { return n ? el("span", { class: "badge" }, n > 99 ? "99+" : n) : null; }
function matches(c, q) {
  if (!q) return true;
  const b = c.building;
  if (b && /^\d+$/.test(q)) return String(b.number) === q || String(b.number).startsWith(q);
  const hay = [c.title, c.person, ...(c.roles || []), b && b.grid, b && b.district,
    b && b.worker && b.worker.name, b && b.captain && b.captain.name].join(" ").toLowerCase();
  return hay.includes(q.toLowerCase());
}
function listItem(c, selected, sub, onclick, ava) {
  return el("div", { class: "item" + (selected ? " on" : ""), onclick, title: c.title },
    ava, el("div", { class: "txt" }, el("div", { class: "name" }, c.title), el("div", { class: "snip" }, c.snippet || sub)),
    badge(c.unread));
}
function renderLists() {
  const q = $("filter").value.trim(), active = $("activeOnly").checked;
  const groups = [...state.convs.values()].filter((c) => c.kind === "group");
  const inboxes = [...state.convs.values()].filter((c) => c.kind === "inbox");
  renderGroupList(groups.filter((c) => matches(c, q) && (!active || c.items.length)));
  const staff = inboxes.filter((c) => matches(c, q) && (!active || c.items.length)).sort((a, b) => b.last - a.last);
  const box = $("staffList");
  box.replaceChildren(...staff.map((c) => listItem(c, c.key === state.inbox, (c.roles || []).join("、"),
    () => { selectInbox(c.key); showPane("right"); }, avatar(c.title))));
  if (!staff.length) box.append(el("div", { class: "empty" }, "没有匹配的工作人员"));
  const unread = (arr) => arr.reduce((n, c) => n + c.unread, 0);
  setBadge(document.querySelector('#seg [data-list="groups"]'), unread(groups));
  setBadge(document.querySelector('#seg [data-list="staff"]'), unread(inboxes));
  const cur = [state.convs.get(state.group), state.convs.get(state.inbox)];
  const others = [...groups, ...inboxes].filter((c) => !cur.includes(c));
  setBadge(document.querySelector('#mtabs [data-pane="left"]'), unread(others));
  setBadge(document.querySelector('#mtabs [data-pane="mid"]'), cur[0] ? cur[0].unread : 0);
  setBadge(document.querySelector('#mtabs [data-pane="right"]'), cur[1] ? cur[1].unread : 0);
  renderStaffPick(inboxes);
}
function setBadge(btn, n) {
  btn.querySelector(".badge")?.remove();
  if (n) btn.append(badge(n));
}
function renderGroupList(groups) {
  const box = $("groupList"), out = [];
  let district = null, grid = null;
  for (const c of groups) {
    const b = c.building || {};
    if ((b.district || "其他") !== district) { district = b.district || "其他"; out.push(el("div", { class: "dhead" }, district)); grid = null; }
    if ((b.grid || "") !== grid) {
      grid = b.grid || "";
      out.push(el("div", { class: "ghead" }, [grid, b.worker && "网格员 " + b.worker.name].filter(Boolean).join(" · ")));
    }
    out.push(listItem(c, c.key === state.group, b.captain ? "楼组长 " + b.captain.name : "",
      () => { selectGroup(c.key); showPane("mid"); }, avatar(c.title, "grp")));
  }
  if (!out.length) out.push(el("div", { class: "empty" }, "没有匹配的楼组群"));
  box.replaceChildren(...out);
}
function renderStaffPick(inboxes) {
  const pick = $("staffPick");
  const sig = inboxes.map((c) => c.key + c.unread).join("|");
  if (pick.dataset.sig === sig && pick.value === state.inbox) return;
  pick.dataset.sig = sig;
  pick.replaceChildren(...inboxes.map((c) => el("option", { value: c.key },
    `${c.title}${c.roles && c.roles[0] ? " · " + c.roles[0] : ""}${c.unread ? ` (${c.unread})` : ""}`)));
  if (state.inbox) pick.value = state.inbox;
}

/* ---------- rendering: conversations ---------- */
function renderChat(box, key) {
  const c = state.convs.get(key);
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  if (!c) { box.replaceChildren(); return; }
  const rank = (x) => (x.local ? 2 : x.raw.direction === "in" ? 0 : 1);
  c.items.sort((a, b) => a.ts - b.ts || rank(a) - rank(b) || (a.raw.id || 0) - (b.raw.id || 0));
  const nodes = c.items.map((x) => (x.local ? localNode(x) : x.raw.direction === "in" ? inNode(x.raw, c) : outNode(x.raw, c)));
  if (!nodes.length) nodes.push(emptyNode(c));
  box.replaceChildren(...nodes);
  if (nearBottom || box.dataset.key !== key) box.scrollTop = box.scrollHeight;
  box.dataset.key = key;
}
function emptyNode(c) {
  if (c.kind === "group") {
    return el("div", { class: "empty" }, "群里还没有消息。", el("br"),
      "选一个发言人，在下面输入，或点一个例句 —— 看看 gridbot 怎么判断、怎么派单。");
  }
  return el("div", { class: "empty" }, emptyInboxText(c));
}
function has(c, ...kinds) { return (c.kinds || []).some((k) => kinds.includes(k)); }
function emptyInboxText(c) {
  if (c.robot) return `还没有吹哨到${c.title}。网格长或管理员“吹哨 编号 ${c.title}”后，任务会发到它的群机器人，显示在这里。`;
  if (has(c, "grid_worker")) return "还没有推送。居民在本网格的楼组群报事后，任务卡片会出现在这里。";
  if (has(c, "department")) return "还没有推送。网格长或管理员“吹哨 编号 " + c.title + "”后，任务会推送到这里，请回复“报到 编号”。";
  if (has(c, "mediator")) return "还没有推送。本居民区的矛盾纠纷到您这一级（或升级到您）时，任务会推送到这里。";
  if (has(c, "grid_leader", "district_admin", "street_admin")) {
    return "还没有推送。工单超时或被“升级”到您、吹哨的部门超时未报到时，会推送到这里；您可以“吹哨 编号 部门”。";
  }
  if (has(c, "captain")) return "还没有推送。本楼的楼内微纠纷会推送到这里；“通知”“回执”“本楼工单”在这里或楼组群里都可以发。";
  if (has(c, "volunteer")) return "还没有私信。新的微心愿会在楼组群里@您，在群里回复“认领 编号”；也可以在这里私信 gridbot“积分”“心愿”。";
  return "还没有推送。";
}
function inNode(m, c) {
  const name = m.sender_name || state.names.get(m.sender_id) || m.sender_id;
  const failed = m.status === "failed" || m.status === "dead" || m.error;
  return el("div", { class: "msg me" + (failed ? " dead" : "") },
    avatar(name),
    el("div", { class: "body" },
      el("div", { class: "who", title: m.sender_id }, name, roleTag(m.sender_id, c)),
      el("div", { class: "bubble" }, withMentions(inText(m))),
      el("div", { class: "meta", title: bj(m.received_at, true) }, bj(m.received_at)),
      failed ? el("div", { class: "err-line" }, `处理失败 (${m.status}): ${m.error || ""}`) : null,
      whyNode(m)));
}
function roleTag(senderId, c) {
  const b = c.building;
  if (b && b.captain && senderId === b.captain.wechat_id) return el("span", { class: "tag" }, "楼组长");
  if ((state.dir?.volunteers || []).some((v) => v.wechat_id === senderId)) return el("span", { class: "tag" }, "志愿者");
  if (c.kind === "inbox") return null;
  if (state.alias.has(senderId)) return el("span", { class: "tag" }, "工作人员");
  return null;
}
function localNode(x) {
  return el("div", { class: "msg me pending" }, avatar(x.name),
    el("div", { class: "body" }, el("div", { class: "who" }, x.name),
      el("div", { class: "bubble" }, withMentions(x.text)), el("div", { class: "meta" }, "发送中… gridbot 正在处理")));
}
function outNode(m, c) {
  const p = m.payload || {}, t = m.target || {};
  const dead = m.status === "dead";
  const content = p.msgtype === "textcard" ? cardNode(p, m) : el("div", { class: "bubble" }, withMentions(p.text ?? p.content ?? ""));
  const hints = [];
  if (c.kind === "group" && t.person) hints.push("回复 → " + (state.names.get(t.person) || t.person));
  const mentioned = (p.mention_ids || p.mentioned_list || []).map((id) => state.names.get(id) || id);
  if (mentioned.length) hints.push("@提醒 " + mentioned.join("、"));
  return el("div", { class: "msg bot" + (dead ? " dead" : "") }, avatar(BOT_NAME, "bot"),
    el("div", { class: "body" },
      el("div", { class: "who" }, BOT_NAME, m.transport && m.transport !== "simulator" ? el("span", { class: "tag" }, m.transport) : null),
      content,
      el("div", { class: "meta", title: bj(m.created_at, true) }, [bj(m.sent_at || m.created_at), ...hints].join(" · ")),
      dead ? el("div", { class: "err-line" }, `发送失败 dead（已尝试 ${m.attempts ?? "?"} 次）：${m.last_error || "未知错误"}`) : null));
}
function cardNode(p, m) {
  const id = ticketIdOf(m);
  const url = safeUrl(p.url) || (id ? `/admin#ticket-${id}` : null);
  return el("div", { class: "card" },
    el("div", { class: "ct" }, p.title || ""),
    cardDescription(p.description || ""),
    el("div", { class: "cf" }, el("span", { class: "gray" }, "任务卡片 textcard"),
      url ? el("a", { href: url, target: "_blank", rel: "noopener" }, (p.btntxt || "详情") + " ›") : null));
}
function whyNode(m) {
  const d = m.decision;
  if (!d) return el("div", { class: "meta" }, m.status === "done" ? "" : `状态 ${m.status}`);
  const nlu = d.nlu || {}, intent = nlu.intent || {};
  const label = outcomeLabel(d.outcome), tone = toneOf(d.outcome);
  const summary = el("summary", null, "为什么 why · ", el("span", { class: "oc " + tone }, label),
    intent.name ? ` · ${INTENTS[intent.name] || intent.name} ${pct(intent.confidence)}` : "",
    d.ticket_id ? ` · 工单 #${d.ticket_id}` : "");
  const rows = [];
  const row = (k, v) => v != null && v !== "" && rows.push(el("dt", null, k), el("dd", null, v));
  row("结果 outcome", label);
  row("原因 reason", d.reason);
  if (intent.name) row("意图 intent", `${INTENTS[intent.name] || intent.name} · 置信度 ${pct(intent.confidence)}`);
  if ((nlu.intent_ranking || []).length) row("候选 ranking", nlu.intent_ranking.map((r) => `${INTENTS[r.name] || r.name} ${pct(r.confidence)}`).join(" ｜ "));
  if ((nlu.entities || []).length) row("实体 entities", nlu.entities.map((e) => `${e.entity}=${e.value}`).join("，"));
  if (nlu.urgency) row("紧急度 urgency", URGENCY[nlu.urgency] || nlu.urgency);
  if (nlu.tier) row("纠纷层级 tier", TIERS[nlu.tier] || nlu.tier);
  if (nlu.model) row("模型 model", typeof nlu.model === "string" ? nlu.model : JSON.stringify(nlu.model));
  if (d.ticket_id) rows.push(el("dt", null, "工单 ticket"), el("dd", null,
    el("a", { href: `/admin#ticket-${d.ticket_id}`, target: "_blank", rel: "noopener" }, `#${d.ticket_id} 在管理后台查看 ↗`)));
  const key = "in:" + m.id;
  const det = el("details", { class: "why", open: state.openWhy.has(key) }, summary, el("dl", null, rows));
  det.addEventListener("toggle", () => (det.open ? state.openWhy.add(key) : state.openWhy.delete(key)));
  return det;
}
function pct(x) { return typeof x === "number" ? (x * 100).toFixed(x >= 0.995 || x < 0.1 ? 1 : 0) + "%" : "—"; }
function ticketIdOf(m) {
  if (m.ticket_id) return m.ticket_id;
  const p = m.payload || {};
  const hit = /[#＃](\d+)/.exec(`${p.title || ""} ${p.text || p.content || ""}`);
  return hit ? Number(hit[1]) : null;
}

/* ---------- selection ---------- */
function selectGroup(key) {
  const c = state.convs.get(key);
  if (!c) return;
  state.group = key;
  c.unread = 0;
  const b = c.building;
  $("gTitle").textContent = c.title;
  $("gSub").textContent = b ? [b.district, b.grid, b.worker && "网格员 " + b.worker.name,
    b.captain && "楼组长 " + b.captain.name, c.chat].filter(Boolean).join(" · ") : c.chat;
  renderSpeakers(c);
  renderExamples();
  renderChat($("gMsgs"), key);
  const shown = state.convs.get(state.inbox);
  if (b && b.worker && (b.worker.wecom_userid || b.worker.wechat_id) && (!shown || isOnlyWorker(shown))) {
    const ik = state.alias.get(b.worker.wecom_userid || b.worker.wechat_id);
    if (ik) selectInbox(ik);
  }
  saveHash();
  renderLists();
}
/* Picking a group shows its grid worker on the right, unless someone else was chosen there. */
function isOnlyWorker(c) { return (c.kinds || []).every((k) => k === "grid_worker"); }
function selectInbox(key) {
  const c = state.convs.get(key);
  if (!c) return;
  state.inbox = key;
  c.unread = 0;
  $("sSub").textContent = [c.person, ...(c.roles || [])].filter(Boolean).join(" · ");
  $("appTag").textContent = APP_TAGS[c.app] || APP_TAGS.wecom;
  $("staffPick").value = key;
  renderNote(c);
  renderCommands(c);
  renderChat($("sMsgs"), key);
  prefillTicket(true);
  saveHash();
  renderLists();
}
function saveHash() {
  const g = state.convs.get(state.group), s = state.convs.get(state.inbox);
  const parts = [g && "g=" + encodeURIComponent(g.chat), s && "s=" + encodeURIComponent(s.person || s.key)].filter(Boolean);
  history.replaceState(null, "", "#" + parts.join("&"));
}
function fromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  return { g: h.get("g"), s: h.get("s") };
}
const narrow = () => window.matchMedia("(max-width: 860px)").matches;
function paneShown(p) { return !narrow() || $("layout").dataset.show === p; }
function showPane(p) {
  if (!narrow()) return;
  $("layout").dataset.show = p;
  document.querySelectorAll("#mtabs button").forEach((b) => b.classList.toggle("on", b.dataset.pane === p));
  const c = state.convs.get(p === "mid" ? state.group : p === "right" ? state.inbox : null);
  if (c) c.unread = 0;
  for (const box of [$("gMsgs"), $("sMsgs")]) box.scrollTop = box.scrollHeight;
  renderLists();
}

/* ---------- composing in the group ---------- */
function renderSpeakers(c) {
  const b = c.building || {}, sel = $("speaker"), prev = sel.value;
  const opts = [el("option", { value: "res" }, "居民 Resident")];
  if (b.captain && b.captain.wechat_id) opts.push(el("option", { value: "cap" }, `楼组长 ${b.captain.name}`));
  for (const v of (state.dir?.volunteers || []).filter((v) => v.wechat_id && (!b.grid || v.grid === b.grid))) {
    opts.push(el("option", { value: "vol:" + v.wechat_id }, `志愿者 ${v.name}`));
  }
  sel.replaceChildren(...opts);
  sel.value = [...sel.options].some((o) => o.value === prev) ? prev : "res";
  updateSpeaker();
}
function currentSpeaker() {
  const c = state.convs.get(state.group), b = (c && c.building) || {}, v = $("speaker").value;
  if (v === "cap" && b.captain) return { id: b.captain.wechat_id, name: b.captain.name };
  if (v.startsWith("vol:")) {
    const vol = (state.dir.volunteers || []).find((x) => x.wechat_id === v.slice(4));
    return { id: vol.wechat_id, name: vol.name };
  }
  const name = $("resName").value.trim() || "居民";
  return { id: `wxid_res_${b.number || "x"}_${hashId(name)}`, name };
}
function updateSpeaker() {
  $("resName").hidden = $("speaker").value !== "res";
  const s = currentSpeaker();
  $("speakerId").textContent = "id: " + s.id;
  renderExamples();
}
function renderExamples() {
  const c = state.convs.get(state.group), b = (c && c.building) || {};
  const who = $("speaker").value.split(":")[0];
  const t = (who === "vol" && latestWish(c)) || latestTicket(c) || 1;
  $("examples").replaceChildren(...(EXAMPLES[who] || EXAMPLES.res).map((tpl) => {
    const fill = () => tpl.replace("{b}", b.number || "3").replace("{t}", t).replace("{soon}", soonInBeijing(2));
    return el("button", { type: "button", class: "chip", title: "点击直接发送 click to send", onclick: () => sayInGroup(fill()) }, fill());
  }));
}
/* "今天 09:42": `minutes` from now in Beijing time, as a captain schedules a notice. */
function soonInBeijing(minutes) {
  const now = new Date(Date.now() + 8 * 3600e3), at = new Date(now.getTime() + minutes * 60e3);
  const day = at.getUTCDate() === now.getUTCDate() ? "今天" : "明天";
  return `${day} ${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}`;
}
/* The group's latest micro-wish: the one its volunteers are asked to claim (认领 N). */
function latestWish(c) {
  for (let i = (c ? c.items.length : 0) - 1; i >= 0; i--) {
    const hit = /认领 ?(\d+)/.exec(textOf(c.items[i].raw || {}));
    if (hit && c.items[i].raw.direction === "out") return Number(hit[1]);
  }
  return null;
}
function latestTicket(c) {
  if (!c) return null;
  for (let i = c.items.length - 1; i >= 0; i--) {
    const r = c.items[i].raw;
    const id = r && (r.direction === "in" ? r.decision && r.decision.ticket_id : ticketIdOf(r));
    if (id) return id;
  }
  return null;
}
/* `extra`: {voice: true} (then `text` is its transcription, maybe empty) or {picture}. */
async function sayInGroup(text, extra) {
  const c = state.convs.get(state.group);
  if (!c || (!text.trim() && !extra)) return false;
  const s = currentSpeaker();
  return say(c, { chat_id: c.chat, sender_id: s.id, sender_name: s.name, text, ...extra }, $("gErr"));
}
async function say(c, body, errBox) {
  errBox.textContent = "";
  try {
    const r = await api("/simulator/api/say", body);
    if (!r.duplicate) {
      const text = inText({ kind: body.voice ? "voice" : "text", picture: !!body.picture, text: body.text });
      c.items.push({ id: "local:" + r.msg_id, local: true, msg_id: r.msg_id, ts: Date.now(), text, name: body.sender_name, raw: {} });
      state.dirty.add(c.key);
      refresh();
    }
    return true;
  } catch (e) {
    errBox.textContent = "发送失败：" + e.message;
    return false;
  }
}

/* ---------- composing as staff on WeCom ---------- */
/* The commands a person may give, by what they are: [word, what follows, send at once?].
   "#" stands for the ticket number in the box. */
const STAFF_COMMANDS = {
  grid_worker: [["接单", "#", true], ["进展", "# 已联系物业，正在处理"], ["完成", "# 已处理完毕"], ["转派", "# "],
    ["升级", "#", true], ["改类", "# 投诉"], ["走访", "{b}号楼 例行走访，无异常"], ["我的任务", "", true]],
  grid_leader: [["接单", "#", true], ["进展", "# 已督促处理"], ["完成", "# 已处理完毕"], ["吹哨", "# {d}"],
    ["升级", "#", true], ["报到", "#"], ["我的任务", "", true]],
  district_admin: [["吹哨", "# {d}"], ["接单", "#", true], ["进展", "# 已督促处理"], ["完成", "# 已处理完毕"],
    ["升级", "#", true], ["报到", "#"], ["我的任务", "", true]],
  street_admin: [["吹哨", "# {d}"], ["接单", "#", true], ["进展", "# 已督促处理"], ["完成", "# 已处理完毕"],
    ["报到", "#"], ["我的任务", "", true]],
  department: [["报到", "#", true], ["进展", "# 已派人到现场"], ["完成", "# 已处理完毕"], ["我的任务", "", true]],
  mediator: [["接单", "#", true], ["进展", "# 已约双方面谈"], ["完成", "# 已调解，双方达成一致"], ["升级", "#", true],
    ["改类", "# 投诉"], ["我的任务", "", true]],
  captain: [["通知", "今晚8点停水检修，请提前储水"], ["通知", "定时 {soon} 电梯例行保养，请改走楼梯", false, "定时通知"],
    ["回执", "", true], ["本楼工单", "", true], ["接单", "#", true], ["完成", "# 已调解，双方已和好"], ["升级", "#", true]],
  volunteer: [["认领", "#", true], ["完成", "# 菜已送到"], ["心愿", "", true], ["积分", "", true], ["我的任务", "", true]],
};
const KIND_ORDER = ["department", "street_admin", "district_admin", "mediator", "grid_leader", "grid_worker", "captain", "volunteer"];
function commandsOf(c) {
  if (c.robot) return [];
  const kinds = KIND_ORDER.filter((k) => (c.kinds || []).includes(k));
  const seen = new Set(), out = [];
  for (const k of kinds.length ? kinds : ["grid_worker"]) {
    for (const [word, rest, direct, label] of STAFF_COMMANDS[k]) {
      const name = label || word;
      if (!seen.has(name)) { seen.add(name); out.push([word, rest, direct, name]); }
    }
  }
  return out;
}
function firstBuildingOf(c) {
  const b = (state.dir?.buildings || []).find((x) => [x.worker, x.captain].some((p) => p && (p.wecom_userid === c.person || p.wechat_id === c.person)));
  return b ? b.number : "3";
}
function renderCommands(c) {
  const box = $("cmds");
  box.querySelectorAll(".chip").forEach((n) => n.remove());
  box.hidden = c.robot;
  const department = ((state.dir && state.dir.departments) || [])[0];
  for (const [word, rest, direct, name] of commandsOf(c)) {
    const text = () => `${word} ${rest}`.replace("#", $("tid").value || "").replace("{d}", department ? department.name : "")
      .replace("{b}", firstBuildingOf(c)).replace("{soon}", soonInBeijing(2)).replace(/\s+/g, " ").trim()
      + (rest.endsWith(" ") && !direct ? " " : "");
    box.append(el("button", { type: "button", class: "chip", title: direct ? "点击直接发送" : "填入输入框，可修改后发送",
      onclick: () => staffCommand(text(), direct) }, name));
  }
}
/* Who cannot use this pane as a WeCom inbox, and what to do instead. */
function renderNote(c) {
  const note = $("sNote");
  $("sForm").hidden = !!c.robot;
  if (c.robot) {
    note.replaceChildren(`${c.title}只通过企业微信群机器人接收任务，不能回复。吹哨它的网格长或管理员代它报到：在吹哨人的企业微信里发“报到 编号”。`);
  } else if (c.app === "wechat") {
    const group = groupOfVolunteer(c);
    note.replaceChildren("只用微信、不在企业微信上：平时在楼组群里发言（认领、完成、积分），也可以在这里私信 gridbot。 ",
      group ? el("button", { type: "button", class: "chip", onclick: () => speakInGroupAs(c, group) }, `到${group.title}发言`) : null);
  }
  note.hidden = !c.robot && c.app !== "wechat";
}
function groupOfVolunteer(c) {
  const v = (state.dir?.volunteers || []).find((x) => x.wechat_id === c.person);
  const b = (state.dir?.buildings || []).find((x) => x.group && ((v && x.grid === v.grid) || (x.captain && x.captain.wechat_id === c.person)));
  return b ? state.convs.get("g:" + b.group.chat_id) : null;
}
function speakInGroupAs(c, group) {
  selectGroup(group.key);
  const b = group.building || {};
  $("speaker").value = b.captain && b.captain.wechat_id === c.person ? "cap" : "vol:" + c.person;
  updateSpeaker();
  showPane("mid");
  $("gText").focus();
}
function prefillTicket(force) {
  const c = state.convs.get(state.inbox);
  const id = latestTicket(c && { items: c.items.filter((x) => x.raw.payload && x.raw.payload.msgtype === "textcard") }) || latestTicket(c);
  if (id && (force || !$("tid").matches(":focus"))) $("tid").value = id;
  else if (force && !id) $("tid").value = "";
}
function staffCommand(text, direct) {
  if (direct) return sayAsStaff(text);
  const box = $("sText");
  box.value = text;
  box.focus();
  box.setSelectionRange(text.length, text.length);
}
async function sayAsStaff(text, extra) {
  const c = state.convs.get(state.inbox);
  if (!c || (!text.trim() && !extra)) return false;
  return say(c, { chat_id: null, sender_id: c.person, sender_name: c.title, text, ...extra }, $("sErr"));
}

/* ---------- voice and photos ---------- */
/* With 🎤 pressed, what is sent is a voice message and the box holds what speech recognition
   made of it (left empty: it made nothing of it, and gridbot asks to type when spoken to).
   📷 sends a photo at once, as its own message, as WeChat does. */
const MAX_PHOTO = 10 * 1024 * 1024;
const VOICE_HINT = "语音识别出的文字（留空 = 没识别出来）…  Enter 发送";
function voiceOn(p) { return $(p + "Voice").getAttribute("aria-pressed") === "true"; }
function toggleVoice(p) {
  const on = !voiceOn(p), box = $(p + "Text");
  $(p + "Voice").setAttribute("aria-pressed", String(on));
  box.dataset.hint = box.dataset.hint || box.placeholder;
  box.placeholder = on ? VOICE_HINT : box.dataset.hint;
  if ($(p + "AtBox")) $(p + "AtBox").hidden = !on;
  box.focus();
}
/* What a composer's send adds to its text: the voice flags, or nothing. */
function voiceExtra(p) {
  if (!voiceOn(p)) return null;
  return $(p + "At") ? { voice: true, mentions_bot: $(p + "At").checked } : { voice: true };
}
function readPhoto(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("读取照片失败"));
    reader.readAsDataURL(file);
  });
}
async function sendPhoto(p, send) {
  const input = $(p + "Photo"), file = input.files && input.files[0];
  input.value = "";
  if (!file) return;
  if (file.size > MAX_PHOTO) { $(p + "Err").textContent = "照片超过 10 MB"; return; }
  try {
    await send("", { picture: await readPhoto(file) });
  } catch (e) {
    $(p + "Err").textContent = "发送失败：" + e.message;
  }
}

/* ---------- wiring ---------- */
function submitOnEnter(area, form) {
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
}
function wire() {
  $("gForm").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("gText").value, extra = voiceExtra("g");
    if (!text.trim() && !extra) return;
    $("gText").value = "";
    if (!(await sayInGroup(text, extra))) $("gText").value = text;
  });
  $("sForm").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("sText").value, extra = voiceExtra("s");
    if (!text.trim() && !extra) return;
    $("sText").value = "";
    if (!(await sayAsStaff(text, extra))) $("sText").value = text;
  });
  for (const [p, send] of [["g", sayInGroup], ["s", sayAsStaff]]) {
    $(p + "Voice").addEventListener("click", () => toggleVoice(p));
    $(p + "Photo").addEventListener("change", () => sendPhoto(p, send));
  }
  submitOnEnter($("gText"), $("gForm"));
  submitOnEnter($("sText"), $("sForm"));
  $("speaker").addEventListener("change", updateSpeaker);
  $("resName").addEventListener("input", updateSpeaker);
  $("staffPick").addEventListener("change", (e) => selectInbox(e.target.value));
  $("filter").addEventListener("input", renderLists);
  $("activeOnly").addEventListener("change", renderLists);
  document.querySelectorAll("#seg button").forEach((b) => b.addEventListener("click", () => {
    state.list = b.dataset.list;
    document.querySelectorAll("#seg button").forEach((x) => x.classList.toggle("on", x === b));
    $("groupList").hidden = state.list !== "groups";
    $("staffList").hidden = state.list !== "staff";
  }));
  document.querySelectorAll("#mtabs button").forEach((b) => b.addEventListener("click", () => showPane(b.dataset.pane)));
  $("loginForm").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("tokenInput").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    location.reload();
  });
}
async function start() {
  takeTokenFromHash();
  wire();
  try {
    loadDirectory(await api("/simulator/api/directory"));
  } catch (e) {
    $("gMsgs").replaceChildren(el("div", { class: "empty" }, "读取楼组目录失败 (directory): " + e.message));
    setConn(false, e.message);
    return;
  }
  const h = fromHash();
  const groups = [...state.convs.values()].filter((c) => c.kind === "group");
  const first = state.convs.get("g:" + h.g) || groups.find((c) => c.building && String(c.building.number) === "3") || groups[0];
  if (first) selectGroup(first.key);
  if (h.s && (state.alias.has(h.s) || state.convs.has(h.s))) selectInbox(state.alias.get(h.s) || h.s);
  renderLists();
  setInterval(renderExamples, 30e3); // keeps "two minutes ahead" two minutes ahead
  poll();
}
start();
