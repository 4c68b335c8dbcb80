// Photos and files out: the attach button, drag-and-drop onto the conversation and paste into the
// reply box. Files wait in a tray until Send; the reply text goes with them as the caption. Each file
// is checked against the platform's limits before uploading (the server checks again from the file's
// bytes), then uploaded with a progress line; each becomes its own message in the history at once.
(function () {
  "use strict";

  var files = [];

  function el(id) { return document.getElementById(id); }
  function box() { return el("attach"); }

  function rules() {
    try { return JSON.parse(box().getAttribute("data-rules") || "{}"); } catch (e) { return {}; }
  }

  function size(n) {
    if (n >= 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MB";
    return Math.max(1, Math.round(n / 1024)) + " KB";
  }

  function say(text, isError) {
    var status = el("attach-status");
    if (!status) return;
    status.textContent = text || "";
    status.classList.toggle("error", !!isError);
  }

  function composerClosed() {
    var composer = el("composer");
    return !composer || composer.disabled;
  }

  // The platform's verdict before uploading: null when the file may go, else the reason.
  function refusal(file) {
    var r = rules();
    var types = r.types || {};
    var limit = file.type && types[file.type] !== undefined ? types[file.type] : r.max;
    if (file.type && types[file.type] === undefined && file.type.indexOf("application/octet-stream") !== 0) {
      return file.name + " (" + file.type + ") cannot be sent: " + r.channel + " takes " + r.accepted + ".";
    }
    if (file.size > limit) {
      return file.name + " is " + size(file.size) + ": " + r.channel + " takes " + r.accepted + ".";
    }
    if (!file.size) return file.name + " is empty.";
    return null;
  }

  function renderTray() {
    var tray = el("attach-tray");
    var text = el("reply-text");
    if (!tray) return;
    while (tray.firstChild) tray.removeChild(tray.firstChild);
    files.forEach(function (file, i) {
      var item = document.createElement("div");
      item.className = "attach-item";
      if (file.type.indexOf("image/") === 0) {
        var img = document.createElement("img");
        img.alt = "";
        img.src = URL.createObjectURL(file);
        img.addEventListener("load", function () { URL.revokeObjectURL(img.src); });
        item.appendChild(img);
      }
      var name = document.createElement("span");
      name.textContent = file.name + " · " + size(file.size);
      item.appendChild(name);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link attach-remove";
      remove.setAttribute("data-index", String(i));
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + file.name);
      item.appendChild(remove);
      tray.appendChild(item);
    });
    tray.hidden = files.length === 0;
    // With files, the reply text is an optional caption.
    if (text) text.required = files.length === 0;
    if (files.length) say(files.length === 1 ? "1 file ready: press Send (the text, if any, is its caption)." : files.length + " files ready: press Send; each goes as its own message.");
  }

  function add(list) {
    if (!box()) return;
    if (composerClosed()) { say("Files cannot be sent now: the reply window is closed.", true); return; }
    var problems = [];
    Array.prototype.forEach.call(list, function (file) {
      var why = refusal(file);
      if (why) problems.push(why); else files.push(file);
    });
    renderTray();
    if (problems.length) say(problems.join(" "), true);
  }

  function clear() {
    files = [];
    renderTray();
    say("");
  }

  function refreshMessages() {
    var messages = el("messages");
    if (messages && window.htmx) {
      htmx.ajax("GET", "/ui/conversations/" + messages.getAttribute("data-chat") + "/messages", { target: "#messages", swap: "innerHTML" });
    }
  }

  function upload(form) {
    var chat = box().getAttribute("data-chat");
    var data = new FormData();
    files.forEach(function (file) { data.append("file", file, file.name); });
    var text = el("reply-text");
    if (text && text.value.trim()) data.append("text", text.value);
    var quote = el("reply-to");
    if (quote && quote.value) data.append("reply_to", quote.value);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/conversations/" + encodeURIComponent(chat) + "/messages");
    xhr.setRequestHeader("X-CSRF-Token", box().getAttribute("data-csrf") || "");
    xhr.setRequestHeader("Accept", "application/json");
    var label = files.length === 1 ? files[0].name : files.length + " files";
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) say("Uploading " + label + "… " + Math.round((e.loaded / e.total) * 100) + "%");
    };
    var send = form.querySelector("button[type=submit]");
    if (send) send.disabled = true;
    say("Uploading " + label + "…");
    xhr.onload = function () {
      if (send) send.disabled = false;
      var body = {};
      try { body = JSON.parse(xhr.responseText || "{}"); } catch (e) { body = {}; }
      if (xhr.status === 202) {
        clear();
        if (text) text.value = "";
        if (quote) quote.value = "";
        var quoting = el("quoting");
        if (quoting) quoting.hidden = true;
        say("Uploaded: the status under each file shows when it is sent and delivered.");
        refreshMessages();
        return;
      }
      var detail = body.detail;
      if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("; ");
      say("Not sent: " + (detail || "the upload failed, try again") + ". Your files are still here.", true);
    };
    xhr.onerror = function () {
      if (send) send.disabled = false;
      say("Not sent: the inbox could not be reached. Your files are still here; press Send again.", true);
    };
    xhr.send(data);
  }

  // "Try again" on a failed message (a file is not uploaded again while Meta still holds it).
  function retry(btn) {
    var form = el("reply-form");
    var csrf = form ? form.querySelector("input[name=csrf_token]") : null;
    btn.disabled = true;
    fetch("/api/conversations/" + encodeURIComponent(btn.getAttribute("data-chat")) + "/messages/" +
      encodeURIComponent(btn.getAttribute("data-id")) + "/retry", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf ? csrf.value : "" },
    })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (res) {
        btn.disabled = false;
        if (res.ok) { refreshMessages(); return; }
        btn.textContent = "Not sent again: " + ((res.data && res.data.detail) || "try later");
      })
      .catch(function () { btn.disabled = false; });
  }

  // Send with files in the tray: upload them (htmx's plain reply is not sent).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form || form.id !== "reply-form" || !files.length) return;
    e.preventDefault();
    e.stopPropagation();
    upload(form);
  }, true);

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t.closest) return;
    if (t.closest("#attach-btn")) { var input = el("attach-input"); if (input) input.click(); return; }
    var again = t.closest("button.retry");
    if (again) { retry(again); return; }
    var remove = t.closest(".attach-remove");
    if (remove) {
      files.splice(parseInt(remove.getAttribute("data-index"), 10), 1);
      renderTray();
      if (!files.length) say("");
    }
  });

  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "attach-input") {
      add(e.target.files);
      e.target.value = "";
    }
  });

  document.addEventListener("paste", function (e) {
    if (!e.target || e.target.id !== "reply-text" || !e.clipboardData) return;
    var pasted = e.clipboardData.files;
    if (pasted && pasted.length) {
      e.preventDefault();
      add(pasted);
    }
  });

  function inThread(e) { return box() && e.target.closest && e.target.closest("#thread"); }

  document.addEventListener("dragover", function (e) {
    if (!inThread(e) || !e.dataTransfer || Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") < 0) return;
    e.preventDefault();
    el("thread").classList.add("drop-target");
  });
  document.addEventListener("dragleave", function (e) {
    if (e.target && e.target.id === "thread") e.target.classList.remove("drop-target");
  });
  document.addEventListener("drop", function (e) {
    if (!inThread(e) || !e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    el("thread").classList.remove("drop-target");
    add(e.dataTransfer.files);
  });

  // Another conversation swapped in: files picked for the previous one are dropped.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "thread") { files = []; }
  });
})();
