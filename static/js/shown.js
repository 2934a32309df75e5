// Honest colour at a point. A photo keeps its own lightness, and at some lightness sRGB cannot show the chosen
// colour (no bright navy, no dark yellow): the server then says, in the X-Colorizer-Points header, which colour
// the result does show there. The point's colour choice says so in a few words, with that colour's swatch.
import { els, state } from "./state.js";

const HEX = /^#[0-9a-f]{6}$/i;

// A point as it was sent: what the header's entry is about. A point moved or recoloured since is another point.
function key(point) {
  return `${point.x},${point.y},${point.color}`;
}

// The header: one {asked, shown, exact} entry per point sent, in order; null if absent or not that.
function parseHeader(header, count) {
  if (!header) return null;
  try {
    const entries = JSON.parse(header);
    return Array.isArray(entries) && entries.length === count ? entries : null;
  } catch (_) {
    return null;
  }
}

// CIE L* (0 black to 100 white) of an sRGB colour #rrggbb.
function lightness(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return y > 216 / 24389 ? 116 * Math.cbrt(y) - 16 : (24389 / 27) * y;
}

function remember(sent, entries) {
  sent.forEach((as, index) => {
    const point = state.points.find((p) => p.id === as.id), entry = entries[index];
    if (!point || key(point) !== key(as) || !entry || typeof entry !== "object") return;
    const inexact = entry.exact === false && HEX.test(entry.shown || "");
    point.shown = inexact ? { color: entry.shown.toLowerCase(), for: key(as) } : null;
  });
}

// The note under the colour choice of point (null: none selected), or nothing if the result shows its colour.
export function showNote(point) {
  const shown = point && point.shown && point.shown.for === key(point) ? point.shown.color : null;
  if (!shown) { els.pointNote.replaceChildren(); return; }
  const lighter = lightness(shown) > lightness(point.color);
  const swatch = document.createElement("span");
  swatch.className = "note-swatch";
  swatch.style.setProperty("--color", shown);
  swatch.setAttribute("role", "img");
  swatch.setAttribute("aria-label", shown);
  swatch.title = shown;
  const what = state.video ? "frame" : "photo";  // a video's points are placed on its first frame
  const words = `This ${what} is too ${lighter ? "light" : "dark"} here for that color; shown:`;
  els.pointNote.replaceChildren(document.createTextNode(words), swatch);
}

export function wireShown() {
  els.compare.addEventListener("colorized", (event) => {
    const { sent, header } = event.detail;
    const entries = parseHeader(header, sent.length);
    if (!entries) return;  // a server that does not say: nothing to add
    remember(sent, entries);
    showNote(state.points.find((p) => p.id === state.selected) || null);
  });
}
