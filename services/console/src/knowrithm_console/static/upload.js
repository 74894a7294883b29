// Knowledge upload: sends the form with XMLHttpRequest to show real upload progress; accepts
// dropped files. Without this script the form posts normally.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var input = document.getElementById("upload-files");
  var zone = document.getElementById("dropzone");
  var bar = document.getElementById("upload-bar");
  var box = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  var error = document.getElementById("upload-error");
  var token = form.querySelector("input[name=csrf_token]").value;

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) { input.files = event.dataTransfer.files; }
  });

  form.addEventListener("submit", function (event) {
    if (!input.files.length) { return; }  // the browser's own "required" message
    event.preventDefault();
    var xhr = new XMLHttpRequest();
    var button = form.querySelector("button[type=submit]");
    error.textContent = "";
    box.hidden = false;
    bar.value = 0;
    button.disabled = true;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var percent = Math.floor((e.loaded / e.total) * 100);
        bar.value = percent;
        bar.textContent = percent + "%";
        status.textContent = status.dataset.uploading + ": " + percent + "%";
      }
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (ignored) { answer = {}; }
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = 100;
        bar.textContent = "100%";
        status.textContent = answer.message || status.dataset.done;
        form.reset();
        document.body.dispatchEvent(new CustomEvent("knowrithm:uploaded"));
      } else {
        status.textContent = "";
        error.textContent = answer.error || status.dataset.failed;
        input.focus();
      }
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      status.textContent = "";
      error.textContent = status.dataset.failed;
    });
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(new FormData(form));
  });
}());
