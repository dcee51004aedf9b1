// The live feed page: one WebSocket to /api/v1/stream (authenticated by the portal session),
// each alert listed newest first and plotted on the all-sky map.
"use strict";
(function () {
  const form = document.getElementById("live-form");
  const status = document.getElementById("live-status");
  const feed = document.getElementById("live-feed");
  const markers = document.querySelector("#live-map .markers");
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_SHOWN = 200;
  let socket = null;

  // Hammer-Aitoff, RA growing to the left, 0h in the middle: the formula of skymap.py.
  function project(ra, dec) {
    const lon = -(((ra + 180) % 360 + 360) % 360 - 180) * Math.PI / 180;
    const lat = Math.max(-90, Math.min(90, dec)) * Math.PI / 180;
    const z = Math.sqrt(1 + Math.cos(lat) * Math.cos(lon / 2));
    const x = 2 * Math.SQRT2 * Math.cos(lat) * Math.sin(lon / 2) / z;
    const y = Math.SQRT2 * Math.sin(lat) / z;
    return [180 + x * 90 / (2 * Math.SQRT2), 90 - y * 45 / Math.SQRT2];
  }

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "errors" : "muted";
  }

  function when(alert) {
    return alert.event_time || alert.trigger_time || alert.alert_datetime || "";
  }

  function show(message) {
    const alert = message.alert || {};
    const item = document.createElement("li");
    item.dataset.alert = message.id;
    const link = document.createElement("a");
    link.href = "/alerts/" + encodeURIComponent(message.id);
    link.textContent = message.topic;
    const meta = document.createElement("div");
    meta.className = "meta";
    const hasPosition = typeof alert.ra === "number" && typeof alert.dec === "number";
    const position = hasPosition
      ? `RA ${alert.ra.toFixed(3)}°, Dec ${alert.dec.toFixed(3)}°` +
        (typeof alert.ra_dec_error === "number" ? ` ± ${alert.ra_dec_error.toPrecision(3)}°` : "")
      : "no position";
    meta.textContent = `${when(alert) || "time not given"} · ${position}`;
    item.append(link, meta);
    feed.prepend(item);
    while (feed.children.length > MAX_SHOWN) feed.lastElementChild.remove();
    if (hasPosition) plot(message, alert);
  }

  function plot(message, alert) {
    const [x, y] = project(alert.ra, alert.dec);
    for (const old of markers.querySelectorAll(".fresh")) old.classList.remove("fresh");
    const anchor = document.createElementNS(SVG, "a");
    anchor.setAttribute("href", "/alerts/" + encodeURIComponent(message.id));
    anchor.setAttribute("aria-label", `${message.topic} ${message.id}`);
    anchor.dataset.alert = message.id;
    if (typeof alert.ra_dec_error === "number" && alert.ra_dec_error > 1) {
      const circle = document.createElementNS(SVG, "circle");
      circle.setAttribute("class", "error-circle");
      circle.setAttribute("cx", x.toFixed(2));
      circle.setAttribute("cy", y.toFixed(2));
      circle.setAttribute("r", Math.min(40, alert.ra_dec_error).toFixed(2));
      anchor.append(circle);
    }
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("class", "alert fresh");
    dot.setAttribute("cx", x.toFixed(2));
    dot.setAttribute("cy", y.toFixed(2));
    dot.setAttribute("r", "2.5");
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${message.topic} ${message.id}`;
    dot.append(title);
    anchor.append(dot);
    markers.append(anchor);
    while (markers.children.length > MAX_SHOWN) markers.firstElementChild.remove();
  }

  function request() {
    const data = new FormData(form);
    const picked = data.getAll("topic");
    if (!picked.length) throw new Error("pick at least one topic");
    // Every box ticked is "every topic I may read": one wildcard, however long the catalog.
    const all = picked.length === form.querySelectorAll('input[name="topic"]').length;
    const topics = all ? ["*"] : picked;
    const subscribe = { type: "subscribe", topics, format: "json", test: data.get("test") === "1" };
    const text = String(data.get("filter") || "").trim();
    if (text) {
      try {
        subscribe.filter = JSON.parse(text);
      } catch (error) {
        throw new Error("the filter is not valid JSON: " + error.message);
      }
    }
    const since = data.get("since");
    subscribe.since = since === "now" ? "now" : { last: Number(since) };
    return subscribe;
  }

  function connect() {
    let subscribe;
    try {
      subscribe = request();
    } catch (error) {
      say(error.message, true);
      return;
    }
    if (socket) socket.close(1000, "new subscription");
    // The server says where the feed is: this host, or the feed's own server on another port.
    const mine = new WebSocket(status.dataset.streamUrl);
    socket = mine;
    say("Connecting…", false);
    status.dataset.state = "connecting";
    mine.addEventListener("open", () => mine.send(JSON.stringify(subscribe)));
    mine.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "subscribed") {
        say(`Watching ${message.topics.length} topic${message.topics.length === 1 ? "" : "s"}.`, false);
        status.dataset.state = "subscribed";
      } else if (message.type === "alert") {
        show(message);
      } else if (message.type === "error") {
        say(message.message, true);
      }
    });
    mine.addEventListener("close", (event) => {
      if (socket !== mine) return;
      status.dataset.state = "closed";
      if (event.code !== 1000) say(`Disconnected (${event.code}): ${event.reason || "connection lost"}`, true);
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    connect();
  });
  if (status.dataset.loggedIn === "yes") connect();
})();
