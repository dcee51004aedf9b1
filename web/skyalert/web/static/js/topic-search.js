// Topic search: narrow a long topic list as you type (mission, instrument, messenger, name).
// The same rule as the server's `?q=` (portal/topics.py, topic_matches): every word must occur.
"use strict";
(function () {
  for (const input of document.querySelectorAll("input[data-topic-search]")) {
    const root = document.querySelector(input.dataset.target);
    const count = document.getElementById(input.dataset.count);
    if (!root) continue;
    const items = root.querySelectorAll("[data-search]");
    const groups = root.querySelectorAll("[data-topic-group]");
    const update = () => {
      const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const item of items) {
        const match = words.every((word) => item.dataset.search.includes(word));
        item.hidden = !match;
        shown += match ? 1 : 0;
      }
      for (const group of groups) {
        group.hidden = !group.querySelector("[data-search]:not([hidden])");
      }
      if (count) count.textContent = `${shown} of ${items.length} topics`;
    };
    input.addEventListener("input", update);
    // Enter searches in place; without JavaScript the form asks the server instead.
    input.form?.addEventListener("submit", (event) => {
      if (input.form.dataset.live === "yes") event.preventDefault();
      update();
    });
    update();
  }
})();
