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
