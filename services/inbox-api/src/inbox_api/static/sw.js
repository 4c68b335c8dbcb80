// The inbox's service worker (served as /sw.js so its scope is the whole site): makes the inbox
// installable and shows Web Push alerts when no inbox page is in front of the owner. It caches
// nothing and has no fetch handler: the inbox is live data, a stale page would show stale
// conversations, and browsers no longer need one to install an app.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (wins) {
    // A visible inbox page alerts by itself (static/alerts.js, with the same rule): stay quiet.
    var seen = wins.some(function (w) { return w.visibilityState === "visible"; });
    if (seen) return undefined;
    return self.registration.showNotification(data.title || "New message", {
      body: data.body || "",
      tag: "chat-" + (data.chat_id || "new"),
      renotify: true,
      icon: "/static/icon-192.png",
      badge: "/static/icon-192.png",
      data: { url: data.url || "/inbox" }
    });
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var target = (event.notification.data && event.notification.data.url) || "/inbox";
  // Only our own pages: the payload came from our server, but a link is followed only on this origin.
  if (target.charAt(0) !== "/" || target.charAt(1) === "/") target = "/inbox";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (wins) {
    // An inbox window this worker controls is reused; anything else opens a new one.
    if (wins.length && "navigate" in wins[0]) {
      return wins[0].focus().then(function (w) { return w.navigate(target); })
        .catch(function () { return self.clients.openWindow(target); });
    }
    return self.clients.openWindow(target);
  }));
});
