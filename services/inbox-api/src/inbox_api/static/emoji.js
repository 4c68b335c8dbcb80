// The emoji picker: for the reply box ("😊" next to it) and for reactions ("React" on a customer's
// WhatsApp message). A small fixed list, served from here (no CDN); inserted as plain text.
(function () {
  "use strict";

  var EMOJI = [
    ["👍", "thumbs up ok yes"], ["❤️", "heart love"], ["🙏", "thanks please pray"], ["😂", "laugh joy"],
    ["😊", "smile happy"], ["😀", "grin"], ["😍", "love eyes"], ["🥰", "hearts"], ["😉", "wink"],
    ["😎", "cool"], ["🤗", "hug welcome"], ["🤔", "thinking"], ["😅", "sweat relief"], ["😢", "sad cry"],
    ["😮", "wow surprised"], ["😡", "angry"], ["🙌", "hooray"], ["👏", "clap applause"], ["👌", "ok perfect"],
    ["✌️", "peace victory"], ["👋", "wave hello bye"], ["🤝", "deal handshake"], ["💪", "strong"],
    ["✅", "done check yes"], ["❌", "no cross"], ["⚠️", "warning"], ["⏰", "time clock"], ["📅", "date calendar booking"],
    ["📍", "location pin"], ["📞", "phone call"], ["🎉", "party celebrate"], ["🎂", "birthday cake"],
    ["🥂", "cheers toast"], ["🍷", "wine"], ["🍺", "beer"], ["☕", "coffee"], ["🍕", "pizza"], ["🍝", "pasta"],
    ["🍣", "sushi"], ["🍔", "burger"], ["🥗", "salad vegan"], ["🌱", "vegan vegetarian plant"], ["🌶️", "spicy chili"],
    ["🍰", "dessert cake"], ["🍦", "ice cream"], ["🍽️", "dinner table plate"], ["👨‍🍳", "chef cook"],
    ["🔥", "fire hot"], ["⭐", "star"], ["✨", "sparkles"], ["💯", "hundred"], ["🙂", "slight smile"],
  ];

  var panel = null;
  var target = null; // {kind: "reply"} or {kind: "react", form}
  var opener = null;

  function build() {
    panel = document.createElement("div");
    panel.id = "emoji-panel";
    panel.className = "emoji-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Choose an emoji");
    panel.hidden = true;
    var search = document.createElement("input");
    search.type = "search";
    search.id = "emoji-search";
    search.placeholder = "Search emoji";
    search.setAttribute("aria-label", "Search emoji");
    panel.appendChild(search);
    var grid = document.createElement("div");
    grid.className = "emoji-grid";
    EMOJI.forEach(function (pair) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "emoji-choice";
      b.textContent = pair[0];
      b.title = pair[1].split(" ")[0];
      b.setAttribute("aria-label", pair[1].split(" ")[0]);
      b.setAttribute("data-emoji", pair[0]);
      b.setAttribute("data-words", pair[1]);
      grid.appendChild(b);
    });
    panel.appendChild(grid);
    search.addEventListener("input", function () {
      var term = search.value.trim().toLowerCase();
      grid.querySelectorAll(".emoji-choice").forEach(function (b) {
        b.hidden = !!term && b.getAttribute("data-words").indexOf(term) < 0;
      });
    });
    document.body.appendChild(panel);
  }

  function open(btn, what) {
    if (!panel) build();
    target = what;
    opener = btn;
    panel.hidden = false;
    panel.classList.toggle("for-reaction", what.kind === "react");
    btn.setAttribute("aria-expanded", "true");
    var search = document.getElementById("emoji-search");
    search.value = "";
    search.dispatchEvent(new Event("input"));
    panel.querySelector(".emoji-choice").focus();
  }

  function close(restoreFocus) {
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    if (opener) {
      opener.setAttribute("aria-expanded", "false");
      if (restoreFocus && document.contains(opener)) opener.focus();
    }
    target = null;
  }

  function insert(emoji) {
    var box = document.getElementById("reply-text");
    if (!box || box.disabled) return;
    var start = box.selectionStart || 0;
    var end = box.selectionEnd || 0;
    box.value = box.value.slice(0, start) + emoji + box.value.slice(end); // .value: plain text
    var pos = start + emoji.length;
    box.focus();
    box.setSelectionRange(pos, pos);
  }

  function choose(emoji) {
    var what = target;
    close(false);
    if (!what) return;
    if (what.kind === "reply") { insert(emoji); return; }
    if (what.kind === "react" && document.contains(what.form)) {
      what.form.querySelector("input[name=emoji]").value = emoji;
      what.form.requestSubmit(); // htmx posts it and re-renders the history
    }
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t.closest) return;
    var pick = t.closest(".emoji-choice");
    if (pick) { choose(pick.getAttribute("data-emoji")); return; }
    var forReply = t.closest("button#emoji-open");
    if (forReply) { panel && !panel.hidden ? close(true) : open(forReply, { kind: "reply" }); return; }
    var forReaction = t.closest("button.react-open");
    if (forReaction) { open(forReaction, { kind: "react", form: forReaction.closest("form") }); return; }
    if (panel && !panel.hidden && !t.closest("#emoji-panel")) close(false);
  });

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && panel && !panel.hidden) { e.preventDefault(); close(true); }
  });
})();
