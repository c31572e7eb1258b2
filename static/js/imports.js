// The import wizard's progressive enhancements. Every step works without this file: it shows
// the chosen file, refuses a too-large one before sending it, and shows upload progress.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function formatSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB"];
    var size = bytes;
    var unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return unit === 0 ? size + " bytes" : size.toFixed(1) + " " + units[unit];
  }

  function setupUpload(form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector(".dropzone");
    var chosen = document.getElementById("file-chosen");
    var error = document.getElementById("file-error");
    var progressBox = document.getElementById("upload-progress");
    var progress = progressBox.querySelector("progress");
    var progressText = document.getElementById("upload-progress-text");
    var button = document.getElementById("upload-button");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
    var maxSize = form.getAttribute("data-max-size");

    function showError(message) {
      error.textContent = message;
      error.hidden = !message;
      if (message) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", "file-hint file-error");
      } else {
        input.removeAttribute("aria-invalid");
        input.setAttribute("aria-describedby", "file-hint");
      }
    }

    function check() {
      var file = input.files && input.files[0];
      if (!file) {
        chosen.textContent = "";
        return false;
      }
      chosen.textContent = file.name + " · " + formatSize(file.size);
      if (maxBytes && file.size > maxBytes) {
        showError("The file is larger than the upload limit of " + maxSize +
          ": split it into smaller files and upload them one by one.");
        return false;
      }
      if (file.size === 0) {
        showError("The file is empty (0 bytes): check you picked the right file and upload it again.");
        return false;
      }
      showError("");
      return true;
    }

    input.addEventListener("change", check);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.add("dragover"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragover"); });
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!input.files || !input.files[0]) {
        showError("Choose a file to import: CSV, TSV, Excel (.xlsx) or JSON.");
        input.focus();
        return;
      }
      if (!check()) {
        input.focus();
        return;
      }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action") || window.location.href);
      xhr.setRequestHeader("Accept", "application/json");
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      progressBox.hidden = false;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var percent = Math.round((e.loaded * 100) / e.total);
          progress.value = percent;
          progressText.textContent = percent < 100 ? "Uploading… " + percent + "%" : "Reading the file…";
        }
      });
      xhr.addEventListener("load", function () {
        var data = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch (ignored) {
          data = null;
        }
        if (xhr.status >= 200 && xhr.status < 300 && data && data.next) {
          window.location.assign(data.next);
          return;
        }
        button.disabled = false;
        button.removeAttribute("aria-busy");
        progressBox.hidden = true;
        showError((data && data.error) ||
          "The upload failed (the form may have expired): reload the page and try again.");
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        progressBox.hidden = true;
        showError("The upload was interrupted: check your connection and try again.");
      });
      xhr.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var upload = document.getElementById("upload-form");
    if (upload) {
      setupUpload(upload);
    }
  });
})();
