// Messages: the error line, the busy indicator with its running time, and data-settled for tests.
import { els, state } from "./state.js";

let busyCount = 0, timer = null;

export function showError(message) {
  els.error.textContent = message || "";
  els.error.hidden = !message;
}

export function busy(on, text) {
  busyCount += on ? 1 : -1;
  const active = busyCount > 0;
  els.submit.disabled = active && !state.hasResult;
  els.status.hidden = !active;
  els.compare.classList.toggle("busy", active && state.hasResult);
  els.form.setAttribute("aria-busy", String(active));
  clearInterval(timer);
  if (active) {
    const started = performance.now();
    els.statusText.textContent = text;
    timer = setInterval(() => {
      els.statusText.textContent = `${text} ${((performance.now() - started) / 1000).toFixed(1)} s`;
    }, 100);
  }
}

export async function errorMessage(response) {
  let message = `The server answered ${response.status}.`;
  try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
  return message;
}

// compare.dataset.settled: "no" from a change until its result is shown (tests and assistive tools can wait on it)
export function settled(yes) {
  els.compare.dataset.settled = yes ? "yes" : "no";
}
