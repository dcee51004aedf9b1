// Keeps the home page's broker status current by polling /api/v1/status.
"use strict";
(function () {
  const box = document.getElementById("heartbeat");
  if (!box) return;
  const state = document.getElementById("heartbeat-state");
  const age = document.getElementById("heartbeat-age");

  function show(ok, text, detail) {
    const span = document.createElement("span");
    span.className = "status " + (ok ? "ok" : "bad");
    span.textContent = text;
    state.replaceChildren(span);
    age.textContent = detail;
  }

  async function refresh() {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      const body = await response.json();
      const seconds = body.heartbeat_age_seconds;
      const beating = seconds !== null && seconds < 60;
      show(beating, beating ? "Heartbeat: beating" : "Heartbeat: silent",
        seconds === null ? "no heartbeat reported yet" : `last beat reported ${Math.round(seconds)} s ago`);
    } catch (error) {
      show(false, "Broker unreachable", String(error));
    }
  }
  setInterval(refresh, 5000);
})();
