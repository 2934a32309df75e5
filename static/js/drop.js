// A file input with a drop zone around it: a file chosen in the input or dropped on the zone goes to onFile. A
// disabled input (the reference while a video is colorized with it) takes no drop either.

export function wireFileDrop(zone, input, onFile) {
  input.addEventListener("change", () => onFile(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();  // even when disabled: a file dropped here is not opened in place of the page
      if (!input.disabled) zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (input.disabled || !event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    onFile(input.files[0]);
  });
}
