// Placing and moving colour points: a click (or tap) on the photo adds one; a point is dragged with pointer
// capture and colorized again once dropped; right-click or Delete removes it; the arrow keys move it.
import { addPoint, changed, findPoint, placeMarker, removePoint, select } from "./points.js";
import { els, settings, state } from "./state.js";

let drag = null;  // {id, x, y, moved}: the point being dragged and where the pointer went down

// The full photo's pixel under a pointer event.
function pointAt(event) {
  const box = els.after.getBoundingClientRect(), full = state.photo.full;
  const fx = Math.min(0.9999, Math.max(0, (event.clientX - box.left) / box.width));
  const fy = Math.min(0.9999, Math.max(0, (event.clientY - box.top) / box.height));
  return { x: Math.floor(fx * full.w), y: Math.floor(fy * full.h) };
}

function pointOf(event) {
  const target = event.target.closest(".point");
  return target ? findPoint(Number(target.dataset.id)) : null;
}

function startDrag(event) {
  const target = event.target.closest(".point");
  if (!target || event.button !== 0) return;
  event.preventDefault();
  target.setPointerCapture(event.pointerId);
  drag = { id: Number(target.dataset.id), x: event.clientX, y: event.clientY, moved: false };
  select(drag.id, true);
}

function moveDrag(event) {
  if (!drag) return;
  if (Math.hypot(event.clientX - drag.x, event.clientY - drag.y) > 3) drag.moved = true;
  if (!drag.moved) return;
  const point = findPoint(drag.id);
  Object.assign(point, pointAt(event));
  placeMarker(point);
}

function endDrag() {
  if (drag && drag.moved) { select(drag.id, true); changed(); }
  drag = null;
}

function onKey(event) {
  const point = pointOf(event);
  if (!point) return;
  const full = state.photo.full;
  const step = Math.max(1, Math.round(Math.max(full.w, full.h) / 100)) * (event.shiftKey ? 5 : 1);
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (event.key in moves) {
    event.preventDefault();
    point.x = Math.min(full.w - 1, Math.max(0, point.x + moves[event.key][0]));
    point.y = Math.min(full.h - 1, Math.max(0, point.y + moves[event.key][1]));
    placeMarker(point);
    select(point.id, true);
    changed(300);
  } else if (event.key === "Delete" || event.key === "Backspace") {
    event.preventDefault();
    removePoint(point.id);
  } else if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    select(point.id, false);
    els.swatches.querySelector(".swatch").focus();
  }
}

export function wirePointsInput() {
  const layer = els.pointsLayer;
  els.compare.addEventListener("click", (event) => {
    if (!state.hasResult || !settings.takesHints || event.target.closest(".point")) return;
    const { x, y } = pointAt(event);
    addPoint(x, y);
  });
  layer.addEventListener("pointerdown", startDrag);
  layer.addEventListener("pointermove", moveDrag);
  layer.addEventListener("pointerup", endDrag);
  layer.addEventListener("contextmenu", (event) => {
    const point = pointOf(event);
    if (!point) return;
    event.preventDefault();
    removePoint(point.id);
  });
  layer.addEventListener("keydown", onKey);
  layer.addEventListener("click", (event) => {
    const point = pointOf(event);
    if (point && event.detail === 0) select(point.id, true);  // a keyboard "click"
  });
}
