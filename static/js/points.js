// Colour points, in the full photo's pixels: their markers on the photo and the colour choice of the selected one.
// Each change is colorized again at once (render.js) and shown whole, comparison off, wherever the point is;
// points-input.js moves them with the pointer and the keys; shown.js says where a colour cannot be shown.
import { setComparing } from "./compare.js";
import { colorAt } from "./images.js";
import { scheduleRender } from "./render.js";
import { showNote } from "./shown.js";
import { els, settings, state } from "./state.js";
import { showError } from "./status.js";

export const SWATCHES = [
  ["#c0392b", "red"], ["#e67e22", "orange"], ["#f1c40f", "yellow"], ["#6b8e23", "olive"], ["#2e8b57", "green"],
  ["#16a085", "teal"], ["#5dade2", "sky blue"], ["#2e59c6", "blue"], ["#1f3a6e", "navy"], ["#7d3c98", "purple"],
  ["#e08cb4", "pink"], ["#d9a27e", "skin"], ["#8b5a2b", "brown"], ["#d8c3a5", "beige"], ["#808080", "gray (no color)"],
];

export function findPoint(id) {
  return state.points.find((p) => p.id === id);
}

// A point was added, moved, recoloured or removed: its effect on screen, soon.
export function changed(delay = 0) {
  setComparing(false);
  scheduleRender(delay);
}

export function marker(id) {
  return els.pointsLayer.querySelector(`[data-id="${id}"]`);
}

export function addPoint(x, y) {
  if (state.points.length >= settings.maxPoints) {
    showError(`At most ${settings.maxPoints} points: remove one to add another.`);
    return;
  }
  // a new point starts as the colour the photo shows there
  const point = { id: state.nextId++, x, y, color: colorAt(els.after, state.photo.full, x, y) };
  state.points.push(point);
  drawPoints();
  select(point.id, true);
  changed();
}

export function select(id, focus) {
  state.selected = id;
  for (const each of els.pointsLayer.children) each.classList.toggle("selected", Number(each.dataset.id) === id);
  const point = findPoint(id);
  els.picker.hidden = !point;
  if (!point) return;
  els.pickerTitle.textContent = `Color of point ${state.points.indexOf(point) + 1}`;
  els.color.value = point.color;
  for (const swatch of els.swatches.children) {
    swatch.setAttribute("aria-pressed", String(swatch.dataset.color === point.color));
  }
  showNote(point);
  if (focus) marker(id).focus();
}

export function removePoint(id) {
  const index = state.points.findIndex((p) => p.id === id);
  if (index < 0) return;
  state.points.splice(index, 1);
  const next = state.points[Math.min(index, state.points.length - 1)];
  drawPoints();
  select(next ? next.id : null, false);
  (next ? marker(next.id) : els.addPoint).focus();
  changed();
}

// Every point gone: with render, after "Clear points"; without, for a new photo.
export function clearPoints(rerender) {
  state.points = [];
  drawPoints();
  select(null, false);
  if (rerender) changed();
}

function setColor(value) {
  const point = findPoint(state.selected);
  if (!point) return;
  point.color = value.toLowerCase();
  placeMarker(point);
  select(point.id, false);
  changed();
}

function drawPoints() {  // after a point was added or removed; a move or a new colour only updates its marker
  els.pointsLayer.replaceChildren(...state.points.map((point) => {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "point" + (point.id === state.selected ? " selected" : "");
    element.dataset.id = point.id;
    return element;
  }));
  state.points.forEach(placeMarker);
  els.clearPoints.disabled = state.points.length === 0;
}

export function placeMarker(point) {
  const element = marker(point.id), full = state.photo.full;
  element.style.left = `${(100 * (point.x + 0.5)) / full.w}%`;
  element.style.top = `${(100 * (point.y + 0.5)) / full.h}%`;
  element.style.setProperty("--color", point.color);
  element.setAttribute("aria-label", `Point ${state.points.indexOf(point) + 1}, ${point.color}, at ${point.x}, ` +
                       `${point.y}. Arrow keys move it, Delete removes it.`);
}

function swatchButton([value, name]) {
  const swatch = document.createElement("button");
  swatch.type = "button";
  swatch.className = "swatch";
  swatch.dataset.color = value;
  swatch.style.setProperty("--color", value);
  swatch.setAttribute("aria-label", name);
  swatch.title = name;
  swatch.addEventListener("click", () => setColor(value));
  return swatch;
}

export function wireColorChoice() {
  els.swatches.replaceChildren(...SWATCHES.map(swatchButton));
  els.color.addEventListener("input", () => {  // the marker follows the picker; the render waits for the choice
    const point = findPoint(state.selected);
    if (point) { point.color = els.color.value; placeMarker(point); showNote(point); }
  });
  els.color.addEventListener("change", () => setColor(els.color.value));
  els.removePoint.addEventListener("click", () => removePoint(state.selected));
  els.addPoint.addEventListener("click", () => {
    addPoint(Math.floor(state.photo.full.w / 2), Math.floor(state.photo.full.h / 2));
  });
  els.clearPoints.addEventListener("click", () => {
    clearPoints(true);
    els.addPoint.focus();
  });
}
