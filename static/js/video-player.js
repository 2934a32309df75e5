// The finished film: the colorized video (GET /videos/ID/result) beside the original (the chosen file, shown from
// the browser's own copy), which follows it: play, pause, seeking and speed of the colorized one drive both; the
// reference it was sent with, if any (reference.js). And the download, with the name the server gives it.
import { showFilmReference } from "./reference.js";
import { els, state } from "./state.js";

const DRIFT = 0.25;  // seconds apart before the original is put back in step while playing

function follow() {
  const { videoAfter: after, videoBefore: before } = els;
  const inStep = () => {
    if (Math.abs(before.currentTime - after.currentTime) > DRIFT / 10) before.currentTime = after.currentTime;
  };
  after.addEventListener("play", () => { inStep(); before.play().catch(() => { /* it stays where it is */ }); });
  after.addEventListener("pause", () => { before.pause(); inStep(); });
  after.addEventListener("seeked", inStep);
  after.addEventListener("ratechange", () => { before.playbackRate = after.playbackRate; });
  after.addEventListener("timeupdate", () => {
    if (!after.paused && Math.abs(before.currentTime - after.currentTime) > DRIFT) inStep();
  });
}

function minutes(seconds) {
  const m = Math.max(1, Math.round(seconds / 60));
  return m === 1 ? "a minute" : `${m} minutes`;
}

export function showVideo(job, record) {
  els.video.hidden = false;
  els.videoProgress.hidden = true;
  els.videoDone.hidden = false;
  els.result.hidden = true;
  els.videoAfter.src = record.result;
  els.videoBefore.src = state.video.url;
  els.videoDownload.href = record.result;
  els.videoDownload.download = "";  // the name the server gives it: the upload's, with -color.mp4
  els.videoExpires.textContent = typeof record.expires_in === "number" ?
    `The colorized video is kept on the server for ${minutes(record.expires_in)}; download it to keep it.` : "";
  showFilmReference(job, record);
  els.video.dataset.state = "done";
  const still = matchMedia("(prefers-reduced-motion: reduce)").matches;
  els.video.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "nearest" });
}

export function wireVideoPlayer() {
  follow();
}
