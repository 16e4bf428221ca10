// Parley moderation pages: keyboard shortcuts, bulk selection, word-list preview and rescan progress.
// Progressive enhancement only: every action also works as a plain form without this file.
// User text is never inserted as HTML here (textContent only).
"use strict";

(function () {
  const FOCUS_KEY = "parley.focus";
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  const NOT_TEXT = ["checkbox", "radio", "submit", "button", "reset", "image", "file", "range", "color"];

  function isTyping(target) {
    if (!(target instanceof HTMLElement)) return false;
    if (target.tagName === "INPUT") return !NOT_TEXT.includes(target.type);
    return target.isContentEditable || ["TEXTAREA", "SELECT"].includes(target.tagName);
  }

  function remember(index) {
    try {
      sessionStorage.setItem(FOCUS_KEY, JSON.stringify({ path: location.pathname, index }));
    } catch (_) { /* storage may be disabled; focus then simply starts at the top */ }
  }

  function recall() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(FOCUS_KEY) || "null");
      sessionStorage.removeItem(FOCUS_KEY);
      return saved && saved.path === location.pathname ? saved.index : null;
    } catch (_) {
      return null;
    }
  }

  // ---- Cards and keyboard shortcuts ---------------------------------------------------------

  function setupQueue() {
    const cards = Array.from(document.querySelectorAll(".card[data-comment-id]"));
    const help = document.getElementById("help");
    let current = -1;

    function select(index, scroll = true) {
      if (!cards.length) return;
      current = Math.max(0, Math.min(index, cards.length - 1));
      cards.forEach((card, i) => card.classList.toggle("current", i === current));
      const card = cards[current];
      card.focus({ preventScroll: true });
      if (scroll) card.scrollIntoView({ block: "nearest", behavior: "auto" });
    }

    function submit(action) {
      const card = cards[current];
      const button = card?.querySelector(`form.decide button[value="${action}"]`);
      if (!button) return;
      // After the redirect, focus the card that takes this one's place.
      remember(current);
      button.form.requestSubmit(button);
    }

    function toggleHelp() {
      if (!help) return;
      if (help.open) help.close();
      else help.showModal();
    }

    cards.forEach((card, i) => {
      card.addEventListener("focusin", () => {
        current = i;
        cards.forEach((other, j) => other.classList.toggle("current", j === i));
      });
      card.querySelectorAll("form.decide button").forEach((button) =>
        button.addEventListener("click", () => remember(i)));
      const reason = card.querySelector(".reason-input");
      reason?.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.preventDefault();
          select(i, false);
        }
      });
    });

    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
      if (help?.open && event.key !== "?") return;
      const card = cards[current];
      switch (event.key) {
        case "j": select(current + 1); break;
        case "k": select(current < 0 ? 0 : current - 1); break;
        case "a": if (card) submit("approve"); else return; break;
        case "r": if (card) submit("reject"); else return; break;
        case "x": {
          const box = card?.querySelector(".select-box");
          if (!box) return;
          box.checked = !box.checked;
          box.dispatchEvent(new Event("change", { bubbles: true }));
          break;
        }
        case "e": {
          const reason = card?.querySelector(".reason-input");
          if (!reason) return;
          reason.focus();
          break;
        }
        case "o": {
          const link = card?.querySelector("a.cid");
          if (!link) return;
          location.assign(link.href);
          break;
        }
        case "?": toggleHelp(); break;
        default: return;
      }
      event.preventDefault();
    });

    const index = recall();
    if (index !== null && cards.length) select(index);
  }

  // ---- Bulk selection -----------------------------------------------------------------------

  function setupBulk() {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    const boxes = Array.from(document.querySelectorAll(".select-box"));
    const all = document.getElementById("select-all");
    const counter = document.getElementById("selected-count");

    function refresh() {
      const chosen = boxes.filter((box) => box.checked).length;
      boxes.forEach((box) => box.closest(".card")?.classList.toggle("selected", box.checked));
      if (counter) counter.textContent = chosen ? `${chosen} selected` : "";
      if (all) {
        all.checked = boxes.length > 0 && chosen === boxes.length;
        all.indeterminate = chosen > 0 && chosen < boxes.length;
      }
    }

    if (all) {
      all.disabled = boxes.length === 0;
      all.addEventListener("change", () => {
        boxes.forEach((box) => { box.checked = all.checked; });
        refresh();
      });
    }
    boxes.forEach((box) => box.addEventListener("change", refresh));
    refresh();
  }

  function setupConfirm() {
    document.querySelectorAll("button[data-confirm]").forEach((button) => {
      button.addEventListener("click", (event) => {
        if (!window.confirm(button.dataset.confirm)) event.preventDefault();
      });
    });
  }

  // ---- Jobs: word-list preview and rescan ----------------------------------------------------

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const fields = data.error?.fields ? Object.values(data.error.fields).join("; ") : "";
      throw new Error(fields || data.error?.message || `HTTP ${response.status}`);
    }
    return { data, location: response.headers.get("Location") };
  }

  async function follow(url, onProgress) {
    const started = Date.now();
    for (;;) {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const job = await response.json();
      onProgress(job);
      if (job.status === "done" || job.status === "failed") return job;
      if (Date.now() - started > 10 * 60 * 1000) throw new Error("gave up waiting for the job");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  function progressText(job) {
    if (job.status === "queued") return "Queued, waiting for a worker…";
    if (job.total == null) return "Starting…";
    return `${job.done} of ${job.total} undecided comments checked…`;
  }

  function setupPreview() {
    const button = document.getElementById("preview-button");
    const output = document.getElementById("preview-result");
    if (!button || !output) return;
    button.addEventListener("click", async (event) => {
      const form = button.form;
      event.preventDefault();
      if (!form.reportValidity()) return;
      const change = { op: form.elements.op.value, kind: form.elements.kind.value, word: form.elements.word.value };
      output.hidden = false;
      output.textContent = "Starting the preview…";
      button.disabled = true;
      try {
        const { data, location: url } = await postJson(button.dataset.api, change);
        const job = await follow(url || `/api/moderation/jobs/${data.id}`, (j) => { output.textContent = progressText(j); });
        if (job.status === "failed") throw new Error("the preview job failed");
        const verb = change.op === "add" ? `Adding “${change.word}” to` : `Removing “${change.word}” from`;
        output.textContent = `${verb} the ${change.kind} words would flag ${job.result.would_flag} ` +
          `and unflag ${job.result.would_unflag} undecided comments (of ${job.total}).`;
      } catch (error) {
        output.textContent = `Preview failed: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
  }

  function setupRescan() {
    const form = document.getElementById("rescan-form");
    const box = document.getElementById("rescan-progress");
    if (!form || !box) return;
    const bar = box.querySelector("progress");
    const text = box.querySelector(".progress-text");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      box.hidden = false;
      bar.removeAttribute("value");
      text.textContent = "Starting the rescan…";
      try {
        const { data, location: url } = await postJson(form.dataset.api, {});
        const job = await follow(url || `/api/moderation/jobs/${data.id}`, (j) => {
          if (j.total) {
            bar.max = j.total;
            bar.value = j.done;
          }
          text.textContent = progressText(j);
        });
        if (job.status === "failed") throw new Error("the rescan job failed");
        bar.max = 1;
        bar.value = 1;
        text.textContent = `Rescan done: ${job.result.flagged} flagged, ${job.result.unflagged} unflagged ` +
          `(${job.total} undecided comments checked).`;
      } catch (error) {
        text.textContent = `Rescan failed: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupQueue();
    setupBulk();
    setupConfirm();
    setupPreview();
    setupRescan();
  });
})();
