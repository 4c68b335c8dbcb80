// WhatsApp Embedded Signup without Meta's SDK (connect/signup_pages.py). On the settings page: open
// the sign-up in a popup, keep WhatsApp's WA_EMBEDDED_SIGNUP message only from that popup and the
// dialog's origin, then post it with the code the popup hands back from our callback. On the
// callback page: hand the code to the opener (same origin only) and close, else post it from here.
(function () {
  "use strict";

  function opener() {
    var link = document.getElementById("connect-whatsapp");
    var form = document.getElementById("embedded-form");
    if (!link || !form) return;
    var dialogOrigin = link.getAttribute("data-dialog-origin");
    var popup = null;
    var session = null;

    function set(name, value) {
      var input = form.querySelector('input[name="' + name + '"]');
      if (input) input.value = value == null ? "" : String(value);
    }

    link.addEventListener("click", function (event) {
      var opened = window.open(link.href, "whatsapp-signup", "popup,width=640,height=760");
      if (!opened) return; // popup blocked: the link goes through the same flow in this window
      event.preventDefault();
      popup = opened;
      session = null;
    });

    window.addEventListener("message", function (event) {
      if (!popup || event.source !== popup) return;
      var data = event.data;
      if (event.origin === dialogOrigin) {
        if (typeof data === "string") {
          try { data = JSON.parse(data); } catch (e) { return; }
        }
        if (data && data.type === "WA_EMBEDDED_SIGNUP") session = data;
        return;
      }
      if (event.origin !== window.location.origin || !data || data.type !== "omni-embedded-return") return;
      set("state", data.state);
      set("code", data.code);
      set("error", data.error);
      if (session) {
        var info = session.data || {};
        set("event", session.event);
        set("waba_id", info.waba_id);
        set("phone_number_id", info.phone_number_id);
        set("error_message", info.error_message);
      }
      popup = null;
      form.submit();
    });
  }

  function handBack() {
    var form = document.getElementById("embedded-return");
    if (!form) return;
    var parent = window.opener;
    var waiting = false;
    try {
      waiting = !!parent && parent.location.origin === window.location.origin &&
        !!parent.document.getElementById("embedded-form");
    } catch (e) {
      waiting = false; // another origin opened us: post from here
    }
    if (!waiting) {
      form.submit();
      return;
    }
    parent.postMessage({
      type: "omni-embedded-return",
      state: form.elements.state.value,
      code: form.elements.code.value,
      error: form.elements.error.value
    }, window.location.origin);
    window.close();
  }

  document.addEventListener("DOMContentLoaded", function () { opener(); handBack(); });
})();
