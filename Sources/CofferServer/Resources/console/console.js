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

  // ---- Live tables: poll the state endpoint every 1.5 s while a backup or restore runs.
  const section = document.querySelector("[data-poll]");
  if (!section) return;
  const url = section.dataset.poll;
  const live = document.getElementById("live");
  let timer = null;

  function schedule(delay) {
    if (timer === null) timer = window.setTimeout(poll, delay);
  }

  async function poll() {
    timer = null;
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
    document.getElementById("backup-rows").innerHTML = state.backups_html;
    document.getElementById("restore-rows").innerHTML = state.restores_html;
    section.dataset.running = String(state.running);
    const badge = document.getElementById("instance-state");
    if (badge) {
      // What runs on the instance now, else its own status (as on the instances page).
      const word = state.task || badge.dataset.idle;
      badge.textContent = word;
      badge.className = "badge " + (state.task ? "busy" : (word === "RUNNING" ? "ok" : "fail"));
    }
    if (live) live.hidden = !state.running;
    if (state.running) schedule(1500);
  }

  if (section.dataset.running === "true") {
    if (live) live.hidden = false;
    schedule(1000);
  }
})();
