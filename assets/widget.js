/* ReplyX chat widget loader. Paste on your site:
 *   <script src="https://HOST/widget.js" data-assistant="wid_…" async></script>
 * Draws a launcher (in a shadow root, so the page's CSS cannot break it) and, on
 * first open only, an iframe to HOST/widget?w=<id>#t=<token> (the token rides in the
 * fragment, which never reaches server logs). The visitor credential is kept in this
 * page's own localStorage, so history survives reloads and tabs even where third-party
 * storage is blocked.
 *
 * postMessage protocol (both sides check origins):
 *   iframe -> page  {type:"replyx:ready"} {type:"replyx:close"} {type:"replyx:unread",count}
 *   page -> iframe  {type:"replyx:token", token}   (posted to HOST only, on renewal)
 * This loader accepts messages only from HOST and from its own iframe. The iframe side must
 * accept messages only when event.origin equals the embedding origin named in its token.
 */
(function () {
  "use strict";
  var P = "ReplyX: ";
  var script = document.currentScript ||
    document.querySelector('script[data-assistant][src*="/widget.js"]');
  if (!script) return;
  var wid = script.getAttribute("data-assistant") || "";
  var HOST;
  try { HOST = new URL(script.src).origin; } catch (e) { return; }
  if (!/^wid_[A-Za-z0-9_-]{20}$/.test(wid)) {
    console.error(P + 'the script tag needs data-assistant="wid_…" as shown on the Widget tab.');
    return;
  }
  var seen = window.__replyxWidgets = window.__replyxWidgets || {};
  if (seen[wid]) return;
  seen[wid] = 1;

  var KEY = "replyx:" + wid;
  var token = "", cfg = null, frame = null, panel, btn, badge, isOpen = false, timer;

  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { return {}; }
  }
  function save(d) {
    try { localStorage.setItem(KEY, JSON.stringify(d)); } catch (e) { /* storage off: a new visitor each time */ }
  }

  function session() {
    var c = load();
    // text/plain keeps this a "simple" CORS request: no preflight.
    return fetch(HOST + "/api/widget/session", {
      method: "POST", mode: "cors", credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify({ widget: wid, visitor_id: c.visitor_id, visitor_sig: c.visitor_sig })
    }).then(function (r) {
      return r.json().then(function (d) {
        if (!r.ok) throw new Error(d && d.error || P + "the chat widget could not start (" + r.status + ").");
        save({ visitor_id: d.visitor_id, visitor_sig: d.visitor_sig });
        token = d.token;
        clearTimeout(timer);
        // Renew at 80% of the token's life; the open chat gets the new one by postMessage.
        timer = setTimeout(renew, Math.max(30, d.expires_in * 0.8) * 1000);
        return d;
      });
    }, function () {
      // Only a refused origin gets no readable answer (an unknown or switched-off widget
      // says so above): the origin is not allowed, or the server cannot be reached.
      throw new Error(P + "the chat widget cannot load on " + location.origin + ": this origin is " +
        "not in the widget's allowed origins (add it on the assistant's Widget tab), or " + HOST +
        " cannot be reached.");
    });
  }

  function renew() {
    session().then(function () {
      if (frame) frame.contentWindow.postMessage({ type: "replyx:token", token: token }, HOST);
    }, function (e) { console.error(e.message); });
  }

  function el(tag, attrs, parent) {
    var n = document.createElement(tag);
    for (var k in attrs) n.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(n);
    return n;
  }

  var CSS =
    ":host{all:initial}" +
    "*{box-sizing:border-box}" +
    ".w{position:fixed;bottom:20px;z-index:2147483000;font:14px/1.3 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".r{right:20px}.l{left:20px}" +
    "button{all:unset;box-sizing:border-box;cursor:pointer;display:flex;align-items:center;gap:8px;" +
    "height:52px;min-width:52px;padding:0 18px;border-radius:26px;color:#fff;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25);font-weight:600;position:relative;float:right}" +
    ".l button{float:left}" +
    "button:focus-visible{outline:3px solid #93c5fd;outline-offset:2px}" +
    "button img{width:32px;height:32px;border-radius:50%;object-fit:cover;margin-left:-10px}" +
    "button svg{width:24px;height:24px;flex:none}" +
    ".b{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;" +
    "background:#dc2626;color:#fff;font-size:12px;line-height:20px;text-align:center;display:none}" +
    ".p{position:absolute;bottom:64px;width:380px;height:600px;max-height:calc(100vh - 100px);" +
    "border-radius:14px;overflow:hidden;background:#fff;box-shadow:0 8px 30px rgba(0,0,0,.3);display:none}" +
    ".r .p{right:0}.l .p{left:0}" +
    ".o .p{display:block}" +
    "iframe{border:0;width:100%;height:100%;display:block}" +
    "@media (max-width:480px){.o .p{position:fixed;inset:0;width:auto;height:auto;max-height:none;border-radius:0}}";

  var ICON = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" ' +
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';

  function draw() {
    var s = cfg.strings || {};
    var host = el("div", { "data-replyx": wid });
    var root = host.attachShadow({ mode: "open" });
    el("style", {}, root).textContent = CSS;
    var wrap = el("div", { "class": "w " + (cfg.position === "left" ? "l" : "r") }, root);
    panel = el("div", { "class": "p", role: "dialog", "aria-label": cfg.title || "Chat" }, wrap);
    btn = el("button", { type: "button", "aria-expanded": "false", "aria-label": s.open_chat || "Open chat",
      part: "launcher" }, wrap);
    btn.style.background = cfg.color;
    btn.innerHTML = ICON; // constant markup; everything from the server goes in as text
    if (cfg.avatar_url) el("img", { src: cfg.avatar_url, alt: "" }, btn);
    el("span", {}, btn).textContent = cfg.launcher_text || "";
    badge = el("span", { "class": "b", "aria-live": "polite" }, btn);
    btn.addEventListener("click", function () { toggle(!isOpen); });
    (document.body || document.documentElement).appendChild(host);
  }

  function toggle(open) {
    if (!btn) return;
    isOpen = open;
    wrap().className = wrap().className.replace(/ o\b/, "") + (open ? " o" : "");
    btn.setAttribute("aria-expanded", String(open));
    btn.setAttribute("aria-label", open ? (cfg.strings.close || "Close chat") : (cfg.strings.open_chat || "Open chat"));
    if (open && !frame) {
      frame = el("iframe", {
        title: cfg.title || "Chat",
        src: HOST + "/widget?w=" + encodeURIComponent(wid) + "#t=" + encodeURIComponent(token),
        sandbox: "allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox",
        allow: "clipboard-write"
      }, panel);
    }
    if (open) unread(0);
  }

  function wrap() { return panel.parentNode; }

  function unread(n) {
    n = Math.max(0, n | 0);
    badge.textContent = n ? (n > 99 ? "99+" : String(n)) : "";
    badge.style.display = n ? "block" : "none";
  }

  window.addEventListener("message", function (e) {
    if (e.origin !== HOST || !frame || e.source !== frame.contentWindow) return;
    var d = e.data || {};
    if (d.type === "replyx:close") { toggle(false); btn.focus(); }
    else if (d.type === "replyx:unread") { if (!isOpen) unread(d.count); }
    else if (d.type === "replyx:ready") frame.contentWindow.postMessage({ type: "replyx:token", token: token }, HOST);
  });

  session().then(function (d) {
    cfg = d.config;
    if (document.body) draw(); else document.addEventListener("DOMContentLoaded", draw);
    window.ReplyX = { open: function () { toggle(true); }, close: function () { toggle(false); } };
  }, function (e) { console.error(e.message); });
})();
