// The web tab's own script: only what htmx does not do. No inline script
// anywhere (the Content-Security-Policy forbids it), so behaviour hangs on
// ids and classes.
"use strict";

// Selecting users for "Add to segment": "Select all on this page" ticks every
// row; once it is ticked, "Select all N matching" can extend the selection to
// every user the view matches (the server resolves them).
function syncSelection() {
  const page = document.getElementById("select-page");
  const matching = document.getElementById("select-matching");
  const all = document.getElementById("all-matching");
  if (!page || !matching || !all) return;
  const boxes = Array.from(document.querySelectorAll("input.select-user"));
  page.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  matching.hidden = !page.checked;
  if (!page.checked) {
    all.value = "";
    matching.setAttribute("aria-pressed", "false");
  }
}

document.addEventListener("change", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLInputElement)) return;
  if (target.id === "select-page") {
    document.querySelectorAll("input.select-user").forEach((b) => { b.checked = target.checked; });
  }
  if (target.id === "select-page" || target.classList.contains("select-user")) syncSelection();
});

document.addEventListener("click", (event) => {
  const button = event.target;
  if (!(button instanceof HTMLElement) || button.id !== "select-matching") return;
  const all = document.getElementById("all-matching");
  const on = button.getAttribute("aria-pressed") !== "true";
  button.setAttribute("aria-pressed", on ? "true" : "false");
  if (all) all.value = on ? "1" : "";
});

// The profile's live transcript: new events arrive as server-sent events
// (HTML the server rendered, escaped there) and go on top, once each.
function startLive(transcript) {
  if (!transcript || !transcript.dataset.live || transcript.dataset.streaming || !window.EventSource) return;
  transcript.dataset.streaming = "true";
  const source = new EventSource(transcript.dataset.live);
  source.addEventListener("events", (event) => {
    if (!transcript.isConnected) { source.close(); return; }
    const template = document.createElement("template");
    template.innerHTML = event.data;
    const items = Array.from(template.content.children).reverse();
    for (const item of items) {
      if (!item.id || !document.getElementById(item.id)) transcript.prepend(item);
    }
  });
  source.addEventListener("holder", (event) => {
    const holder = document.getElementById("holder");
    if (holder) holder.textContent = event.data === "bot" ? "the bot" : event.data.replace(/^human:/, "");
    const assigned = document.getElementById("assigned-to");
    if (assigned) assigned.textContent = event.data;
  });
}
document.addEventListener("DOMContentLoaded", () => startLive(document.getElementById("transcript")));
// A transcript htmx swaps in (the test-bot page's, once its test user exists) goes live too.
document.addEventListener("htmx:load", (event) => {
  const element = event.detail.elt;
  if (element instanceof Element) startLive(element.matches("ol[data-live]") ? element : element.querySelector("ol[data-live]"));
});

// The agent's message field empties once the message is sent.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.id === "send-form" && event.detail.successful) {
    form.reset();
    const field = document.getElementById("message");
    if (field) field.focus();
  }
});

// Dialogs: a button with data-opens="ID" opens the <dialog id="ID"> modally
// (focus moves into it, Escape closes it); a button with data-closes closes
// the dialog it is in. Delegated, so dialogs htmx swaps in work too.
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const opener = target && target.closest("[data-opens]");
  if (opener) {
    const dialog = document.getElementById(opener.getAttribute("data-opens"));
    if (dialog instanceof HTMLDialogElement && !dialog.open) dialog.showModal();
    return;
  }
  const closer = target && target.closest("[data-closes]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) dialog.close();
  }
});
