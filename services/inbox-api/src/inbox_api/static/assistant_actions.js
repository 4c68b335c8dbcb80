// AI help in the composer (assistant/): "Suggest a reply" and the actions on the owner's own draft
// (rewrite, shorten, translate). Every result goes into the composer as text: nothing is ever sent
// from here. The status line always says why there is no draft (limit, assistant off, no answer).
(function () {
  "use strict";

  var DONE = {
    suggest: "AI-suggested draft",
    rewrite: "Rewritten in your tone",
    shorten: "Shortened",
    translate: "Translated",
  };
  var CHECK = ": check and edit it, then press Send. Nothing is sent until you do.";

  function setStatus(text) {
    var el = document.getElementById("suggest-status");
    if (el) el.textContent = text; // textContent: words from the server are shown as text, never markup
  }

  function csrfToken() {
    var form = document.getElementById("reply-form");
    var input = form ? form.querySelector("input[name=csrf_token]") : null;
    return input ? input.value : "";
  }

  function sentence(text) {
    text = (text || "").trim();
    return /[.!?…]$/.test(text) ? text : text + ".";
  }

  function nameTranslate(languageName) {
    if (!languageName) return;
    var buttons = document.querySelectorAll("button[data-ai-action=translate]");
    for (var i = 0; i < buttons.length; i++) buttons[i].textContent = "Translate to " + languageName;
  }

  function busy(on) {
    var buttons = document.querySelectorAll("button#suggest, button.ai-action");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = on;
  }

  function show(action, data) {
    if (!data || typeof data.text !== "string" || !data.text) {
      // Never a bare "no suggestion": the limit ("AI limit reached, try again in 40 s") or the reason.
      var why = (data && data.reason) || "The AI assistant did not answer; try again in a moment";
      setStatus(sentence(why) + (data && data.note ? " " + sentence(data.note) : ""));
      return;
    }
    var box = document.getElementById("reply-text");
    box.value = data.text; // .value of a textarea is plain text: nothing in it is interpreted
    var id = document.getElementById("suggestion-id");
    if (id) id.value = data.suggestion_id || "";
    var done = DONE[action] || DONE.suggest;
    if (action === "translate" && data.language_name) done = "Translated to " + data.language_name;
    setStatus((data.note ? sentence(data.note) + " " : "") + done + CHECK);
    box.focus();
  }

  function ask(btn, action) {
    var chat = btn.getAttribute("data-chat");
    var box = document.getElementById("reply-text");
    var body = { action: action };
    if (action !== "suggest") body.draft = box ? box.value : "";
    busy(true);
    setStatus(action === "suggest" ? "Asking for a suggestion…" : "Working on your draft…");
    fetch("/api/conversations/" + encodeURIComponent(chat) + "/suggestions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Accept": "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (r) {
        if (r.ok) return r.json();
        if (r.status === 422) return { text: null, reason: "The draft is too long for the AI assistant" };
        return { text: null, reason: "The AI assistant could not be reached; try again in a moment" };
      })
      .catch(function () { return { text: null, reason: "The AI assistant could not be reached; try again in a moment" }; })
      .then(function (data) {
        busy(false);
        nameTranslate(data && data.language_name);
        show(action, data);
      });
  }

  // Name the translate button after the customer's language once the assistant has told it.
  function labelTranslate() {
    var btn = document.querySelector("button[data-ai-action=translate]:not([data-named])");
    if (!btn) return;
    btn.setAttribute("data-named", "1");
    fetch("/api/conversations/" + encodeURIComponent(btn.getAttribute("data-chat")) + "/assistant", {
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { nameTranslate(data && data.language_name); })
      .catch(function () {});
  }

  // This file answers "Suggest a reply" and the draft actions (with the limit and fallback notes).
  // "Improve my draft" folds again once an action is chosen, or on a click elsewhere or Escape.
  function foldMenus(except) {
    document.querySelectorAll("details.ai-menu[open]").forEach(function (d) {
      if (d !== except) d.open = false;
    });
  }

  window.addEventListener("click", function (e) {
    var target = e.target;
    var btn = target && target.closest ? target.closest("button#suggest, button.ai-action") : null;
    if (!btn || btn.disabled) {
      foldMenus(target && target.closest ? target.closest("details.ai-menu") : null);
      return;
    }
    e.stopPropagation();
    foldMenus(null);
    ask(btn, btn.id === "suggest" ? "suggest" : btn.getAttribute("data-ai-action"));
  }, true);

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") foldMenus(null);
  });

  document.addEventListener("DOMContentLoaded", labelTranslate);
  document.addEventListener("htmx:afterSettle", labelTranslate);
})();
