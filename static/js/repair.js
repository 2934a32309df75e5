// What the repair did to the photo, in words, under the repair choice: the server's X-Colorizer-Repair header
// ({"mode", "repaired", "defects", "faded", "grain"}; absent with repair off).
import { els } from "./state.js";

export function repairWords(said) {
  if (!said) return "";
  if (!said.repaired) {
    return said.mode === "auto" ? "Not taken for an old print: left as it is." : "Nothing found to repair.";
  }
  const done = [];
  if (said.defects === 1) done.push("1 scratch or speck filled");
  else if (said.defects) done.push(`${said.defects} scratches and specks filled`);
  if (said.faded) done.push("fading lifted");
  if (said.grain) done.push("grain calmed");
  const words = done.length ? done.join(", ") : "repaired";
  return `Repaired: ${words}.`;
}

function showRepair(header) {
  let said = null;
  try { said = header ? JSON.parse(header) : null; } catch { said = null; }
  els.repairSaid.textContent = repairWords(said);
}

export function wireRepair() {
  if (!els.repairSaid) return;
  els.compare.addEventListener("colorized", (event) => showRepair(event.detail.repair));
}
