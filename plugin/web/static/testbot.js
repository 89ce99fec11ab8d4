// The test-bot page: only what htmx does not do. The live timeline beside
// the chat is app.js's (the profile's); this file keeps the chat usable.
"use strict";

// Another channel means another test user: the form that starts over is
// sent as soon as one is chosen (the hint under it says so).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.id === "channel" && target.form) {
    target.form.requestSubmit();
  }
});

// As on a real channel, quick replies go once the user answers: only the
// latest can be tapped. Buttons stay (a saved scenario taps an earlier
// message's button with "earlier: true").
function onlyLatestChoices() {
  const items = Array.from(document.querySelectorAll("#chat-log > li.msg"));
  let lastUser = -1;
  items.forEach((item, index) => { if (item.classList.contains("user")) lastUser = index; });
  items.forEach((item, index) => {
    item.querySelectorAll(".quick button.choice").forEach((button) => { button.disabled = index < lastUser; });
  });
  const log = document.getElementById("chat-log");
  if (log && items.length) items[items.length - 1].scrollIntoView({ block: "nearest" });
  if (log) log.scrollTop = log.scrollHeight;
}
document.addEventListener("DOMContentLoaded", onlyLatestChoices);

// After a turn: the field empties and keeps the focus.
document.addEventListener("htmx:afterRequest", (event) => {
  const source = event.detail.elt;
  if (!(source instanceof HTMLElement) || !event.detail.successful) return;
  if (source.id === "chat-form" || source.classList.contains("choice")) {
    const form = document.getElementById("chat-form");
    if (source.id === "chat-form" && form instanceof HTMLFormElement) form.reset();
    onlyLatestChoices();
    const field = document.getElementById("chat-message");
    if (field) field.focus();
  }
});
