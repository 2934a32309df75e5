// A colour reference photo (optional): the server gives its colours to the regions of the photo that match it
// (model.reference), and says how much of the photo did (X-Colorizer-Reference). Chosen or dropped on its own
// field, shown small beside the result, removed with its button; sent with every request for the photo, as a
// reduced copy (the server matches at 224 px anyway). It stays when another photo is chosen: one reference for an
// album. Without JavaScript the form sends the chosen file as it is.
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

// What the server said of the reference: the part of the photo that took its colours.
function showShare(header) {
  if (!state.reference || header === null) { els.referenceShare.textContent = ""; return; }
  const share = Number(header);
  els.referenceShare.textContent = share > 0
    ? `${Math.round(100 * share)}% of the photo took its colors from it.`
    : "Nothing in the photo matched it: the colors are the model's own.";
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
