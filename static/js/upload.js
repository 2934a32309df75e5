// Choosing a photo (or a video: video.js): the file input or a drop; checked in the page (type, size) before
// anything is sent, shown at once, and a reduced copy made for quick edits. "Colorize another" starts again.
import { wireFileDrop } from "./drop.js";
import { loadImage, reducedCopy } from "./images.js";
import { clearPoints } from "./points.js";
import { removeReference } from "./reference.js";
import { setAspect } from "./render.js";
import { els, settings, state } from "./state.js";
import { showError } from "./status.js";
import { chosenVideo, forgetVideo, isVideo } from "./video.js";

// No result on screen: nothing to compare, edit or download.
function resetResult() {
  state.hasResult = false;
  els.result.hidden = true;
  els.legend.hidden = els.editor.hidden = els.actions.hidden = true;
  els.noPreview.hidden = els.notice.hidden = true;
  els.compare.classList.add("pending");
  els.after.removeAttribute("src");
  els.before.removeAttribute("src");
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  if (state.photo && state.photo.beforeUrl) URL.revokeObjectURL(state.photo.beforeUrl);
  state.resultUrl = null;
  clearPoints(false);
}

export function forget(message) {
  forgetVideo();
  resetResult();
  state.photo = null;
  showError(message);
}

// The file is what the page can check; null and a message if it is refused.
function refusal(file) {
  if (file.type && !file.type.startsWith("image/")) {
    return `"${file.name}" is not an image or a video. Choose a ${settings.formatNames} file, or a video.`;
  }
  if (file.size > settings.maxBytes) {
    const limit = (settings.maxBytes / 2 ** 20).toFixed(0);
    return `"${file.name}" is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit is ${limit} MiB.`;
  }
  return null;
}

export async function chosen(file) {
  forget("");
  if (!file) return;
  els.fileName.textContent = file.name;
  if (isVideo(file)) { await chosenVideo(file); return; }
  const refused = refusal(file);
  if (refused) { forget(refused); return; }
  await showPhoto(file, file.name);
}

// The photo (or a video's first frame) on screen, its size known and a reduced copy made; false if the browser
// cannot show it or another file was chosen meanwhile. Requests wait for it (photo.prepared).
export function showPhoto(file, name) {
  const current = state.photo = { file, name, full: null, preview: null, previewSize: null, beforeUrl: null };
  current.prepared = prepare(current, file);
  return current.prepared;
}

async function prepare(current, file) {
  current.beforeUrl = URL.createObjectURL(file);
  els.result.hidden = false;
  try {
    await loadImage(els.before, current.beforeUrl);
  } catch (_) {  // a format the browser cannot show (TIFF, HEIC): the server still reads it
    if (state.photo !== current) return;
    els.before.removeAttribute("src");
    els.noPreview.hidden = false;
    return false;
  }
  if (state.photo !== current) return false;
  current.full = { w: els.before.naturalWidth, h: els.before.naturalHeight };
  setAspect(current.full);
  const reduced = await reducedCopy(els.before, current.full);
  if (state.photo !== current) return false;
  current.preview = reduced.blob;
  current.previewSize = reduced.size;
  if (reduced.colorful) {
    const what = state.video ? "video" : "photo";
    els.notice.textContent = `This ${what} is in color: its colors will be replaced by the model's.`;
    els.notice.hidden = false;
  }
  return true;
}

export function wireUpload() {
  const { drop, input } = els;
  input.accept += "," + settings.videoAccept;  // videos need the script: offered only with it
  wireFileDrop(drop, input, chosen);
  els.again.addEventListener("click", startAgain);
  els.videoAgain.addEventListener("click", startAgain);
}

function startAgain() {
  els.form.reset();
  removeReference();  // the form's reset emptied its input
  els.vividnessValue.textContent = "1.00";
  els.fileName.textContent = "";
  forget("");
  els.input.focus();
}
