// Choosing a video: checked in the page (size, duration, frame size) before anything is sent; its first frame is
// drawn to a canvas and becomes the page's photo, colorized at once (POST /colorize), so that colour points are
// placed on it as on a photo. The film itself is sent by "Colorize the video" (video-job.js).
import { render } from "./render.js";
import { els, settings, state } from "./state.js";
import { showError } from "./status.js";
import { showPhoto } from "./upload.js";
import { endJob } from "./video-job.js";

const VIDEO_NAME = /\.(mp4|m4v|mov|mkv|webm|avi)$/i;

export function isVideo(file) {
  return file.type.startsWith("video/") || (!file.type.startsWith("image/") && VIDEO_NAME.test(file.name));
}

function clock(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// The video is what the page can check (its metadata, if the browser reads it); null, or a message if refused.
function refusal(video) {
  const { file } = video;
  if (file.size > settings.maxVideoBytes) {
    const limit = (settings.maxVideoBytes / 2 ** 20).toFixed(0);
    return `"${file.name}" is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit for a video is ${limit} MiB.`;
  }
  if (video.duration > settings.maxVideoSeconds) {
    return `"${file.name}" is ${clock(video.duration)} long; the limit is ${clock(settings.maxVideoSeconds)}.`;
  }
  if (video.w * video.h > settings.maxVideoPixels) {
    const most = (settings.maxVideoPixels / 1e6).toFixed(1);
    return `The frames of "${file.name}" are ${video.w} x ${video.h} pixels; the limit is ${most} megapixels.`;
  }
  return null;
}

// The first frame as a PNG file at the video's own size, with the video's size and duration; null if the
// browser cannot decode the video (the server may still read it).
async function firstFrame(url, name) {
  const player = document.createElement("video");
  player.muted = true;
  player.preload = "auto";
  const loaded = new Promise((resolve, reject) => {
    player.addEventListener("loadeddata", resolve, { once: true });
    player.addEventListener("error", reject, { once: true });
  });
  player.src = url;
  try { await loaded; } catch (_) { return null; }
  const w = player.videoWidth, h = player.videoHeight;
  if (!w || !h) return null;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.getContext("2d").drawImage(player, 0, 0, w, h);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const frame = new File([blob], name.replace(/\.[^.]*$/, "") + "-first-frame.png", { type: "image/png" });
  return { frame, w, h, duration: player.duration };
}

export function setVideoMode(on) {
  if (on === document.body.classList.contains("video-mode")) return;
  document.body.classList.toggle("video-mode", on);
  els.submit.textContent = on ? "Colorize the video" : "Colorize";
  if (on) {  // the film is colorized at the model's own size, without repair: its first frame too
    for (const option of els.size.options) option.selected = option.defaultSelected;
    els.form.elements.restore.value = "off";
  } else {
    els.form.elements.restore.value = "auto";
  }
}

export async function chosenVideo(file) {
  const video = state.video = { file, name: file.name, url: URL.createObjectURL(file), w: 0, h: 0, duration: 0 };
  setVideoMode(true);
  const first = await firstFrame(video.url, file.name);
  if (state.video !== video) return;
  if (first) Object.assign(video, { w: first.w, h: first.h, duration: first.duration });
  const refused = refusal(video);
  if (refused) { forgetVideo(); showError(refused); return; }
  if (!first) {
    els.notice.textContent = "Your browser cannot show this video, so colors cannot be chosen on it here; the " +
      "server may still read it: “Colorize the video” sends it.";
    els.notice.hidden = false;
    return;
  }
  if (await showPhoto(video.frame = first.frame, file.name) && state.video === video) render();
}

// No video any more (another file, "Colorize another"): its job cancelled, its players emptied.
export function forgetVideo() {
  endJob(true);
  const video = state.video;
  state.video = null;
  if (video) URL.revokeObjectURL(video.url);
  for (const player of [els.videoAfter, els.videoBefore]) {
    player.pause();
    player.removeAttribute("src");
    player.load();
  }
  els.video.hidden = true;
  setVideoMode(false);
}
