// Live inbox: server-sent events trigger htmx refreshes of the server-rendered fragments.
(function () {
  "use strict";

  // htmx "settles" a swapped element by copying the old one's class and style attributes onto it;
  // copying a style attribute (label colours are set through the CSSOM) is an inline style the CSP
  // refuses, logged as a console error. Classes only: the policy stays strict.
  if (window.htmx) htmx.config.attributesToSettle = ["class", "width", "height"];

  function openChatId() {
    var el = document.getElementById("messages");
    return el ? el.getAttribute("data-chat") : null;
  }

  function scrollToEnd() {
    var el = document.getElementById("messages");
    if (el) el.scrollTop = el.scrollHeight;
  }

  // One refresh at a time, and one more after it when events came in meanwhile: htmx drops a request
  // on an element that already has one in flight, so a later event's refresh could be lost and an
  // older answer would stay on screen (a reply still "delivered" once Meta said "read").
  // ``load`` starts the request (htmx.ajax's promise) or returns null when there is nothing to load.
  function oneAtATime(load) {
    var running = false;
    var again = false;
    return function run() {
      if (running) {
        again = true;
        return;
      }
      var request = load();
      if (!request) return;
      running = true;
      var done = function () {
        running = false;
        if (again) {
          again = false;
          run();
        }
      };
      request.then(done, done);
    };
  }
  window.omniOneAtATime = oneAtATime; // queue.js refreshes the conversation's tools the same way

  // The history is fetched with fetch(), not htmx.ajax: htmx drops a request on an element that has
  // one in flight (another script's, or the reply form's), and a dropped refresh left statuses behind.
  var refreshMessages = oneAtATime(function () {
    var chat = openChatId();
    if (!chat) return null;
    return fetch("/ui/conversations/" + encodeURIComponent(chat) + "/messages", {
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    }).then(function (r) {
      if (!r.ok) return;
      return r.text().then(function (html) {
        var el = document.getElementById("messages");
        if (!el || el.getAttribute("data-chat") !== chat) return; // another conversation opened meanwhile
        var atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        el.innerHTML = html; // the server's own fragment (customer text escaped by Jinja)
        htmx.process(el);
        // Other scripts (ticks, attachments, countdown) follow swaps of the history.
        el.dispatchEvent(new CustomEvent("htmx:afterSwap", { bubbles: true, detail: { target: el, elt: el, keepScroll: !atEnd } }));
      });
    });
  });

  // One at a time too: a burst of events (four replies' statuses) must not leave the list behind.
  var refreshList = oneAtATime(function () {
    var list = document.getElementById("conv-list");
    if (!list) return null;
    // Every field of the filter form (search, channel, state, assignee, label) survives a refresh.
    var form = document.querySelector("form.filters");
    var params = new URLSearchParams(form ? new FormData(form) : undefined);
    params.set("c", openChatId() || "");
    return htmx.ajax("GET", "/ui/conversations?" + params.toString(), { target: "#conv-list", swap: "innerHTML" });
  });

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }

  // Opening a conversation, and new messages arriving while it is open, mark it read for this user:
  // a POST (the GETs that show it change nothing, so a prefetch or a link preview never does), then
  // the list, whose unread counts and the title's badge follow.
  var readOpenThenList = oneAtATime(function () {
    var chat = openChatId();
    if (!chat) { refreshList(); return null; }
    return fetch("/api/conversations/" + encodeURIComponent(chat) + "/read", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Accept": "application/json" },
    }).catch(function () { return null; }).then(function () { refreshList(); });
  });

  function refreshBanner() {
    if (document.getElementById("banner")) {
      htmx.ajax("GET", "/ui/banner", { target: "#banner", swap: "innerHTML" });
    }
  }

  function onEvent(kind, event) {
    var data = {};
    try { data = JSON.parse(event.data || "{}"); } catch (e) { data = {}; }
    document.dispatchEvent(new CustomEvent("omni:live", { detail: { kind: kind, data: data } }));
    if (kind === "resync") { refreshMessages(); readOpenThenList(); refreshBanner(); return; }
    if (kind === "notification" || kind === "account.status") { refreshBanner(); return; }
    if (kind === "message.status") {
      // The event names the message and its new status: applied in place, in order, never backwards.
      var status = data.data && data.data.status;
      var outcome = window.omniStatuses ? window.omniStatuses.apply(data.message_id, status) : "missing";
      // A failure's reason is not in the event, and a message not on screen yet needs the history.
      var here = data.chat_id ? data.chat_id === openChatId() : outcome !== "missing";
      if (here && (status === "failed" || outcome === "missing")) refreshMessages();
      refreshList();
      return;
    }
    if (data.chat_id && data.chat_id === openChatId()) {
      refreshMessages();
      readOpenThenList();
      return;
    }
    refreshList();
  }

  function connectEvents() {
    if (!document.body.hasAttribute("data-live") || !window.EventSource) return;
    // EventSource reconnects by itself and sends Last-Event-ID, so the server can replay what we missed.
    var source = new EventSource("/api/events");
    ["message.created", "message.updated", "message.status", "account.status", "notification", "resync",
      "conversation.updated", "conversation.labels", "note.created"].forEach(
      function (kind) { source.addEventListener(kind, function (e) { onEvent(kind, e); }); }
    );
    source.addEventListener("ready", function () { document.body.setAttribute("data-events", "ready"); });
    // The session ended elsewhere (logout, password or role change, turned off): leave the page.
    source.addEventListener("signed-out", function () { source.close(); window.location.assign("/login?signed_out=changed"); });
    source.onerror = function () { document.body.setAttribute("data-events", "reconnecting"); };
  }

  function setQuote(id, text) {
    var input = document.getElementById("reply-to");
    var box = document.getElementById("quoting");
    if (!input || !box) return;
    input.value = id || "";
    document.getElementById("quoting-text").textContent = id ? "Replying to: " + text : "";
    box.hidden = !id;
    if (id) document.getElementById("reply-text").focus();
  }

  document.addEventListener("keydown", function (e) {
    // Enter sends, Shift+Enter adds a line (and IME composition is left alone).
    if (e.target && e.target.id === "reply-text" && e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (e.target.value.trim()) e.target.form.requestSubmit();
    }
  });

  function setStatus(text) {
    var el = document.getElementById("suggest-status");
    if (el) el.textContent = text; // textContent: a draft is shown as text, never as markup
  }

  document.addEventListener("click", function (e) {
    // "Suggest a reply" and the draft actions: static/assistant_actions.js.
    var btn = e.target.closest ? e.target.closest("button.reply-to") : null;
    if (btn) { setQuote(btn.getAttribute("data-id"), btn.getAttribute("data-text")); return; }
    if (e.target.id === "cancel-quote") setQuote(null, "");
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (form && form.id === "reply-form" && e.detail.successful) {
      form.removeAttribute("data-retried");
      if (e.detail.xhr.getResponseHeader("X-Reply-Status") === "200") {
        form.reset();
        setQuote(null, "");
        document.getElementById("suggestion-id").value = "";
        setStatus("");
      }
    }
  });

  // 503: the restaurant's database is busy for a moment (the server said so with Retry-After). Try once
  // more by ourselves, then say it in plain words; the reply stays in the box either way.
  document.addEventListener("htmx:responseError", function (e) {
    var form = e.detail.elt;
    if (!form || form.id !== "reply-form" || e.detail.xhr.status !== 503) return;
    if (form.getAttribute("data-retried") !== "1") {
      form.setAttribute("data-retried", "1");
      var after = parseInt(e.detail.xhr.getResponseHeader("Retry-After") || "2", 10);
      setStatus("The inbox is busy for a moment: trying again…");
      window.setTimeout(function () { form.requestSubmit(); }, Math.min(Math.max(after, 1), 5) * 1000);
      return;
    }
    form.removeAttribute("data-retried");
    setStatus("Not sent: the inbox is too busy right now. Your reply is still here — press Send again in a minute.");
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "messages") {
      if (window.omniStatuses) window.omniStatuses.reapply(e.detail.target);
      if (!e.detail.keepScroll) scrollToEnd();
    }
  });

  // The browser's time zone, for pages rendered before the restaurant chose one (Settings → inbox).
  function rememberZone() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    if (!zone || !/^[A-Za-z0-9_+\-\/]+$/.test(zone)) return false;
    var before = document.cookie.split("; ").indexOf("omni_tz=" + zone) >= 0;
    document.cookie = "omni_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    return !before;
  }
  var zoneChanged = rememberZone();

  document.addEventListener("DOMContentLoaded", function () {
    scrollToEnd();
    connectEvents();
    if (openChatId()) readOpenThenList(); // the conversation this page opened
    // Rendered before the server knew this browser's zone: the dates again, in the right one.
    if (zoneChanged) { refreshList(); refreshMessages(); }
  });
})();
