// The shared page's behaviour: beacons (open, heartbeats while visible, scroll depth, actions, leave), the action
// buttons and the contact form. Served by the stack under a strict Content-Security-Policy; no third-party code.
(function () {
  "use strict";
  var page = document.getElementById("qr-page");
  if (!page) { return; }
  var share = page.dataset.share;
  var viewer = page.dataset.viewer || "";
  var beaconUrl = new URL(page.dataset.beacons, location.href).href;
  var leadsUrl = new URL(page.dataset.leads, location.href).href;
  var heartbeatMs = Math.max(1000, parseInt(page.dataset.heartbeatMs, 10) || 5000);
  var MAX_BATCH = 20;
  var FLUSH_MS = Math.max(heartbeatMs * 2, 4000);
  var session = randomId();
  var seq = 0;
  var queue = [];
  var visibleSince = document.visibilityState === "visible" ? Date.now() : null;
  var deepest = 0;
  var left = false;
  var root = document.documentElement;
  root.dataset.beaconsQueued = "0";
  root.dataset.beaconsAccepted = "0";

  function randomId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < bytes.length; i++) { text += ("0" + bytes[i].toString(16)).slice(-2); }
    return text;
  }

  function visibleMs() {
    if (visibleSince === null) { return 0; }
    var now = Date.now();
    var spent = now - visibleSince;
    visibleSince = now;
    return spent;
  }

  function add(event) {
    event.seq = seq++;
    event.at = Date.now();
    queue.push(event);
    root.dataset.beaconsQueued = String(seq);
    if (queue.length >= MAX_BATCH) { flush(false); }
  }

  function body(events) {
    var batch = { share: share, session: session, events: events };
    if (viewer) { batch.viewer = viewer; }
    return JSON.stringify(batch);
  }

  function count(response) {
    if (!response || !response.ok) { return; }
    response.json().then(function (answer) {
      var before = parseInt(root.dataset.beaconsAccepted, 10) || 0;
      root.dataset.beaconsAccepted = String(before + (answer.accepted || 0));
    }).catch(function () {});
  }

  function flush(leaving) {
    if (!queue.length) { return; }
    var events = queue.splice(0, MAX_BATCH);
    var payload = body(events);
    if (leaving && navigator.sendBeacon) {
      if (navigator.sendBeacon(beaconUrl, new Blob([payload], { type: "text/plain" }))) { return; }
    }
    fetch(beaconUrl, {
      method: "POST", body: payload, keepalive: true, credentials: "omit",
      headers: { "Content-Type": "application/json" }
    }).then(count).catch(function () {});
    if (queue.length) { flush(leaving); }
  }

  function heartbeat() {
    if (document.visibilityState === "visible" && !left) {
      add({ type: "heartbeat", visible_ms: visibleMs() });
    }
  }

  function scrolled() {
    var doc = document.documentElement;
    var reach = window.scrollY + window.innerHeight;
    var depth = doc.scrollHeight > 0 ? Math.min(100, Math.round(100 * reach / doc.scrollHeight)) : 100;
    var bucket = Math.floor(depth / 25) * 25;
    if (bucket > deepest) {
      deepest = bucket;
      add({ type: "scroll", depth: bucket });
    }
  }

  function leave() {
    if (left) { return; }
    left = true;
    add({ type: "leave", visible_ms: visibleMs() });
    flush(true);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      left = false;
      visibleSince = Date.now();
    } else {
      leave();
    }
  });
  window.addEventListener("pagehide", leave);
  window.addEventListener("scroll", scrolled, { passive: true });

  Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (element) {
    element.addEventListener("click", function (click) {
      add({ type: "action", action: element.dataset.action });
      var target = element.dataset.reveals && document.getElementById(element.dataset.reveals);
      if (target) { target.hidden = false; }
      if (element.tagName === "A" && element.dataset.action === "open_link") {
        click.preventDefault();
        flush(true);
        location.href = element.href;
        return;
      }
      flush(false);
    });
  });

  var form = document.getElementById("qr-contact");
  if (form) {
    form.addEventListener("submit", function (submit) {
      submit.preventDefault();
      var fields = new FormData(form);
      var lead = { share: share, session: session, name: fields.get("name"), phone: fields.get("phone") };
      if (fields.get("note")) { lead.note = fields.get("note"); }
      if (viewer) { lead.viewer = viewer; }
      var status = form.querySelector(".qr-form-status");
      fetch(leadsUrl, {
        method: "POST", body: JSON.stringify(lead), credentials: "omit",
        headers: { "Content-Type": "application/json" }
      }).then(function (response) {
        status.textContent = response.ok ? "已收到，我们会尽快联系您。" : "提交失败，请稍后再试。";
        if (response.ok) { form.reset(); }
      }).catch(function () { status.textContent = "提交失败，请稍后再试。"; });
    });
  }

  add({ type: "open" });
  flush(false);
  scrolled();
  setInterval(heartbeat, heartbeatMs);
  setInterval(function () { flush(false); }, FLUSH_MS);
})();
