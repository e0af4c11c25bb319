"use strict";
/* How the dashboard and the monthly review page ask gridbot: with the person's session
   cookie, or with the admin token the console keeps for this tab (sessionStorage, as
   admin.js does; #token=… in the address works too). */
const ReportApi = (() => {
  const KEY = "gridbot_token";

  class AuthError extends Error {}

  function takeTokenFromHash() {
    const parts = location.hash.slice(1).split("&");
    const found = parts.find((p) => p.startsWith("token="));
    if (!found) return;
    sessionStorage.setItem(KEY, decodeURIComponent(found.slice(6)));
    history.replaceState(null, "", location.pathname + location.search);
  }

  async function request(path) {
    const token = sessionStorage.getItem(KEY);
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const res = await fetch(path, { headers, credentials: "same-origin" });
    if (res.status === 401) throw new AuthError("请先登录，或输入管理令牌。");
    if (!res.ok) {
      let reason = res.status + " " + res.statusText;
      try { reason = (await res.json()).error || reason; } catch (e) { /* not JSON */ }
      throw new Error(reason);
    }
    return res;
  }

  async function json(path) { return (await request(path)).json(); }
  async function text(path) { return (await request(path)).text(); }

  /* Fetch a file and hand it to the browser as a download. */
  async function download(path, filename) {
    const blob = await (await request(path)).blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  /* The sign-in box: a link to the login page and a field for the admin token. */
  function bindSignIn(box, onSignedIn) {
    const form = box.querySelector("form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = form.querySelector("input").value.trim();
      if (!value) return;
      sessionStorage.setItem(KEY, value);
      box.hidden = true;
      onSignedIn();
    });
  }

  return { AuthError, takeTokenFromHash, json, text, download, bindSignIn };
})();
