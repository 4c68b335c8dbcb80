// Delivery ticks as WhatsApp shows them, moved live from each status event, and never backwards.
// The words stay for screen readers (visually hidden); the ticks are decoration (aria-hidden).
(function () {
  "use strict";

  // The same order as the normalizer's (normalizer/statuses.py): statuses arrive out of order, and
  // a message's status never moves back; "failed" ends a message that was not delivered yet.
  var RANK = { queued: 0, sending: 1, unknown: 1, sent: 2, delivered: 3, read: 4 };
  var FAILABLE = { queued: 1, sending: 1, unknown: 1, sent: 1 };
  var TICKS = { queued: "🕓", sending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓" };
  var WORDS = { queued: "waiting to send", sending: "sending", sent: "sent", delivered: "delivered", read: "read" };

  function mayReplace(current, next) {
    if (!current) return true;
    if (current === "failed") return false;
    if (next === "failed") return !!FAILABLE[current];
    return (RANK[next] === undefined ? -1 : RANK[next]) > (RANK[current] === undefined ? 99 : RANK[current]);
  }

  // The highest status heard live per message id: a history fetched before the latest event (or a
  // reply's re-render racing it) is corrected after every swap, so nothing on screen goes backwards.
  var heard = {};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  // Same markup as templates/_messages.html renders (server and page agree on what a tick means).
  function paint(span, status) {
    span.className = "status status-" + status;
    span.setAttribute("data-status", status);
    span.textContent = "";
    if (status === "failed") {
      // The reason is not in the event: the history is fetched again and brings it.
      var mark = el("button", "tick-fail");
      mark.type = "button";
      mark.setAttribute("aria-expanded", "false");
      mark.title = "Not delivered";
      var bang = el("span", null, "!");
      bang.setAttribute("aria-hidden", "true");
      mark.appendChild(bang);
      mark.appendChild(el("span", "sr-only", "failed"));
      span.appendChild(mark);
    } else {
      span.appendChild(el("span", "sr-only", WORDS[status] || status));
      var tick = el("span", "tick", TICKS[status] || "");
      tick.setAttribute("aria-hidden", "true");
      span.appendChild(tick);
    }
    var li = span.closest("li.msg");
    if (li) li.setAttribute("data-status", status);
  }

  // Apply one status to the message on screen, if it is there and the status is a step forward.
  // Returns "applied", "stale" (the page already shows as much) or "missing" (not on screen).
  function apply(id, status) {
    if (!id || !status) return "stale";
    if (mayReplace(heard[id], status)) heard[id] = status;
    var li = document.getElementById("msg-" + id);
    var span = li ? li.querySelector(".status") : null;
    if (!span) return "missing";
    if (!mayReplace(span.getAttribute("data-status"), status)) return "stale";
    paint(span, status);
    return "applied";
  }

  // After a swap: what was heard live wins over an older snapshot.
  function reapply(root) {
    Object.keys(heard).forEach(function (id) {
      var li = (root || document).querySelector("#msg-" + CSS.escape(id));
      var span = li ? li.querySelector(".status") : null;
      if (span && mayReplace(span.getAttribute("data-status"), heard[id]) && heard[id] !== "failed") {
        paint(span, heard[id]);
      }
    });
  }

  // A failed message's reason: shown on hover (title) and on tap/click (toggled under the bubble).
  document.addEventListener("click", function (e) {
    var mark = e.target.closest ? e.target.closest("button.tick-fail") : null;
    if (!mark) return;
    var reason = mark.parentNode.querySelector(".fail-reason");
    if (!reason) return;
    reason.hidden = !reason.hidden;
    mark.setAttribute("aria-expanded", reason.hidden ? "false" : "true");
  });

  window.omniStatuses = { apply: apply, reapply: reapply, mayReplace: mayReplace };
})();
