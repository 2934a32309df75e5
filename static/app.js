// The upload page: choose or drop a photo, colorize it with fetch, compare it with the original, fix colors with
// points (click, drag, recolor, remove) and a vividness slider; each change is colorized again at once.
// The server keeps nothing: this page holds the photo and the points. For speed, edits send a reduced copy of the
// photo (at most PREVIEW_SIDE on its long side); the download sends the full photo with the same points.
// Without JavaScript the form posts normally (vividness included, no points) and the browser shows the image.
"use strict";

document.documentElement.classList.add("js");

const PREVIEW_SIDE = 1024;
const SWATCHES = [
  ["#c0392b", "red"], ["#e67e22", "orange"], ["#f1c40f", "yellow"], ["#6b8e23", "olive"], ["#2e8b57", "green"],
  ["#16a085", "teal"], ["#5dade2", "sky blue"], ["#2e59c6", "blue"], ["#1f3a6e", "navy"], ["#7d3c98", "purple"],
  ["#e08cb4", "pink"], ["#d9a27e", "skin"], ["#8b5a2b", "brown"], ["#d8c3a5", "beige"], ["#808080", "gray (no color)"],
];

document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  const form = $("upload"), input = $("image"), drop = $("drop"), submit = $("submit"), size = $("size");
  const status = $("status"), statusText = $("status-text"), error = $("error"), notice = $("notice");
  const result = $("result"), figure = $("figure"), compare = $("compare"), before = $("before"), after = $("after");
  const slider = $("slider"), legend = $("legend"), actions = $("actions"), download = $("download");
  const editor = $("editor"), pointsLayer = $("points"), picker = $("picker"), color = $("color");
  const vividness = $("vividness"), vividnessValue = $("vividness-value"), noPreview = $("no-preview");
  const maxBytes = Number(form.dataset.maxBytes), maxPoints = Number(form.dataset.maxHints);
  const takesHints = form.dataset.hints === "yes", formatNames = form.dataset.formatNames;

  // Everything about the current photo; reset when another is chosen.
  let photo = null;  // {file, name, full: {w, h} | null, preview: Blob | null, previewSize, beforeUrl}
  let points = [], selected = null, nextId = 1;
  let resultUrl = null, hasResult = false;
  let busyCount = 0, inFlight = false, again = false, timer = null, debounce = null;

  // ----- messages and the busy indicator
  function showError(message) {
    error.textContent = message || "";
    error.hidden = !message;
  }

  function busy(on, text) {
    busyCount += on ? 1 : -1;
    const active = busyCount > 0;
    submit.disabled = active && !hasResult;
    status.hidden = !active;
    compare.classList.toggle("busy", active && hasResult);
    form.setAttribute("aria-busy", String(active));
    clearInterval(timer);
    if (active) {
      const started = performance.now();
      statusText.textContent = text;
      timer = setInterval(() => {
        statusText.textContent = `${text} ${((performance.now() - started) / 1000).toFixed(1)} s`;
      }, 100);
    }
  }

  async function errorMessage(response) {
    let message = `The server answered ${response.status}.`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    return message;
  }

  // ----- choosing a photo
  function resetResult() {
    hasResult = false;
    result.hidden = true;
    legend.hidden = editor.hidden = actions.hidden = true;
    noPreview.hidden = true;
    notice.hidden = true;
    compare.classList.add("pending");
    after.removeAttribute("src");
    before.removeAttribute("src");
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    if (photo && photo.beforeUrl) URL.revokeObjectURL(photo.beforeUrl);
    resultUrl = null;
    points = [];
    selected = null;
    drawPoints();
  }

  function refuse(message) {
    resetResult();
    photo = null;
    showError(message);
  }

  async function chosen(file) {
    showError("");
    resetResult();
    photo = null;
    if (!file) return;
    $("file-name").textContent = file.name;
    if (file.type && !file.type.startsWith("image/")) {
      refuse(`"${file.name}" is not an image. Choose a ${formatNames} file.`);
      return;
    }
    if (file.size > maxBytes) {
      refuse(`"${file.name}" is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit is ${(maxBytes / 2 ** 20).toFixed(0)} MiB.`);
      return;
    }
    const current = photo = { file, name: file.name, full: null, preview: null, previewSize: null, beforeUrl: null };
    current.beforeUrl = URL.createObjectURL(file);
    result.hidden = false;
    try {
      await loadImage(before, current.beforeUrl);
    } catch (_) {  // a format the browser cannot show (TIFF, HEIC): the server still reads it
      if (photo !== current) return;
      before.removeAttribute("src");
      noPreview.hidden = false;
      return;
    }
    if (photo !== current) return;
    current.full = { w: before.naturalWidth, h: before.naturalHeight };
    setAspect(current.full);
    const reduced = await reducedCopy(before, current.full);
    if (photo !== current) return;
    current.preview = reduced.blob;
    current.previewSize = reduced.size;
    if (reduced.colorful) {
      notice.textContent = "This photo is in color: its colors will be replaced by the model's.";
      notice.hidden = false;
    }
  }

  function loadImage(img, url) {
    return new Promise((resolve, reject) => {
      img.onload = () => resolve(img);
      img.onerror = reject;
      img.src = url;
    });
  }

  function setAspect(full) {
    figure.style.setProperty("--aspect", String(full.w / full.h));
  }

  // A copy at most PREVIEW_SIDE on its long side, for quick edits (null blob: send the file itself); and whether
  // the photo has colors of its own.
  async function reducedCopy(img, full) {
    const scale = Math.min(1, PREVIEW_SIDE / Math.max(full.w, full.h));
    const w = Math.max(1, Math.round(full.w * scale)), h = Math.max(1, Math.round(full.h * scale));
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(img, 0, 0, w, h);
    const colorful = hasColor(context.getImageData(0, 0, w, h).data);
    if (scale === 1) return { blob: null, size: full, colorful };
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
    return { blob, size: { w, h }, colorful };
  }

  function hasColor(data) {
    let colored = 0, total = 0;
    const step = Math.max(4, 4 * Math.floor(data.length / 4 / 20000));  // about 20,000 pixels
    for (let i = 0; i < data.length; i += step) {
      const r = data[i], g = data[i + 1], b = data[i + 2];
      if (Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b)) > 24) colored++;
      total++;
    }
    return colored > 0.02 * total;
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

  // ----- colorizing: one request at a time; a change during a request is colorized right after it
  function request(full) {
    const body = new FormData();
    const useFile = full || !photo.preview;
    body.append("image", useFile ? photo.file : photo.preview, photo.name);
    body.append("size", size.value);
    body.append("format", "jpeg");
    body.append("vividness", vividness.value);
    const target = useFile ? photo.full : photo.previewSize;
    if (points.length && photo.full && target) {
      body.append("hints", JSON.stringify(points.map((p) => ({
        x: Math.min(target.w - 1, Math.round(p.x * target.w / photo.full.w)),
        y: Math.min(target.h - 1, Math.round(p.y * target.h / photo.full.h)),
        color: p.color,
      }))));
    }
    return fetch(form.action, { method: "POST", body, headers: { Accept: "application/json" } });
  }

  // compare.dataset.settled: "no" from a change until its result is shown (tests and assistive tools can wait on it)
  function settled(yes) {
    compare.dataset.settled = yes ? "yes" : "no";
  }

  async function render() {
    clearTimeout(debounce);  // this render sends the latest state: a change waiting to be sent is in it
    debounce = null;
    if (!photo) { settled(true); return; }
    settled(false);
    if (inFlight) { again = true; return; }
    inFlight = true;
    const current = photo;
    busy(true, hasResult ? "Updating…" : "Colorizing…");
    try {
      const response = await request(false);
      if (photo !== current) return;
      if (!response.ok) { failed(current, await errorMessage(response)); return; }
      const url = URL.createObjectURL(await response.blob());
      await loadImage(after, url);
      if (photo !== current) { URL.revokeObjectURL(url); return; }
      if (resultUrl) URL.revokeObjectURL(resultUrl);
      resultUrl = url;
      showError("");
      if (!hasResult) await firstResult(current);
    } catch (failure) {
      if (photo === current) failed(current, "The photo could not be sent: check your connection and try again.");
    } finally {
      busy(false);
      inFlight = false;
      if (again) { again = false; render(); } else if (debounce === null) settled(true);
    }
  }

  // A request that failed: its message; and before any result, nothing that looks like one. A photo the browser
  // could not show has nothing to keep on screen at all.
  function failed(current, message) {
    showError(message);
    if (!hasResult && !current.full) result.hidden = true;
  }

  async function firstResult(current) {
    if (!current.full) {  // the browser could not show the photo: the result has its size, and its lightness
      current.full = { w: after.naturalWidth, h: after.naturalHeight };
      current.previewSize = current.full;
      setAspect(current.full);
      await loadImage(before, await grayOf(after));
      noPreview.hidden = true;
    }
    hasResult = true;
    compare.classList.remove("pending");
    slider.value = 50;
    setSplit(50);
    legend.hidden = actions.hidden = false;
    editor.hidden = !takesHints;
    download.download = current.name.replace(/\.[^.]*$/, "") + "-color.jpg";
    const still = matchMedia("(prefers-reduced-motion: reduce)").matches;
    result.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "nearest" });
  }

  // The gray original of a photo the browser cannot show: the result's own lightness (same relative luminance).
  async function grayOf(img) {
    const scale = Math.min(1, PREVIEW_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0, canvas.width, canvas.height);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const linear = Array.from({ length: 256 }, (_, v) => {
      const c = v / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    const data = pixels.data;
    for (let i = 0; i < data.length; i += 4) {
      const y = 0.2126 * linear[data[i]] + 0.7152 * linear[data[i + 1]] + 0.0722 * linear[data[i + 2]];
      const v = Math.round(255 * (y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055));
      data[i] = data[i + 1] = data[i + 2] = v;
    }
    context.putImageData(pixels, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    photo.beforeUrl = URL.createObjectURL(blob);
    return photo.beforeUrl;
  }

  function scheduleRender(delay = 150) {
    settled(false);
    clearTimeout(debounce);
    debounce = setTimeout(render, delay);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.files[0]) { showError("Choose a photo first."); return; }
    if (!photo) { chosen(input.files[0]).then(() => photo && render()); return; }  // refused before: try again
    render();
  });

  // ----- compare slider and vividness
  function setSplit(percent) {
    after.style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
    compare.style.setProperty("--split", `${percent}%`);
  }
  slider.addEventListener("input", () => setSplit(Number(slider.value)));

  vividness.addEventListener("input", () => {
    vividnessValue.textContent = Number(vividness.value).toFixed(2);
    if (hasResult) scheduleRender(250);
  });

  // ----- color points, in the full photo's pixels
  function pointAt(event) {
    const box = after.getBoundingClientRect();
    const fx = Math.min(0.9999, Math.max(0, (event.clientX - box.left) / box.width));
    const fy = Math.min(0.9999, Math.max(0, (event.clientY - box.top) / box.height));
    return { x: Math.floor(fx * photo.full.w), y: Math.floor(fy * photo.full.h) };
  }

  function colorAt(x, y) {  // the result's color there: a new point starts as what the photo shows
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 1;
    const context = canvas.getContext("2d");
    context.drawImage(after, x * after.naturalWidth / photo.full.w, y * after.naturalHeight / photo.full.h, 1, 1,
                      0, 0, 1, 1);
    const [r, g, b] = context.getImageData(0, 0, 1, 1).data;
    return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
  }

  function addPoint(x, y) {
    if (points.length >= maxPoints) {
      showError(`At most ${maxPoints} points: remove one to add another.`);
      return;
    }
    const point = { id: nextId++, x, y, color: colorAt(x, y) };
    points.push(point);
    drawPoints();
    select(point.id, true);
    scheduleRender(0);
  }

  function marker(id) {
    return pointsLayer.querySelector(`[data-id="${id}"]`);
  }

  function select(id, focus) {
    selected = id;
    for (const each of pointsLayer.children) each.classList.toggle("selected", Number(each.dataset.id) === id);
    const point = points.find((p) => p.id === id);
    picker.hidden = !point;
    if (!point) return;
    $("picker-title").textContent = `Color of point ${points.indexOf(point) + 1}`;
    color.value = point.color;
    for (const swatch of document.querySelectorAll(".swatch")) {
      swatch.setAttribute("aria-pressed", String(swatch.dataset.color === point.color));
    }
    if (focus) marker(id).focus();
  }

  function removePoint(id) {
    const index = points.findIndex((p) => p.id === id);
    if (index < 0) return;
    points.splice(index, 1);
    const next = points[Math.min(index, points.length - 1)];
    drawPoints();
    select(next ? next.id : null, false);
    (next ? marker(next.id) : $("add-point")).focus();
    scheduleRender(0);
  }

  function setColor(value) {
    const point = points.find((p) => p.id === selected);
    if (!point) return;
    point.color = value.toLowerCase();
    placeMarker(point);
    select(point.id, false);
    scheduleRender(0);
  }

  function drawPoints() {  // after a point was added or removed; a move or a new colour only updates its marker
    pointsLayer.replaceChildren(...points.map((point) => {
      const element = document.createElement("button");
      element.type = "button";
      element.className = "point" + (point.id === selected ? " selected" : "");
      element.dataset.id = point.id;
      return element;
    }));
    points.forEach(placeMarker);
    $("clear-points").disabled = points.length === 0;
  }

  function placeMarker(point) {
    const element = marker(point.id);
    element.style.left = `${(100 * (point.x + 0.5)) / photo.full.w}%`;
    element.style.top = `${(100 * (point.y + 0.5)) / photo.full.h}%`;
    element.style.setProperty("--color", point.color);
    element.setAttribute("aria-label", `Point ${points.indexOf(point) + 1}, ${point.color}, at ${point.x}, ` +
                         `${point.y}. Arrow keys move it, Delete removes it.`);
  }

  compare.addEventListener("click", (event) => {
    if (!hasResult || !takesHints || event.target.closest(".point")) return;
    const { x, y } = pointAt(event);
    addPoint(x, y);
  });

  // dragging a point: pointer capture, the render once it is dropped
  let drag = null;
  pointsLayer.addEventListener("pointerdown", (event) => {
    const target = event.target.closest(".point");
    if (!target || event.button !== 0) return;
    event.preventDefault();
    target.setPointerCapture(event.pointerId);
    drag = { id: Number(target.dataset.id), x: event.clientX, y: event.clientY, moved: false };
    select(drag.id, true);
  });
  pointsLayer.addEventListener("pointermove", (event) => {
    if (!drag) return;
    if (Math.hypot(event.clientX - drag.x, event.clientY - drag.y) > 3) drag.moved = true;
    if (!drag.moved) return;
    const point = points.find((p) => p.id === drag.id);
    Object.assign(point, pointAt(event));
    placeMarker(point);
  });
  pointsLayer.addEventListener("pointerup", () => {
    if (drag && drag.moved) { select(drag.id, true); scheduleRender(0); }
    drag = null;
  });
  pointsLayer.addEventListener("contextmenu", (event) => {
    const target = event.target.closest(".point");
    if (!target) return;
    event.preventDefault();
    removePoint(Number(target.dataset.id));
  });
  pointsLayer.addEventListener("keydown", (event) => {
    const target = event.target.closest(".point");
    if (!target) return;
    const point = points.find((p) => p.id === Number(target.dataset.id));
    const step = Math.max(1, Math.round(Math.max(photo.full.w, photo.full.h) / 100)) * (event.shiftKey ? 5 : 1);
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key in moves) {
      event.preventDefault();
      point.x = Math.min(photo.full.w - 1, Math.max(0, point.x + moves[event.key][0]));
      point.y = Math.min(photo.full.h - 1, Math.max(0, point.y + moves[event.key][1]));
      placeMarker(point);
      select(point.id, true);
      scheduleRender(300);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      removePoint(point.id);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(point.id, false);
      document.querySelector(".swatch").focus();
    }
  });
  pointsLayer.addEventListener("click", (event) => {
    const target = event.target.closest(".point");
    if (target && event.detail === 0) select(Number(target.dataset.id), true);  // a keyboard "click"
  });

  $("swatches").replaceChildren(...SWATCHES.map(([value, name]) => {
    const swatch = document.createElement("button");
    swatch.type = "button";
    swatch.className = "swatch";
    swatch.dataset.color = value;
    swatch.style.setProperty("--color", value);
    swatch.setAttribute("aria-label", name);
    swatch.title = name;
    swatch.addEventListener("click", () => setColor(value));
    return swatch;
  }));
  color.addEventListener("input", () => {  // the marker follows the picker; the render waits for the choice
    const point = points.find((p) => p.id === selected);
    if (point) { point.color = color.value; placeMarker(point); }
  });
  color.addEventListener("change", () => setColor(color.value));
  $("remove-point").addEventListener("click", () => removePoint(selected));
  $("add-point").addEventListener("click", () => {
    addPoint(Math.floor(photo.full.w / 2), Math.floor(photo.full.h / 2));
  });
  $("clear-points").addEventListener("click", () => {
    points = [];
    drawPoints();
    select(null, false);
    scheduleRender(0);
    $("add-point").focus();
  });

  // ----- download: the full photo with the same points and vividness
  download.addEventListener("click", async (event) => {
    if (download.dataset.ready === "yes") { delete download.dataset.ready; return; }  // our own second click
    event.preventDefault();
    if (!resultUrl) return;
    let url = resultUrl;
    if (photo.preview) {  // the page shows a reduced copy: colorize the full photo for the file
      busy(true, "Preparing the full-size photo…");
      try {
        const response = await request(true);
        if (!response.ok) { showError(await errorMessage(response)); return; }
        url = URL.createObjectURL(await response.blob());
      } catch (_) {
        showError("The photo could not be sent: check your connection and try again.");
        return;
      } finally {
        busy(false);
      }
    }
    download.href = url;
    download.dataset.ready = "yes";
    download.click();
    if (url !== resultUrl) setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });

  $("again").addEventListener("click", () => {
    form.reset();
    vividnessValue.textContent = "1.00";
    $("file-name").textContent = "";
    resetResult();
    photo = null;
    showError("");
    input.focus();
  });
});
