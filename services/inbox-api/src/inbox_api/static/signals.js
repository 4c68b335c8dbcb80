// What WhatsApp customers see of the team: the blue ticks when an owner opens their conversation,
// and "typing…" while an owner writes a reply. The server decides whether they go (the restaurant's
// switches in Settings → inbox, WhatsApp only) and sends them through the sender with its pacing.
(function () {
  "use strict";
  var TYPING_EVERY_MS = 20000; // WhatsApp shows "typing…" for up to 25 s, or until our reply arrives
  var seenChat = null;
  var lastTyping = {};

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }
  function post(url) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Accept": "application/json" } }).catch(function () { return null; });
  }
  function openChatId() {
    var el = document.getElementById("messages");
    return el ? el.getAttribute("data-chat") : null;
  }

  // Seen only when the owner can actually see it: the page in front, the conversation open.
  function markSeen(force) {
    var chat = openChatId();
    if (!chat || document.visibilityState !== "visible") return;
    if (chat === seenChat && !force) return;
    seenChat = chat;
    post("/api/conversations/" + chat + "/seen");
  }

  document.addEventListener("DOMContentLoaded", function () { markSeen(false); });
  document.addEventListener("htmx:afterSettle", function () { markSeen(false); });
  document.addEventListener("visibilitychange", function () { markSeen(true); });
  document.addEventListener("omni:live", function (e) {
    var d = e.detail || {};
    var data = d.data || {};
    if (d.kind === "message.created" && data.chat_id === openChatId() && (data.data || {}).direction === "inbound") {
      markSeen(true);
    }
  });

  document.addEventListener("input", function (e) {
    if (!e.target || e.target.id !== "reply-text" || !e.target.value.trim()) return;
    var chat = openChatId();
    if (!chat) return;
    var now = Date.now();
    if (lastTyping[chat] && now - lastTyping[chat] < TYPING_EVERY_MS) return;
    lastTyping[chat] = now;
    post("/api/conversations/" + chat + "/typing");
  });
})();
