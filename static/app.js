// The upload page's script, an ES module loaded without a build step; js/ holds its parts:
//   state.js         the page's elements, settings and the current photo and points
//   status.js        the error line, the busy indicator
//   images.js        pixels in the browser: loading, the reduced copy, the gray stand-in, one pixel's colour
//   upload.js        choosing or dropping a photo (or a video)
//   render.js        colorizing with fetch (one request at a time), the first result, the download
//   compare.js       the comparison with the original (its own control: the result is shown whole)
//   reference.js     a colour reference photo: chosen or dropped, shown small beside the result, removed
//   points.js        colour points: markers and colour choice; points-input.js: placing, dragging, keys;
//                    shown.js: the colour the result shows at a point, where it differs from the one chosen
//   video.js         a video: checked, its first frame shown and colorized as a photo, for the points
//   video-job.js     the video job: sent with the points (frame 0) and the reference, its progress, cancel
//   video-player.js  the finished film beside the original, in step; its reference; its download
// The server keeps nothing: this page holds the photo and the points. For speed, edits send a reduced copy of the
// photo (at most 1024 px on its long side); the download sends the full photo with the same points.
// Without JavaScript the form posts normally (detail, vividness and repair, no points) and the browser shows the
// image; videos need the script.
import { wireCompare } from "./js/compare.js";
import { wireColorChoice } from "./js/points.js";
import { wirePointsInput } from "./js/points-input.js";
import { wireReference } from "./js/reference.js";
import { render, wireRender } from "./js/render.js";
import { wireRepair } from "./js/repair.js";
import { wireShown } from "./js/shown.js";
import { els, state } from "./js/state.js";
import { showError } from "./js/status.js";
import { chosen, wireUpload } from "./js/upload.js";
import { submitVideo, wireVideoJob } from "./js/video-job.js";
import { wireVideoPlayer } from "./js/video-player.js";

document.documentElement.classList.add("js");

wireUpload();
wireRender();
wireReference();
wireRepair();
wireCompare();
wireColorChoice();
wirePointsInput();
wireShown();
wireVideoJob();
wireVideoPlayer();

els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = els.input.files[0];
  if (!file) { showError("Choose a photo or a video first."); return; }
  if (state.video) { submitVideo(); return; }
  if (!state.photo) { chosen(file).then(() => state.photo && render()); return; }  // refused before: try again
  render();
});
