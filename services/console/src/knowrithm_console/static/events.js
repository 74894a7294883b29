// The live event inspector: reads the console's event stream (server-sent events) and shows
// each event at the top of the role="log" list, capped; Pause stops showing new events, Clear
// empties the list. Each event links to its webhook deliveries (a console page); each attempt to
// deliver one (a test ping too) is listed as it happens, with its outcome and a link to its detail.
(function () {
  "use strict";
  var log = document.getElementById("events-log");
  if (!log) { return; }
  var status = document.getElementById("events-status");
  var empty = document.getElementById("events-empty");
  var pause = document.getElementById("events-pause");
  var clear = document.getElementById("events-clear");
  var cap = parseInt(log.dataset.cap, 10) || 200;
  var paused = false;

  function say(key) { status.textContent = status.dataset[key]; }

  function text(tag, className, value) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    node.textContent = value;
    return node;
  }

  function show(event) {
    var item = document.createElement("article");
    item.className = "event";
    item.dataset.eventId = event.id;
    item.dataset.eventType = event.type;
    var head = document.createElement("h3");
    head.className = "event-head";
    var when = new Date(event.time);
    var time = text("time", "event-time", when.toLocaleTimeString());
    time.setAttribute("datetime", event.time);
    head.appendChild(time);
    head.appendChild(document.createTextNode(" "));
    head.appendChild(text("code", "event-type", event.type));
    item.appendChild(head);
    item.appendChild(text("p", "meta event-id", event.id));
    var details = document.createElement("details");
    details.appendChild(text("summary", "", log.dataset.payloadLabel));
    details.appendChild(text("pre", "payload", JSON.stringify(event, null, 2)));
    item.appendChild(details);
    var link = text("a", "event-deliveries", log.dataset.deliveriesLabel);
    link.href = log.dataset.deliveries + encodeURIComponent(event.id) + "/deliveries";
    item.appendChild(link);
    place(item);
  }

  function place(item) {
    log.insertBefore(item, log.firstChild);
    while (log.children.length > cap) { log.removeChild(log.lastChild); }
    empty.hidden = true;
  }

  function showDelivery(delivery) {
    var item = document.createElement("article");
    item.className = "event delivery";
    item.dataset.deliveryId = delivery.id;
    item.dataset.eventType = delivery.event_type;
    var head = document.createElement("h3");
    head.className = "event-head";
    if (delivery.time) {
      var time = text("time", "event-time", new Date(delivery.time).toLocaleTimeString());
      time.setAttribute("datetime", delivery.time);
      head.appendChild(time);
      head.appendChild(document.createTextNode(" "));
    }
    head.appendChild(document.createTextNode(log.dataset.deliveryLabel + " "));
    head.appendChild(text("code", "event-type", delivery.event_type));
    item.appendChild(head);
    var ok = delivery.status === "succeeded";
    var badge = text("span", "badge " + (ok ? "badge-ok" : delivery.status === "failed" ? "badge-error" : "badge-info"),
      log.dataset["status" + delivery.status.charAt(0).toUpperCase() + delivery.status.slice(1)] || delivery.status);
    var line = document.createElement("p");
    line.className = "meta";
    line.appendChild(badge);
    var facts = " " + log.dataset.attemptsLabel + ": " + delivery.attempts;
    if (delivery.status_code) { facts += " · " + log.dataset.httpLabel + ": " + delivery.status_code; }
    line.appendChild(document.createTextNode(facts));
    item.appendChild(line);
    var link = text("a", "delivery-detail", log.dataset.deliveryOpen);
    link.href = log.dataset.webhooks + encodeURIComponent(delivery.webhook_id) + "/deliveries/" +
      encodeURIComponent(delivery.id);
    item.appendChild(link);
    place(item);
  }

  pause.addEventListener("click", function () {
    paused = !paused;
    pause.setAttribute("aria-pressed", paused ? "true" : "false");
    pause.textContent = paused ? pause.dataset.resume : pause.dataset.pause;
    say(paused ? "paused" : "live");
  });
  clear.addEventListener("click", function () {
    while (log.firstChild) { log.removeChild(log.firstChild); }
    empty.hidden = false;
  });

  var source = new EventSource(log.dataset.stream);
  source.addEventListener("ready", function () { if (!paused) { say("live"); } });
  source.addEventListener("dropped", function () { say("dropped"); });
  source.addEventListener("domain_event", function (e) {
    if (paused) { return; }
    show(JSON.parse(e.data));
  });
  source.addEventListener("webhook_delivery", function (e) {
    if (paused) { return; }
    showDelivery(JSON.parse(e.data));
  });
  source.onerror = function () { say("lost"); };
  window.addEventListener("pagehide", function () { source.close(); });
})();
