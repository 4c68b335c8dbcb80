// Alerts: a short sound and a desktop notification when a customer writes, opt-in per device
// (Settings → inbox → Alerts), and this browser's Web Push subscription for alerts with the page
// closed. Live events come from app.js (the "omni:live" DOM event); nothing here opens a connection.
(function () {
  "use strict";
  var KEY = "omni-alerts";

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf();
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.status === 204 ? null : r.json();
    });
  }
  function enabled() { return window.localStorage && localStorage.getItem(KEY) === "on"; }
  function openChatId() {
    var el = document.getElementById("messages");
    return el ? el.getAttribute("data-chat") : null;
  }

  // The service worker makes the inbox installable; registered on every signed-in page.
  var registration = null;
  if (document.body.hasAttribute("data-live") && "serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (reg) {
      registration = reg;
      document.body.setAttribute("data-sw", "registered");
    }, function () { document.body.setAttribute("data-sw", "failed"); });
  }

  var me = null;
  function whoAmI() {
    if (!me) me = api("GET", "/api/auth/me").then(function (u) { return u.user_id; }, function () { return null; });
    return me;
  }

  function playSound() {
    var audio = new Audio("/static/alert.wav");
    var played = audio.play();
    var count = function () {
      var n = Number(document.body.getAttribute("data-alert-sounds") || "0") + 1;
      document.body.setAttribute("data-alert-sounds", String(n));
    };
    if (played && played.then) played.then(count, function () { /* no sound before a first click */ });
    else count();
  }

  function notify(chat, title, body) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var options = { body: body, tag: "chat-" + chat, renotify: true, icon: "/static/icon-192.png",
      data: { url: "/inbox?c=" + chat } };
    var shown;
    try {
      // Through the service worker where there is one (phones allow no other way).
      shown = registration ? registration.showNotification(title, options) : Promise.resolve(new Notification(title, options));
    } catch (e) {
      return;
    }
    shown.then(function () { document.body.setAttribute("data-alert-notified", chat); }, function () { /* refused */ });
  }

  // A new customer message alerts when its conversation is not the open one, or when it is assigned
  // to me and the page is not in front of me (another tab, minimised).
  function onMessage(data) {
    var chat = data.chat_id;
    var d = data.data || {};
    if (!enabled() || !chat || d.direction !== "inbound" || d.kind === "reaction" || d.kind === "deleted") return;
    Promise.all([api("GET", "/api/conversations/" + chat), whoAmI()]).then(function (res) {
      var conv = res[0];
      var mine = conv.assignee_user_id && conv.assignee_user_id === res[1];
      var open = chat === openChatId();
      var hidden = document.visibilityState !== "visible";
      if (open && !(mine && hidden)) return;
      document.body.setAttribute("data-alert-chat", chat);
      playSound();
      notify(chat, conv.contact_name || "New message", conv.last_message_preview || "New message");
    }, function () { /* the conversation is gone or the session ended: no alert */ });
  }

  document.addEventListener("omni:live", function (e) {
    if (e.detail && e.detail.kind === "message.created") onMessage(e.detail.data || {});
  });

  // ---- Settings → inbox → Alerts ----
  function b64ToBytes(text) {
    var pad = "=".repeat((4 - (text.length % 4)) % 4);
    var raw = atob((text + pad).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function say(text) {
    var el = document.getElementById("alerts-state");
    if (el) el.textContent = text;
  }

  function showButtons() {
    var on = document.getElementById("alerts-on");
    var off = document.getElementById("alerts-off");
    if (on) on.hidden = enabled();
    if (off) off.hidden = !enabled();
  }

  function subscribePush() {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) return Promise.resolve(false);
    return Promise.all([navigator.serviceWorker.ready, api("GET", "/api/push/key")]).then(function (res) {
      return res[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(res[1].public_key) });
    }).then(function (sub) {
      return api("POST", "/api/push/subscriptions", sub.toJSON()).then(function () { return true; });
    }).catch(function () { return false; });
  }

  function turnOn() {
    if (!("Notification" in window)) { say("This browser cannot show notifications."); return; }
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        say("Notifications are blocked for this site: allow them in the browser's site settings, then try again.");
        return;
      }
      localStorage.setItem(KEY, "on");
      showButtons();
      say("Alerts are on in this browser. Setting up alerts with the browser closed…");
      subscribePush().then(function (pushed) {
        say(pushed ? "Alerts are on on this device, also with the browser closed."
          : "Alerts are on while the inbox is open. This browser cannot get alerts with the inbox closed.");
      });
    });
  }

  function turnOff() {
    localStorage.setItem(KEY, "off");
    showButtons();
    say("Alerts are off on this device.");
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (reg) { return reg.pushManager.getSubscription(); })
      .then(function (sub) {
        if (!sub) return null;
        return api("DELETE", "/api/push/subscriptions", { endpoint: sub.endpoint }).then(function () { return sub.unsubscribe(); });
      }).catch(function () { /* already gone */ });
  }

  function setupPanel() {
    if (!document.getElementById("alerts-panel")) return;
    showButtons();
    if (enabled()) say("Alerts are on on this device.");
    document.getElementById("alerts-on").addEventListener("click", turnOn);
    document.getElementById("alerts-off").addEventListener("click", turnOff);
    document.getElementById("alerts-test").addEventListener("click", playSound);
  }
  setupPanel();
})();
