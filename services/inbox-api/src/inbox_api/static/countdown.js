// The reply window (24 hours; 7 days with the human-agent tag on Messenger/Instagram): live time left
// on the open conversation, and once it has closed the
// composer is disabled with the reason (the API refuses such replies anyway). Re-reads the DOM on
// every tick, so it keeps working when htmx swaps the conversation in and out.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function format(ms) {
    var s = Math.floor(ms / 1000);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    // The human-agent window (Messenger/Instagram) runs up to 7 days: days and hours there.
    if (h >= 24) return Math.floor(h / 24) + "d " + (h % 24) + "h " + pad(m) + "m left";
    return h + "h " + pad(m) + "m " + pad(s % 60) + "s left";
  }

  function tick() {
    var el = document.getElementById("window-countdown");
    if (!el) { return; }
    var closesAt = Date.parse(el.getAttribute("data-closes-at") || "");
    var left = isNaN(closesAt) ? -1 : closesAt - Date.now();
    var composer = document.getElementById("composer");
    var reason = document.getElementById("window-closed");
    if (left > 0) {
      el.classList.remove("closed");
      el.classList.toggle("urgent", left < 3600 * 1000);
      el.textContent = "Reply window: " + format(left);
      return;
    }
    el.classList.add("closed");
    el.textContent = "Reply window closed";
    if (composer && !composer.disabled) { composer.disabled = true; }
    if (reason) { reason.hidden = false; }
  }

  tick();
  window.setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);
})();
