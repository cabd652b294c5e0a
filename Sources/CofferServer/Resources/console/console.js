// Coffer web console: the restore confirmation and the live backup/restore tables. No framework, no build step.
"use strict";

(function () {
  // ---- Restore: a confirmation that names what will be overwritten.
  const dialog = document.getElementById("restore-dialog");
  if (dialog) {
    const form = document.getElementById("restore-form");
    const text = document.getElementById("restore-text");
    document.addEventListener("click", function (event) {
      const button = event.target.closest("[data-restore]");
      if (!button) return;
      form.action = button.dataset.restore;
      text.replaceChildren();
      const strong = (value) => { const s = document.createElement("strong"); s.textContent = value; return s; };
      text.append(
        "Every key in instance ", strong(dialog.dataset.instanceName), " at ", strong(dialog.dataset.instanceAddress),
        " will be replaced by backup ", strong(button.dataset.backupName), " taken ", strong(button.dataset.backupTime),
        ". Data written since then is lost."
      );
      dialog.showModal();
    });
    document.getElementById("restore-cancel").addEventListener("click", () => dialog.close());
  }

  // ---- Live tables: poll the page's state endpoint every 1.5 s while a backup or restore runs (and, slower, while
  // idle, so that work started elsewhere shows up); the endpoint answers the tables' rows rendered by the server.
  const section = document.querySelector("[data-poll]");
  if (!section) return;
  const url = section.dataset.poll;
  const idlePoll = Number(section.dataset.idlePoll || "0");
  const live = document.getElementById("live");
  const busyPoll = 1500;
  let timer = null;

  function schedule(delay) {
    if (timer === null && delay > 0) timer = window.setTimeout(poll, delay);
  }

  function render(state) {
    for (const [id, html] of Object.entries(state.html || {})) {
      const element = document.getElementById(id);
      if (element) element.innerHTML = html;
    }
    section.dataset.running = String(state.running);
    if (live) live.hidden = !state.running;
    const badge = document.getElementById("instance-state");
    if (badge && "task" in state) {
      // What runs on the instance now, else its own status (as on the instances page).
      const word = state.task || badge.dataset.idle;
      badge.textContent = word;
      badge.className = "badge " + (state.task ? "busy" : (word === "RUNNING" ? "ok" : "fail"));
    }
  }

  async function poll() {
    timer = null;
    if (document.hidden) { schedule(busyPoll); return; }
    let state;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401) { window.location.assign("/console/login"); return; }
      if (!response.ok) { schedule(5000); return; }
      state = await response.json();
    } catch (error) {
      schedule(5000);
      return;
    }
    // A dialog open on a row keeps working: it lives outside the tables.
    render(state);
    schedule(state.running ? busyPoll : idlePoll);
  }

  const running = section.dataset.running === "true";
  if (live) live.hidden = !running;
  schedule(running ? 1000 : idlePoll);
})();
