// Team inbox: title badge, label colours, Message/Note composer, "/" quick replies, snooze picker.
(function () {
  "use strict";

  function openChatId() {
    var el = document.getElementById("messages");
    return el ? el.getAttribute("data-chat") : null;
  }

  // --- "(3) Inbox": unread conversations of the signed-in user, from the list fragment ---------
  function updateTitle() {
    var marker = document.getElementById("unread-total");
    if (!marker) return;
    var n = parseInt(marker.getAttribute("data-count") || "0", 10) || 0;
    var base = document.title.replace(/^\(\d+\)\s*/, "");
    document.title = n > 0 ? "(" + n + ") " + base : base;
  }

  // --- label chips: colours come from data attributes (the CSP forbids inline style markup) ------
  function textColorFor(hex) {
    var r = parseInt(hex.substr(1, 2), 16), g = parseInt(hex.substr(3, 2), 16), b = parseInt(hex.substr(5, 2), 16);
    return (0.299 * r + 0.587 * g + 0.114 * b) > 150 ? "#1b1f24" : "#ffffff";
  }

  function paintChips(root) {
    (root || document).querySelectorAll(".chip[data-color]").forEach(function (chip) {
      var color = chip.getAttribute("data-color");
      if (!/^#[0-9a-fA-F]{6}$/.test(color)) return;
      chip.style.backgroundColor = color; // CSSOM, not markup: allowed by style-src 'self'
      chip.style.color = textColorFor(color);
    });
  }

  function localTimes(root) {
    (root || document).querySelectorAll("time.local-time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d.getTime())) t.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    });
  }

  // --- Message / Note composer ------------------------------------------------------------------
  function setMode(mode) {
    var reply = document.getElementById("reply-form");
    var note = document.getElementById("note-form");
    if (!reply || !note) return;
    reply.hidden = mode === "note";
    note.hidden = mode !== "note";
    document.querySelectorAll(".composer-modes .mode").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-mode") === mode ? "true" : "false");
    });
    var box = document.getElementById(mode === "note" ? "note-text" : "reply-text");
    if (box) box.focus();
  }

  // --- "/" quick replies ------------------------------------------------------------------------
  var replies = null; // fetched once per page
  var picker = { open: false, items: [], index: 0, start: -1 };

  function loadReplies() {
    if (replies !== null) return Promise.resolve(replies);
    return fetch("/api/quick-replies", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .catch(function () { return []; })
      .then(function (list) { replies = Array.isArray(list) ? list : []; return replies; });
  }

  // The "/term" just before the caret, if it starts the box or follows a space.
  function slashToken(box) {
    var upto = box.value.slice(0, box.selectionStart);
    var m = /(^|\s)\/([^\s\/]*)$/.exec(upto);
    if (!m) return null;
    return { start: upto.length - m[2].length - 1, term: m[2].toLowerCase() };
  }

  function listEl() { return document.getElementById("qr-list"); }

  function closePicker() {
    picker.open = false;
    var list = listEl();
    if (list) { list.hidden = true; list.textContent = ""; }
    var box = document.getElementById("reply-text");
    if (box) { box.setAttribute("aria-expanded", "false"); box.removeAttribute("aria-activedescendant"); }
  }

  function renderPicker() {
    var list = listEl();
    var box = document.getElementById("reply-text");
    if (!list || !box) return;
    list.textContent = "";
    if (!picker.items.length) {
      var empty = document.createElement("li");
      empty.className = "qr-empty";
      empty.textContent = replies && replies.length ? "No quick reply matches." : "No quick replies yet (add them in Settings).";
      list.appendChild(empty);
    }
    picker.items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "qr-opt-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("data-shortcut", item.shortcut);
      li.setAttribute("aria-selected", i === picker.index ? "true" : "false");
      var code = document.createElement("strong");
      code.textContent = "/" + item.shortcut; // textContent: saved text is never markup
      var body = document.createElement("span");
      body.textContent = " " + item.body.slice(0, 90);
      li.appendChild(code);
      li.appendChild(body);
      list.appendChild(li);
    });
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    if (picker.items.length) box.setAttribute("aria-activedescendant", "qr-opt-" + picker.index);
    var active = document.getElementById("qr-opt-" + picker.index);
    if (active && active.scrollIntoView) active.scrollIntoView({ block: "nearest" });
  }

  function updatePicker(box) {
    var token = slashToken(box);
    if (!token) { closePicker(); return; }
    loadReplies().then(function (all) {
      var again = slashToken(box); // the box may have changed while loading
      if (!again) { closePicker(); return; }
      var term = again.term;
      var starts = all.filter(function (q) { return q.shortcut.indexOf(term) === 0; });
      var rest = all.filter(function (q) {
        return q.shortcut.indexOf(term) !== 0 &&
          (q.shortcut.indexOf(term) >= 0 || q.body.toLowerCase().indexOf(term) >= 0);
      });
      picker.items = starts.concat(rest).slice(0, 8);
      picker.index = Math.min(picker.index, Math.max(picker.items.length - 1, 0));
      picker.start = again.start;
      picker.open = true;
      renderPicker();
    });
  }

  function insertReply(index) {
    var box = document.getElementById("reply-text");
    var item = picker.items[index];
    if (!box || !item) { closePicker(); return; }
    var caret = box.selectionStart;
    var before = box.value.slice(0, picker.start);
    var after = box.value.slice(caret);
    box.value = before + item.body + after; // .value: plain text, nothing interpreted
    var pos = before.length + item.body.length;
    box.setSelectionRange(pos, pos);
    closePicker();
    box.focus();
  }

  // Capture phase: runs before the composer's own Enter-to-send handler and can stop it.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && t.id === "reply-text" && picker.open) {
      var n = picker.items.length;
      if (e.key === "ArrowDown" && n) { picker.index = (picker.index + 1) % n; renderPicker(); }
      else if (e.key === "ArrowUp" && n) { picker.index = (picker.index - 1 + n) % n; renderPicker(); }
      else if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && !e.isComposing && n) { insertReply(picker.index); }
      else if (e.key === "Escape" || (e.key === "Enter" && !n)) { closePicker(); if (e.key === "Enter") return; }
      else return;
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    if (t && t.id === "note-text" && e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (t.value.trim()) t.form.requestSubmit();
    }
  }, true);

  document.addEventListener("input", function (e) {
    if (e.target && e.target.id === "reply-text") {
      if (!picker.open) picker.index = 0;
      updatePicker(e.target);
    }
  });

  document.addEventListener("mousedown", function (e) {
    var opt = e.target.closest ? e.target.closest("#qr-list [role=option]") : null;
    if (opt) { e.preventDefault(); insertReply(parseInt(opt.id.replace("qr-opt-", ""), 10)); }
  });

  document.addEventListener("focusout", function (e) {
    if (e.target && e.target.id === "reply-text") closePicker();
  });

  // --- snooze: a custom time is sent in UTC, converted here where the user's time zone is known --
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t || !t.closest) return;
    var form = t.closest("form.snooze");
    if (!form) return;
    var local = form.querySelector(".snooze-local");
    var utc = form.querySelector(".snooze-utc");
    if (t.id === "snooze-for") {
      local.hidden = t.value !== "custom";
      if (t.value !== "custom") utc.value = "";
      else local.focus();
    } else if (t === local) {
      var d = new Date(local.value);
      utc.value = isNaN(d.getTime()) ? "" : d.toISOString();
    }
  });

  document.addEventListener("click", function (e) {
    var mode = e.target.closest ? e.target.closest(".composer-modes .mode") : null;
    if (mode) setMode(mode.getAttribute("data-mode"));
  });

  // One at a time (app.js): a second event's refresh is not lost while one is in flight, so an older
  // answer (e.g. without the label just added) does not stay on screen.
  var refreshTools = window.omniOneAtATime(function () {
    var chat = openChatId();
    if (!chat || !document.getElementById("thread-tools")) return null;
    return htmx.ajax("GET", "/ui/conversations/" + chat + "/tools", { target: "#thread-tools", swap: "innerHTML" });
  });

  document.addEventListener("omni:live", function (e) {
    var d = e.detail || {};
    var kind = d.kind || "";
    var chat = d.data && d.data.chat_id;
    if ((kind.indexOf("conversation.") === 0 && chat === openChatId()) || kind === "resync") refreshTools();
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (form && form.id === "note-form" && e.detail.successful &&
        e.detail.xhr.getResponseHeader("X-Note-Status") === "201") {
      form.reset();
    }
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "conv-list") updateTitle();
    paintChips(target);
    localTimes(target);
  });

  document.addEventListener("DOMContentLoaded", function () {
    updateTitle();
    paintChips(document);
    localTimes(document);
  });
})();
