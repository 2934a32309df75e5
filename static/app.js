// The upload page: choose or drop a photo, post it with fetch, show the result with a before/after slider.
// Without JavaScript the form posts normally and the browser shows the returned image.
"use strict";

document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  const form = $("upload"), input = $("image"), drop = $("drop"), submit = $("submit");
  const status = $("status"), statusText = $("status-text"), error = $("error");
  const result = $("result"), compare = $("compare"), before = $("before"), after = $("after");
  const slider = $("slider"), download = $("download");
  const maxBytes = Number(form.dataset.maxBytes);
  let beforeUrl = null, afterUrl = null, timer = null;

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function setSplit(percent) {
    after.style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
    compare.style.setProperty("--split", `${percent}%`);
  }

  function chosen(file) {
    showError("");
    if (!file) return;
    $("file-name").textContent = file.name;
    if (file.type && !file.type.startsWith("image/")) {
      showError(`"${file.name}" is not an image. Choose a JPEG, PNG, WebP, GIF, BMP or TIFF file.`);
      return;
    }
    if (file.size > maxBytes) {
      showError(`"${file.name}" is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ${Math.round(maxBytes / 2 ** 20)} MB.`);
      return;
    }
    if (beforeUrl) URL.revokeObjectURL(beforeUrl);
    beforeUrl = URL.createObjectURL(file);
    before.src = beforeUrl;
    after.removeAttribute("src");
    compare.classList.add("pending");
    download.removeAttribute("href");
    download.hidden = true;
    result.hidden = false;
  }

  input.addEventListener("change", () => chosen(input.files[0]));

  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("dragging"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("dragging"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    chosen(input.files[0]);
  });

  slider.addEventListener("input", () => setSplit(Number(slider.value)));

  $("again").addEventListener("click", () => {
    form.reset();
    $("file-name").textContent = "";
    result.hidden = true;
    showError("");
    input.focus();
  });

  function busy(on) {
    submit.disabled = on;
    status.hidden = !on;
    form.setAttribute("aria-busy", String(on));
    clearInterval(timer);
    if (on) {
      const started = performance.now();
      statusText.textContent = "Colorizing…";
      timer = setInterval(() => {
        statusText.textContent = `Colorizing… ${((performance.now() - started) / 1000).toFixed(1)} s`;
      }, 100);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) { showError("Choose a photo first."); return; }
    if (!error.hidden) return;  // the chosen file was already refused, and the message says why
    busy(true);
    try {
      const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        let message = `The server answered ${response.status}.`;
        try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
        showError(message);
        return;
      }
      const blob = await response.blob();
      if (afterUrl) URL.revokeObjectURL(afterUrl);
      afterUrl = URL.createObjectURL(blob);
      await new Promise((resolve, reject) => { after.onload = resolve; after.onerror = reject; after.src = afterUrl; });
      compare.classList.remove("pending");
      slider.value = 50;
      setSplit(50);
      download.href = afterUrl;
      download.download = file.name.replace(/\.[^.]*$/, "") + "-color.jpg";
      download.hidden = false;
      result.scrollIntoView({ behavior: "smooth", block: "nearest" });
    } catch (failure) {
      showError("The photo could not be sent: check your connection and try again.");
    } finally {
      busy(false);
    }
  });
});
