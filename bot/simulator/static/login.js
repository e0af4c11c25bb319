/* gridbot staff sign-in: a password, or a one-time link (#link=…). The session arrives as an
   HttpOnly cookie; this page only posts JSON and goes on to where it was sent from. */
"use strict";

const $ = (id) => document.getElementById(id);

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/admin";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/admin";
}

function say(text, ok) {
  $("message").textContent = text;
  $("message").classList.toggle("ok", Boolean(ok));
}

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ ...body, next: nextPath() }),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `登录没有成功（HTTP ${res.status}）`);
  return data;
}

async function submit(form, path, body) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say("正在登录…", true);
  try {
    const data = await post(path, body);
    say("登录成功，正在打开…", true);
    location.replace(data.next || "/admin");
  } catch (e) {
    say(e.message.split(/(?<=[。！])\s*[A-Z]/)[0]);
    button.disabled = false;
  }
}

function linkToken() {
  const found = /(?:^|&)link=([^&]+)/.exec(location.hash.slice(1));
  return found ? decodeURIComponent(found[1]) : null;
}

function start() {
  const token = linkToken();
  if (token) {
    $("passwordForm").hidden = true;
    $("linkForm").hidden = false;
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("passwordForm").addEventListener("submit", (e) => {
    e.preventDefault();
    submit(e.target, "/auth/login", { account: $("account").value.trim(), password: $("password").value });
  });
  $("linkForm").addEventListener("submit", (e) => {
    e.preventDefault();
    submit(e.target, "/auth/link", { token });
  });
  $("usePassword").addEventListener("click", (e) => {
    e.preventDefault();
    $("linkForm").hidden = true;
    $("passwordForm").hidden = false;
  });
  if (!token) $("account").focus();
}

start();
