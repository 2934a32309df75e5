// A colour reference photo (optional): the server gives its colours to the regions of the photo that match it
// (model.reference), and says how much of the photo did (X-Colorizer-Reference). Chosen or dropped on its own
// field, shown small beside the result, removed with its button; sent with every request for the photo, as a
// reduced copy (the server matches at 224 px anyway). It stays when another photo is chosen: one reference for an
// album. Without JavaScript the form sends the chosen file as it is.
// A video takes it too: its first frame is previewed with it, and its job is sent with it (video-job.js); the
// finished film is shown with the reference it was sent with and the part of its frames that took its colours
// (the job's reference_share), whatever is chosen or removed since.
import { wireFileDrop } from "./drop.js";
import { loadImage, reducedCopy } from "./images.js";
import { scheduleRender } from "./render.js";
import { els, settings, state } from "./state.js";
import { showError } from "./status.js";

function refusal(file) {
  if (file.type && !file.type.startsWith("image/")) {
    return `The reference "${file.name}" is not an image. Choose a ${settings.formatNames} color photo.`;
  }
  if (file.size > settings.maxBytes) {
    const limit = (settings.maxBytes / 2 ** 20).toFixed(0);
    return `The reference "${file.name}" is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit is ${limit} MiB.`;
  }
  return null;
}

async function chooseReference(file) {
  removeReference(false);
  if (!file) return;
  const refused = refusal(file);
  if (refused) { els.reference.value = ""; showError(refused); return; }
  const current = state.reference = { file, name: file.name, url: URL.createObjectURL(file), copy: null };
  els.referenceName.textContent = `Reference: ${file.name}.`;
  els.referenceShare.textContent = "";
  els.referenceShown.hidden = false;
  try {
    await loadImage(els.referenceImg, current.url);
    const full = { w: els.referenceImg.naturalWidth, h: els.referenceImg.naturalHeight };
    const reduced = await reducedCopy(els.referenceImg, full);
    if (state.reference !== current) return;
    current.copy = reduced.blob;
  } catch (_) {  // a format the browser cannot show (TIFF, HEIC): the server still reads the file
    if (state.reference !== current) return;
    els.referenceImg.removeAttribute("src");
  }
  if (state.hasResult) scheduleRender(0);
}

// No reference any more; colorized again without it when rerender and a result is shown.
export function removeReference(rerender = false) {
  if (!els.reference) return;
  if (state.reference) URL.revokeObjectURL(state.reference.url);
  const had = Boolean(state.reference);
  state.reference = null;
  els.reference.value = "";
  els.referenceShown.hidden = true;
  els.referenceImg.removeAttribute("src");
  els.referenceName.textContent = els.referenceShare.textContent = "";
  if (had && rerender && state.hasResult) scheduleRender(0);
}

// What the server said of the reference, in words: share (0 to 1) is the part of the photo, or of a video's first
// frame, that took its colours; of a film, that part of its frames on average.
function shareWords(share, what) {
  if (!(share > 0)) return `Nothing in the ${what} matched it: the colors are the model's own.`;
  const percent = Math.round(100 * share);
  return what === "film" ? `On average ${percent}% of each frame took its colors from it.`
    : `${percent}% of the ${what} took its colors from it.`;
}

function showShare(header) {
  const said = state.reference && header !== null;
  els.referenceShare.textContent = said ? shareWords(Number(header), state.video ? "frame" : "photo") : "";
}

// The finished film's reference, beside it: the one its job was sent with (job.reference, null for none), and
// how much of the film took its colours, when the server says.
export function showFilmReference(job, record) {
  if (!els.videoReference) return;
  const used = job.reference;
  els.videoReference.hidden = !used;
  if (!used) return;
  els.videoReferenceImg.src = used.url;
  els.videoReferenceName.textContent = `Reference: ${used.name}.`;
  const share = record.reference_share;
  els.videoReferenceShare.textContent = typeof share === "number" ? shareWords(share, "film") : "";
}

// The job is over (another one, the points changed, another file): its reference is no longer shown.
export function forgetFilmReference(job) {
  if (!job.reference) return;
  URL.revokeObjectURL(job.reference.url);
  job.reference = null;
  if (!els.videoReference) return;
  els.videoReference.hidden = true;
  els.videoReferenceImg.removeAttribute("src");
  els.videoReferenceName.textContent = els.videoReferenceShare.textContent = "";
}

export function wireReference() {
  const { reference, referenceDrop } = els;
  if (!reference) return;  // the model takes no reference
  wireFileDrop(referenceDrop, reference, chooseReference);
  els.referenceRemove.addEventListener("click", () => {
    removeReference(true);
    reference.focus();
  });
  els.compare.addEventListener("colorized", (event) => showShare(event.detail.reference));
}
