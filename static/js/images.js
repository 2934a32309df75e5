// Pixels in the browser: loading an image, the reduced copy that edits send, whether a photo has colours of its
// own, the gray stand-in for a photo the browser cannot show, and the colour of one pixel.
import { PREVIEW_SIDE } from "./state.js";

export function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = reject;
    img.src = url;
  });
}

function canvasOf(img, w, h, options) {
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext("2d", options);
  context.drawImage(img, 0, 0, w, h);
  return { canvas, context };
}

// A copy at most PREVIEW_SIDE on its long side, for quick edits (null blob: send the file itself); and whether
// the photo has colors of its own.
export async function reducedCopy(img, full) {
  const scale = Math.min(1, PREVIEW_SIDE / Math.max(full.w, full.h));
  const w = Math.max(1, Math.round(full.w * scale)), h = Math.max(1, Math.round(full.h * scale));
  const { canvas, context } = canvasOf(img, w, h, { willReadFrequently: true });
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

// The gray original of a photo the browser cannot show: the result's own lightness (same relative luminance),
// as a PNG blob.
export async function grayOf(img) {
  const scale = Math.min(1, PREVIEW_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
  const w = Math.max(1, Math.round(img.naturalWidth * scale)), h = Math.max(1, Math.round(img.naturalHeight * scale));
  const { canvas, context } = canvasOf(img, w, h);
  const pixels = context.getImageData(0, 0, w, h);
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
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// The colour of img at (x, y) of a photo of size full (img may be a reduced copy), as #rrggbb.
export function colorAt(img, full, x, y) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const context = canvas.getContext("2d");
  context.drawImage(img, x * img.naturalWidth / full.w, y * img.naturalHeight / full.h, 1, 1, 0, 0, 1, 1);
  const [r, g, b] = context.getImageData(0, 0, 1, 1).data;
  return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
}
