// The comparison with the original. The result is shown whole, so that every change (a point anywhere, vividness,
// detail) is seen at once; "Compare with the original" brings a dividing line: left of it the colorized photo,
// right of it the original, moved with the slider. Editing a point ends the comparison.
import { els } from "./state.js";

function setSplit(percent) {
  els.after.style.clipPath = percent >= 100 ? "" : `inset(0 ${100 - percent}% 0 0)`;
  els.compare.style.setProperty("--split", `${percent}%`);
}

export function comparing() {
  return els.compareToggle.getAttribute("aria-pressed") === "true";
}

export function setComparing(on) {
  els.compareToggle.setAttribute("aria-pressed", String(on));
  els.compare.classList.toggle("comparing", on);
  els.scale.hidden = !on;
  if (on) els.slider.value = 50;
  setSplit(on ? Number(els.slider.value) : 100);
}

export function wireCompare() {
  els.compareToggle.addEventListener("click", () => setComparing(!comparing()));
  els.slider.addEventListener("input", () => setSplit(Number(els.slider.value)));
}
