// A video job: "Colorize the video" sends the film with the points placed on its first frame (each with
// "frame": 0) and the reference photo, if one is chosen, to POST /videos (with XMLHttpRequest: fetch cannot
// report an upload's progress), then asks GET /videos/ID once a second for frames done and time left; "Cancel"
// is DELETE /videos/ID. The finished film is shown by video-player.js.
import { forgetFilmReference } from "./reference.js";
import { els, settings, state } from "./state.js";
import { showError } from "./status.js";
import { showVideo } from "./video-player.js";

const POLL_MS = 1000;
const LOST_POLLS = 30;  // a minute and more without an answer: the job is given up on
// Words for an answer without our JSON (a proxy's page, say), by status.
const FALLBACK = {
  413: "The video is too large for the server.", 503: "The server is busy; try again in a little while.",
};

function setProgress(fraction, text) {
  if (fraction === null) els.videoBar.removeAttribute("value");  // indeterminate: still waiting
  else els.videoBar.value = Math.min(1, Math.max(0, fraction));
  els.videoProgressText.textContent = text;
}

// "about 1 min 20 s left", in the units a person reads.
function timeLeft(seconds) {
  if (seconds === null || seconds === undefined) return "estimating the time left";
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `about ${s} s left`;
  const m = Math.floor(s / 60);
  return m < 60 ? `about ${m} min ${s % 60} s left` : `about ${Math.floor(m / 60)} h ${m % 60} min left`;
}

function showRecord(record) {
  const { frames_done: done, frames_total: total } = record;
  if (record.state === "queued") {  // the server says so when no worker is running to take it
    setProgress(null, record.waiting_for || "Waiting for its turn in the queue…");
    return;
  }
  setProgress(total ? done / total : null,
              `Colorizing: ${done} of ${total} frames, ${timeLeft(record.seconds_left)}.`);
}

function hintsField() {
  return JSON.stringify(state.points.map((p) => ({ x: p.x, y: p.y, color: p.color, frame: 0 })));
}

// The upload: resolves with the XMLHttpRequest once answered; rejects if the connection failed.
function send(job) {
  const body = new FormData();
  body.append("video", state.video.file, state.video.name);
  body.append("vividness", els.vividness.value);
  if (state.points.length) body.append("hints", hintsField());
  if (state.reference) {  // what the first frame was previewed with (render.js): the reduced copy, once made
    const sent = state.reference.copy || state.reference.file;
    body.append("reference", sent, state.reference.name);
    job.reference = { name: state.reference.name, url: URL.createObjectURL(sent) };  // shown beside the film
  }
  const xhr = job.xhr = new XMLHttpRequest();
  xhr.open("POST", settings.videoUrl);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.responseType = "json";
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) {
      setProgress(event.loaded / event.total, `Sending the video: ${Math.floor(100 * event.loaded / event.total)}%…`);
    }
  });
  const answered = new Promise((resolve, reject) => {
    xhr.addEventListener("load", () => resolve(xhr));
    xhr.addEventListener("error", reject);
  });
  xhr.send(body);
  return answered;
}

// The message of a refused upload: the server's own words, and when to try again for a full queue.
function refusedMessage(xhr) {
  const said = xhr.response && typeof xhr.response.error === "string" ? xhr.response.error : null;
  let message = said || FALLBACK[xhr.status] || `The server answered ${xhr.status}.`;
  const retry = Number(xhr.getResponseHeader("Retry-After"));
  if (xhr.status === 503 && retry > 0) {
    message += ` Try again in ${retry < 120 ? `${retry} seconds` : `${Math.round(retry / 60)} minutes`}.`;
  }
  return message;
}

export async function submitVideo() {
  if (!state.video || (state.job && !state.job.record)) return;  // one job at a time
  endJob(false);  // a finished one: its result stays on the server until it expires
  const job = state.job = { id: null, url: null, xhr: null, timer: null, misses: 0, reference: null };
  showError("");
  els.notice.hidden = true;
  setWorking(true);
  setProgress(0, "Sending the video…");
  let xhr;
  try {
    xhr = await send(job);
  } catch (_) {
    if (state.job === job) ended("The video could not be sent: check your connection and try again.");
    return;
  }
  if (state.job !== job) return;
  if (xhr.status !== 202 || !xhr.response || !xhr.response.url) { ended(refusedMessage(xhr)); return; }
  Object.assign(job, { id: xhr.response.id, url: xhr.response.url, xhr: null });
  els.video.dataset.job = job.id;
  setProgress(null, "Waiting for its turn in the queue…");
  poll(job);
}

async function poll(job) {
  if (state.job !== job) return;
  let response = null;
  try {
    response = await fetch(job.url, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (_) { /* no answer this time */ }
  if (state.job !== job) return;
  if (response && response.status === 404) {
    ended("The video job is gone from the server (it expired or was removed): colorize the video again.");
    return;
  }
  const record = response && response.ok ? await response.json().catch(() => null) : null;
  if (state.job !== job) return;
  job.misses = record ? 0 : job.misses + 1;
  if (job.misses >= LOST_POLLS) { ended("The server does not answer about the video; try again later."); return; }
  if (record) onRecord(job, record);
  else els.videoProgressText.textContent = "No answer from the server; asking again…";
}

function onRecord(job, record) {
  if (record.state === "done") { job.record = record; setWorking(false); showVideo(job, record); return; }
  if (record.state === "failed") { ended(record.error || "The video could not be colorized."); return; }
  if (record.state === "cancelled") { ended("The video was cancelled."); return; }
  showRecord(record);
  job.timer = setTimeout(() => poll(job), POLL_MS);
}

// While a job is sent or runs: its progress on screen instead of the first frame, the form's button, the
// vividness and the reference field (sent with the video) off.
function setWorking(on) {
  els.video.hidden = false;
  els.videoProgress.hidden = !on;
  els.videoDone.hidden = true;
  els.result.hidden = on || !state.photo;
  lockSettings(on);
  els.video.dataset.state = on ? "working" : "idle";
}

function lockSettings(on) {
  els.submit.disabled = els.vividness.disabled = on;
  if (els.reference) els.reference.disabled = on;
}

// The job stopped short (refused, failed, cancelled, lost): its message, and the first frame back to edit.
function ended(message) {
  endJob(false);
  if (message) showError(message);
  els.video.dataset.state = "ended";
}

// Stops following the job; with cancel, a job still under way is cancelled on the server (DELETE) too. Resolves
// with whether the server has nothing of it left.
export async function endJob(cancel) {
  const job = state.job;
  if (!job) return true;
  state.job = null;
  clearTimeout(job.timer);
  if (job.xhr) job.xhr.abort();
  forgetFilmReference(job);
  lockSettings(false);
  els.video.hidden = true;
  els.result.hidden = !state.photo;
  delete els.video.dataset.job;
  if (!cancel || !job.url || job.record) return true;
  try {
    const response = await fetch(job.url, { method: "DELETE" });
    return response.ok || response.status === 404;
  } catch (_) {
    return false;  // the server removes it when it expires
  }
}

async function cancel() {
  if (!state.job) return;
  const removed = await endJob(true);
  els.notice.textContent = removed ? "The video was cancelled; nothing of it is kept on the server." :
    "The server could not be reached to cancel the video; it removes the video on its own later.";
  els.notice.hidden = false;
  els.video.dataset.state = "cancelled";
}

export function wireVideoJob() {
  els.videoCancel.addEventListener("click", cancel);
  els.videoEdit.addEventListener("click", () => {  // back to the first frame: new points, colorized again
    endJob(false);
    els.submit.focus();
  });
}
