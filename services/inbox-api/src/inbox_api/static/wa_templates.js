// WhatsApp templates: the picker of a conversation ("Choose a template") and of "New conversation".
// The list is server-rendered (/ui/.../templates); this script opens it, fills the preview as the
// owner types ({{1}}, {{2}}... or named values), checks that every value is there, and sends the
// template through the JSON API. Text goes into the page with textContent only, never as markup.
(function () {
  "use strict";

  var PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

  function panel() { return document.getElementById("tpl-panel"); }

  function listUrl(p) {
    if (p.getAttribute("data-mode") === "new") {
      return "/ui/templates?account_id=" + encodeURIComponent(p.getAttribute("data-account") || "");
    }
    return "/ui/conversations/" + encodeURIComponent(p.getAttribute("data-chat")) + "/templates";
  }

  function load(p) {
    if (!p) return;
    p.setAttribute("aria-busy", "true");
    fetch(listUrl(p), { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        p.innerHTML = html; // our own server-rendered, autoescaped fragment
        p.removeAttribute("aria-busy");
        p.setAttribute("data-loaded", "1");
        p.querySelectorAll("form.tpl-form").forEach(preview);
      })
      .catch(function () {
        p.removeAttribute("aria-busy");
        p.textContent = "The templates could not be loaded. Check the connection and try again.";
      });
  }

  function values(form, part) {
    var found = {};
    form.querySelectorAll("input[data-part='" + part + "']").forEach(function (input) {
      found[input.getAttribute("data-name")] = input.value.trim();
    });
    return found;
  }

  // The text with each {{name}} replaced by its value; missing ones stay visible, marked.
  function fill(el, given) {
    var source = el.getAttribute("data-source") || "";
    while (el.firstChild) el.removeChild(el.firstChild);
    var last = 0;
    source.replace(PLACEHOLDER, function (match, name, offset) {
      el.appendChild(document.createTextNode(source.slice(last, offset)));
      if (given[name]) {
        el.appendChild(document.createTextNode(given[name]));
      } else {
        var mark = document.createElement("mark");
        mark.textContent = match;
        el.appendChild(mark);
      }
      last = offset + match.length;
      return match;
    });
    el.appendChild(document.createTextNode(source.slice(last)));
  }

  function preview(form) {
    var header = form.querySelector(".tpl-h[data-source]");
    var body = form.querySelector(".tpl-b[data-source]");
    if (header) fill(header, values(form, "header"));
    if (body) fill(body, values(form, "body"));
  }

  function showError(form, text, field) {
    var box = form.querySelector(".tpl-error");
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    if (box) { box.textContent = text || ""; box.hidden = !text; }
    if (!field) return;
    var input = form.querySelector("[data-field='" + field + "']") ||
      document.querySelector("#new-conv [data-field='" + field + "']");
    if (!input && field.indexOf("template.parameters.") === 0) {
      input = form.querySelector("[data-field^='" + field + "']");
    }
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }

  function part(form, name, named) {
    var inputs = form.querySelectorAll("input[data-part='" + name + "']");
    if (!inputs.length) return null;
    if (named) return values(form, name);
    return Array.prototype.map.call(inputs, function (i) { return i.value.trim(); });
  }

  function collect(form) {
    var details = form.closest("details.tpl");
    var named = details.getAttribute("data-named") === "1";
    var parameters = {};
    var header = part(form, "header", named);
    var media = form.querySelector("input[data-part='header-media']");
    if (media) parameters.header = [media.value.trim()];
    else if (header) parameters.header = header;
    var body = part(form, "body", named);
    if (body) parameters.body = body;
    var buttons = [];
    form.querySelectorAll("input[data-part='button']").forEach(function (i) {
      buttons.push({ index: parseInt(i.getAttribute("data-index"), 10), value: i.value.trim() });
    });
    if (buttons.length) parameters.buttons = buttons;
    return { name: details.getAttribute("data-name"), language: details.getAttribute("data-language"), parameters: parameters };
  }

  function missing(form) {
    var empty = null;
    form.querySelectorAll("input[data-part]").forEach(function (i) {
      if (!empty && !i.value.trim()) empty = i;
    });
    return empty;
  }

  function refreshMessages() {
    var box = document.getElementById("messages");
    if (box && window.htmx) {
      htmx.ajax("GET", "/ui/conversations/" + box.getAttribute("data-chat") + "/messages", { target: "#messages", swap: "innerHTML" });
    }
  }

  function send(form) {
    var p = panel();
    var empty = missing(form);
    if (empty) {
      var label = form.querySelector("label[for='" + empty.id + "']");
      showError(form, "Fill in: " + (label ? label.textContent : "every value") + ".", empty.getAttribute("data-field"));
      return;
    }
    var template = collect(form);
    var url, body;
    if (form.getAttribute("data-mode") === "new") {
      var to = document.getElementById("nc-to");
      var account = document.getElementById("nc-account");
      if (!to.value.trim()) { showError(form, "Enter the customer's phone number.", "to"); return; }
      url = "/api/conversations";
      body = { account_id: account.value, to: to.value, template: template };
    } else {
      url = "/api/conversations/" + encodeURIComponent(form.getAttribute("data-chat")) + "/messages";
      body = { template: template };
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showError(form, "", null);
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": p.getAttribute("data-csrf") || "" },
      body: JSON.stringify(body),
    })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; }); })
      .then(function (res) {
        button.disabled = false;
        if (res.status === 201 && res.data.conversation_id) {
          window.location.href = "/inbox?c=" + encodeURIComponent(res.data.conversation_id);
          return;
        }
        if (res.status === 202) {
          form.reset();
          preview(form);
          close();
          refreshMessages();
          return;
        }
        var detail = res.data && res.data.detail;
        if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("; ");
        showError(form, "Not sent: " + (detail || "something went wrong, try again") + ".", res.data && res.data.field);
      })
      .catch(function () {
        button.disabled = false;
        showError(form, "Not sent: the inbox could not be reached. Try again.", null);
      });
  }

  function open() {
    var p = panel();
    var btn = document.getElementById("tpl-open");
    if (!p || !btn) return;
    p.hidden = false;
    btn.setAttribute("aria-expanded", "true");
    if (!p.getAttribute("data-loaded")) load(p);
  }

  function close() {
    var p = panel();
    var btn = document.getElementById("tpl-open");
    if (!p || !btn) return; // "New conversation" keeps its list open
    p.hidden = true;
    btn.setAttribute("aria-expanded", "false");
    btn.focus();
  }

  function refresh(btn) {
    var p = panel();
    var status = p.querySelector(".tpl-sync");
    var account = btn.getAttribute("data-account");
    btn.disabled = true;
    if (status) status.textContent = "Fetching the templates from WhatsApp…";
    fetch("/api/templates/sync", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": p.getAttribute("data-csrf") || "" },
      body: JSON.stringify(account ? { account_id: account } : {}),
    }).then(function (r) {
      if (!r.ok && status) status.textContent = "The refresh could not start. Try again in a moment.";
      // The list reloads when the sync is done (live event); this is the fallback.
      window.setTimeout(function () { if (p.getAttribute("data-loaded")) load(p); }, 4000);
    });
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t.closest) return;
    if (t.closest("#tpl-open")) {
      var p = panel();
      if (p && p.hidden) open(); else close();
      return;
    }
    if (t.closest(".tpl-close")) { close(); return; }
    var r = t.closest(".tpl-refresh");
    if (r) refresh(r);
  });

  document.addEventListener("input", function (e) {
    var form = e.target.closest ? e.target.closest("form.tpl-form") : null;
    if (form) { e.target.removeAttribute("aria-invalid"); preview(form); }
  });

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form && form.classList && form.classList.contains("tpl-form")) {
      e.preventDefault();
      send(form);
    }
  });

  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "nc-account") {
      var p = panel();
      p.setAttribute("data-account", e.target.value);
      load(p);
    }
  });

  document.addEventListener("omni:live", function (e) {
    var d = e.detail || {};
    var p = panel();
    if (d.kind === "notification" && d.data && d.data.kind === "templates_synced" && p && p.getAttribute("data-loaded")) load(p);
  });

  document.addEventListener("keydown", function (e) {
    var p = panel();
    if (e.key === "Escape" && p && !p.hidden && document.getElementById("tpl-open")) close();
  });

  // A conversation swapped in by htmx brings its own (closed) picker; "New conversation" loads at once.
  function init() {
    var p = panel();
    if (p && p.getAttribute("data-mode") === "new" && !p.getAttribute("data-loaded")) load(p);
  }
  document.addEventListener("DOMContentLoaded", init);
})();
