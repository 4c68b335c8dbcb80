// Keyboard shortcuts of the inbox, listed under "?". Never while typing: a key pressed in a text
// box, a list or a button's own handling (or with Ctrl/Alt/Cmd) is left alone.
(function () {
  "use strict";

  var KEYS = [
    ["j or ↓", "Next conversation"],
    ["k or ↑", "Previous conversation"],
    ["e", "Resolve the open conversation"],
    ["a", "Assign the open conversation to me"],
    ["r or /", "Write a reply (focus the reply box)"],
    ["?", "Show these shortcuts"],
    ["Esc", "Close this list or the emoji picker"],
  ];

  function typing(t) {
    if (!t || !t.closest) return false;
    return !!t.closest("input, textarea, select, [contenteditable=''], [contenteditable=true], [role=listbox], dialog");
  }

  function conversations() {
    return Array.prototype.slice.call(document.querySelectorAll("#conv-list a.conv"));
  }

  function move(step) {
    var list = conversations();
    if (!list.length) return;
    var at = list.findIndex(function (a) { return a.classList.contains("active"); });
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(Math.max(at + step, 0), list.length - 1);
    if (next !== at) list[next].click();
  }

  function resolve() {
    var btn = document.querySelector("#thread-tools button[data-action=resolve]");
    if (btn) btn.click();
  }

  function assignToMe() {
    var select = document.getElementById("assignee");
    var me = select ? select.getAttribute("data-me") : "";
    if (!select || !me || select.value === me) return;
    select.value = me;
    select.dispatchEvent(new Event("change", { bubbles: true })); // htmx posts on change
  }

  function focusComposer() {
    var reply = document.getElementById("reply-form");
    var box = document.getElementById(reply && reply.hidden ? "note-text" : "reply-text");
    if (box && !box.disabled) box.focus();
  }

  function helpDialog() {
    var dialog = document.getElementById("shortcuts-help");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "shortcuts-help";
    dialog.className = "shortcuts-help";
    dialog.setAttribute("aria-labelledby", "shortcuts-title");
    var title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    dialog.appendChild(title);
    var list = document.createElement("dl");
    KEYS.forEach(function (pair) {
      var dt = document.createElement("dt");
      pair[0].split(" or ").forEach(function (k, i) {
        if (i) dt.appendChild(document.createTextNode(" or "));
        var kbd = document.createElement("kbd");
        kbd.textContent = k;
        dt.appendChild(kbd);
      });
      var dd = document.createElement("dd");
      dd.textContent = pair[1];
      list.appendChild(dt);
      list.appendChild(dd);
    });
    dialog.appendChild(list);
    var hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = "Shortcuts work when you are not typing in a box.";
    dialog.appendChild(hint);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "primary";
    close.textContent = "Close";
    close.addEventListener("click", function () { dialog.close(); });
    dialog.appendChild(close);
    document.body.appendChild(dialog);
    return dialog;
  }

  function showHelp() {
    var dialog = helpDialog();
    if (!dialog.open) dialog.showModal();
  }
  window.omniShowShortcuts = showHelp;

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (typing(e.target)) return;
    if (!document.body.hasAttribute("data-live")) return; // signed-in pages only
    var actions = {
      j: function () { move(1); }, ArrowDown: function () { move(1); },
      k: function () { move(-1); }, ArrowUp: function () { move(-1); },
      e: resolve, a: assignToMe, r: focusComposer, "/": focusComposer, "?": showHelp,
    };
    var act = actions[e.key];
    if (!act) return;
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && !document.getElementById("conv-list")) return;
    e.preventDefault(); // "/" and "r" must not land in the box they focus
    act();
  });

  document.addEventListener("click", function (e) {
    var btn = e.target.closest ? e.target.closest("button.shortcuts-open") : null;
    if (btn) showHelp();
  });
})();
