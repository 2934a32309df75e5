// What the page's modules share: its elements, its settings (from the form's data- attributes) and the state of
// the current photo. One object each, so that every module sees the same values.

export const PREVIEW_SIDE = 1024;  // edits send a copy of at most this many pixels on its long side

const $ = (id) => document.getElementById(id);

export const els = {
  form: $("upload"), input: $("image"), drop: $("drop"), fileName: $("file-name"), submit: $("submit"),
  size: $("size"), vividness: $("vividness"), vividnessValue: $("vividness-value"), restore: $("restore"),
  repairSaid: $("repair-said"),
  status: $("status"), statusText: $("status-text"), error: $("error"), notice: $("notice"),
  result: $("result"), figure: $("figure"), compare: $("compare"), before: $("before"), after: $("after"),
  noPreview: $("no-preview"), legend: $("legend"), compareToggle: $("compare-toggle"), scale: $("scale"),
  slider: $("slider"), actions: $("actions"),
  download: $("download"), again: $("again"),
  editor: $("editor"), pointsLayer: $("points"), addPoint: $("add-point"), clearPoints: $("clear-points"),
  picker: $("picker"), pickerTitle: $("picker-title"), swatches: $("swatches"), color: $("color"),
  removePoint: $("remove-point"), pointNote: $("point-note"),
  // the reference photo's controls: absent (null) when the model takes no reference
  reference: $("reference"), referenceDrop: $("reference-drop"), referenceShown: $("reference-shown"),
  referenceImg: $("reference-img"), referenceName: $("reference-name"), referenceShare: $("reference-share"),
  referenceRemove: $("reference-remove"),
  video: $("video"), videoProgress: $("video-progress"), videoBar: $("video-bar"),
  videoProgressText: $("video-progress-text"), videoCancel: $("video-cancel"), videoDone: $("video-done"),
  videoAfter: $("video-after"), videoBefore: $("video-before"), videoDownload: $("video-download"),
  videoEdit: $("video-edit"), videoAgain: $("video-again"), videoExpires: $("video-expires"),
  // the reference a finished film took its colours from: absent (null) when the model takes no reference
  videoReference: $("video-reference"), videoReferenceImg: $("video-reference-img"),
  videoReferenceName: $("video-reference-name"), videoReferenceShare: $("video-reference-share"),
};

export const settings = {
  maxBytes: Number(els.form.dataset.maxBytes),
  maxPoints: Number(els.form.dataset.maxHints),
  takesHints: els.form.dataset.hints === "yes",
  formatNames: els.form.dataset.formatNames,
  videoUrl: els.form.dataset.videoUrl,  // POST a video here; GET, DELETE and the result at the URL it answers
  videoAccept: els.form.dataset.videoAccept,
  maxVideoBytes: Number(els.form.dataset.maxVideoBytes),
  maxVideoSeconds: Number(els.form.dataset.maxVideoSeconds),
  maxVideoPixels: Number(els.form.dataset.maxVideoPixels),
};

// Everything about the current photo; reset when another is chosen.
export const state = {
  photo: null,  // {file, name, full: {w, h} | null, preview: Blob | null, previewSize, beforeUrl}
  points: [],  // {id, x, y, color, shown}, x and y in the full photo's pixels; shown: see shown.js
  selected: null,  // the id of the point whose colour choice is open
  nextId: 1,
  resultUrl: null,  // the shown result (an object URL)
  hasResult: false,
  // A chosen video (video.js): {file, name, url (object URL), w, h, duration}; its first frame is state.photo
  // (null if the browser cannot show it). job: the video job under way or finished (video-job.js).
  video: null,
  job: null,  // {id, url, xhr, timer, record, reference: {name, url (object URL)} | null, the one it was sent with}
  // The colour reference (reference.js), kept when another photo or a video is chosen: {file, name, url, copy (a
  // reduced copy to send, or null: the file itself)}; null when there is none. A video's first frame and its job
  // are sent with the same one.
  reference: null,
};
