// The import wizard's progressive enhancements. Every step works without this file: it shows
// the chosen file, refuses a too-large one before sending it, and shows upload progress; the
// review of refused rows keeps what is being typed while a row is saved.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // The rule of app/sizes.py format_size: "10 MB", "120.6 KB", "1 byte".
  function formatSize(bytes) {
    if (bytes < 1024) {
      return bytes + (bytes === 1 ? " byte" : " bytes");
    }
    var units = ["KB", "MB", "GB"];
    var size = bytes / 1024;
    var unit = 0;
    while (Number(size.toFixed(1)) >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return size.toFixed(1).replace(/\.0$/, "") + " " + units[unit];
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

  // The review of refused rows saves a row when one of its cells changes and swaps the row in
  // as validated. The person has usually moved on to the next cell and may be typing in it
  // while the answer travels: keep that cell's text, caret and focus across the swap.
  var typing = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var row = event.detail.target;
    var active = document.activeElement;
    typing = null;
    if (!row || !row.id || row.id.indexOf("review-row-") !== 0 || !active || !row.contains(active)) {
      return;
    }
    if ((active.tagName === "INPUT" && active.type === "text") || active.tagName === "TEXTAREA") {
      typing = { id: active.id, value: active.value,
                 start: active.selectionStart, end: active.selectionEnd };
    }
  });
  // in the same task as the swap, so that no key typed meanwhile is lost
  document.addEventListener("htmx:afterSwap", function () {
    if (!typing) {
      return;
    }
    var cell = document.getElementById(typing.id);
    if (cell && cell.value !== typing.value) {
      // set by a script, the text would not count as a change when the cell is left: say it
      cell.value = typing.value;
      var changed = false;
      var noteChange = function () { changed = true; };
      cell.addEventListener("change", noteChange);
      cell.addEventListener("blur", function () {
        cell.removeEventListener("change", noteChange);
        if (!changed) {
          cell.dispatchEvent(new Event("change", { bubbles: true }));
        }
      }, { once: true });
    }
    if (cell) {
      cell.focus();
      try {
        cell.setSelectionRange(typing.start, typing.end);
      } catch (ignored) { /* a field without a caret */ }
    }
    typing = null;
  });

  document.addEventListener("DOMContentLoaded", function () {
    var upload = document.getElementById("upload-form");
    if (upload) {
      setupUpload(upload);
    }
  });
})();
