// Live preview of a circular's body: the server renders and sanitises it (nh3), as the page will.
(() => {
  const form = document.getElementById("circular-form");
  const target = document.getElementById("circular-preview");
  if (!form || !target) return;
  let timer = null;
  const refresh = async () => {
    const data = new FormData();
    data.set("body", form.elements.body.value);
    data.set("format", form.elements.format.value);
    const response = await fetch("/circulars/preview", {
      method: "POST",
      body: data,
      headers: { "X-CSRF-Token": form.elements.csrf_token.value },
      credentials: "same-origin",
    });
    if (response.ok) target.innerHTML = await response.text();
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  };
  form.elements.body.addEventListener("input", later);
  form.elements.format.addEventListener("change", later);
  if (form.elements.body.value) refresh();
})();
