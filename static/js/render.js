// Colorizing: one request at a time; a change made during a request is colorized right after it. Edits send the
// reduced copy of the photo; the download sends the photo itself with the same points and settings.
import { setComparing } from "./compare.js";
import { grayOf, loadImage } from "./images.js";
import { els, settings, state } from "./state.js";
import { busy, errorMessage, settled, showError } from "./status.js";

let inFlight = false, again = false, debounce = null;

export function setAspect(full) {
  els.figure.style.setProperty("--aspect", String(full.w / full.h));
}

function request(full) {
  const { photo, points } = state;
  const body = new FormData();
  // A video's first frame is sent whole, never reduced: its preview is then the film's first frame, to the bit
  // (the server colorizes both through the same two ends, at the model's own size, without repair).
  const useFile = full || !photo.preview || Boolean(state.video);
  body.append("image", useFile ? photo.file : photo.preview, photo.name);
  body.append("size", els.size.value);
  body.append("format", "jpeg");
  body.append("vividness", els.vividness.value);
  body.append("restore", els.form.elements.restore.value);
  // a video's first frame too: the film's job is sent with the same reference (video-job.js), and its first frame
  // is then colorized as this preview is
  if (state.reference) {
    body.append("reference", state.reference.copy || state.reference.file, state.reference.name);
  }
  const target = useFile ? photo.full : photo.previewSize;
  if (points.length && photo.full && target) {
    body.append("hints", JSON.stringify(points.map((p) => ({
      x: Math.min(target.w - 1, Math.round(p.x * target.w / photo.full.w)),
      y: Math.min(target.h - 1, Math.round(p.y * target.h / photo.full.h)),
      color: p.color,
    }))));
  }
  return fetch(els.form.action, { method: "POST", body, headers: { Accept: "application/json" } });
}

export async function render() {
  clearTimeout(debounce);  // this render sends the latest state: a change waiting to be sent is in it
  debounce = null;
  if (!state.photo) { settled(true); return; }
  settled(false);
  if (inFlight) { again = true; return; }
  inFlight = true;
  const current = state.photo;
  busy(true, state.hasResult ? "Updating…" : "Colorizing…");
  try {
    await current.prepared;  // its size known and its reduced copy made (a Colorize pressed at once waits for it)
    if (state.photo !== current) return;
    const sent = state.points.map((point) => ({ ...point }));  // what this request sends: its hints, in order
    const response = await request(false);
    if (state.photo !== current) return;
    if (!response.ok) { failed(current, await errorMessage(response)); return; }
    const url = URL.createObjectURL(await response.blob());
    await loadImage(els.after, url);
    if (state.photo !== current) { URL.revokeObjectURL(url); return; }
    if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
    state.resultUrl = url;
    showError("");
    if (!state.hasResult) await firstResult(current);
    // what the result shows at each point (shown.js); the header is absent when no points were sent
    els.compare.dispatchEvent(new CustomEvent("colorized", {
      detail: { sent, header: response.headers.get("X-Colorizer-Points"),
                reference: response.headers.get("X-Colorizer-Reference"),
                repair: response.headers.get("X-Colorizer-Repair") },
    }));
  } catch (failure) {
    if (state.photo === current) failed(current, "The photo could not be sent: check your connection and try again.");
  } finally {
    busy(false);
    inFlight = false;
    if (again) { again = false; render(); } else if (debounce === null) settled(true);
  }
}

export function scheduleRender(delay = 150) {
  settled(false);
  clearTimeout(debounce);
  debounce = setTimeout(render, delay);
}

// A request that failed: its message; and before any result, nothing that looks like one. A photo the browser
// could not show has nothing to keep on screen at all.
function failed(current, message) {
  showError(message);
  if (!state.hasResult && !current.full) els.result.hidden = true;
}

async function firstResult(current) {
  const { after, before } = els;
  if (!current.full) {  // the browser could not show the photo: the result has its size, and its lightness
    current.full = { w: after.naturalWidth, h: after.naturalHeight };
    current.previewSize = current.full;
    setAspect(current.full);
    current.beforeUrl = URL.createObjectURL(await grayOf(after));
    await loadImage(before, current.beforeUrl);
    els.noPreview.hidden = true;
  }
  state.hasResult = true;
  els.compare.classList.remove("pending");
  setComparing(false);
  els.legend.hidden = els.actions.hidden = false;
  els.editor.hidden = !settings.takesHints;
  // Colorize is disabled while the first result is made, and the focus it had falls to the page's body: it goes to
  // the result instead, from where Tab reaches the comparison, the points and the download. A focus elsewhere (a
  // setting changed meanwhile, the file input for a video's first frame) stays where it is.
  if ([null, document.body, els.submit].includes(document.activeElement)) els.result.focus({ preventScroll: true });
  const still = matchMedia("(prefers-reduced-motion: reduce)").matches;
  els.result.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "nearest" });
}

// The download: the full photo with the same points and settings (colorized again if the page shows a copy). The
// control is a button, so that Enter and Space both press it; the file is handed over by a link of its own, made
// for it: a link that clicks itself from inside its own click is ignored by Chromium (so Enter did nothing).
let preparing = false;

async function download() {
  if (!state.resultUrl || preparing) return;
  const current = state.photo;
  let url = state.resultUrl;
  if (current.preview) {
    preparing = true;
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
      preparing = false;
    }
    if (state.photo !== current) { URL.revokeObjectURL(url); return; }  // another photo was chosen meanwhile
  }
  const link = document.createElement("a");
  link.href = url;
  link.download = current.name.replace(/\.[^.]*$/, "") + "-color.jpg";
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  if (url !== state.resultUrl) setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function wireRender() {
  els.download.addEventListener("click", download);
  for (const choice of [els.size, els.restore]) {  // a new detail or repair choice (radios): colorized again
    choice.addEventListener("change", () => { if (state.hasResult) scheduleRender(0); });
  }
  els.vividness.addEventListener("input", () => {
    els.vividnessValue.textContent = Number(els.vividness.value).toFixed(2);
    if (state.hasResult) scheduleRender(250);
  });
}
