// Quickstart: the running total of alerts per day while topics are picked, and copy buttons.
"use strict";
(function () {
  const form = document.getElementById("quickstart-form");
  if (form) {
    const boxes = form.querySelectorAll('input[name="topic"]');
    const count = document.getElementById("total-topics");
    const rate = document.getElementById("total-rate");
    const update = () => {
      let topics = 0;
      let perDay = 0;
      for (const box of boxes) {
        if (box.checked) {
          topics += 1;
          perDay += Number(box.dataset.rate) || 0;
        }
      }
      count.textContent = String(topics);
      rate.textContent = perDay.toFixed(1);
    };
    form.addEventListener("change", update);
    update();
  }
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const code = document.getElementById(button.dataset.copy);
      const note = button.parentElement.querySelector(".copied");
      try {
        await navigator.clipboard.writeText(code.textContent);
        note.textContent = "Copied.";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(code);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        note.textContent = "Selected: press Ctrl+C to copy.";
      }
    });
  }
})();
