// The comparison of the colorized photo with the original: the slider moves the dividing line.
import { els } from "./state.js";

export function setSplit(percent) {
  els.after.style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  els.compare.style.setProperty("--split", `${percent}%`);
}

// A new result: the line back in the middle.
export function resetComparison() {
  els.slider.value = 50;
  setSplit(50);
}

export function wireCompare() {
  els.slider.addEventListener("input", () => setSplit(Number(els.slider.value)));
}
