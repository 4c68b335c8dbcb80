// The customer panel: the "Customer" button opens it over the conversation on narrow screens (and
// reloads it when opened again, so labels and notes added since are shown); "Back to the conversation" closes it.
(function () {
  "use strict";
  function panel() { return document.getElementById("customer-panel"); }
  function open() {
    var p = panel();
    if (!p) return;
    document.body.classList.add("show-customer");
    // The page loaded it once already; opening it again shows what changed since (labels, notes).
    var url = p.getAttribute("data-url");
    if (p.getAttribute("data-opened") && url && window.htmx) {
      window.htmx.ajax("GET", url, { target: "#customer-panel", swap: "innerHTML" });
    }
    p.setAttribute("data-opened", "1");
    var toggle = document.querySelector(".customer-toggle");
    if (toggle) toggle.setAttribute("aria-expanded", "true");
    p.focus();
  }
  function close() {
    document.body.classList.remove("show-customer");
    var toggle = document.querySelector(".customer-toggle");
    if (toggle) { toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
  }
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    if (t.closest(".customer-toggle")) { open(); return; }
    if (t.closest(".customer-close")) close();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && document.body.classList.contains("show-customer")) close();
  });
})();
