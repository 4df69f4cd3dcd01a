// Upload with a progress bar. Without this script the form posts normally and still works.
//
// The form (CSRF token included) is sent as FormData with XMLHttpRequest, whose upload progress
// events drive the <progress> bar; the server's answer (the result page, or the form with its
// errors) then replaces the page's <main>.
(function () {
  "use strict";

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1);
  }

  function pathOf(url) {
    var link = document.createElement("a");
    link.href = url;
    return link.pathname;
  }

  function showResponse(xhr, form) {
    // Sent somewhere else (signed out meanwhile, say): go there properly.
    if (xhr.responseURL && pathOf(xhr.responseURL) !== pathOf(form.action)) {
      window.location.assign(xhr.responseURL);
      return;
    }
    var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var fresh = page.querySelector("main");
    var current = document.querySelector("main");
    if (!fresh || !current) {
      document.open();
      document.write(xhr.responseText);
      document.close();
      return;
    }
    document.title = page.title;
    current.replaceWith(document.importNode(fresh, true));
    window.scrollTo(0, 0);
    attach(); // the form comes back when it had errors
  }

  function attach() {
    var form = document.getElementById("upload-form");
    if (!form || !window.FormData || !window.XMLHttpRequest) {
      return;
    }
    var box = document.getElementById("upload-progress-box");
    var bar = document.getElementById("upload-progress");
    var text = document.getElementById("upload-progress-text");
    var button = document.getElementById("upload-submit");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      box.hidden = false;
      bar.value = 0;
      text.textContent = "Starting the upload…";
      button.disabled = true;

      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) {
          bar.removeAttribute("value"); // an indeterminate bar
          text.textContent = megabytes(e.loaded) + " MB sent";
          return;
        }
        bar.max = e.total;
        bar.value = e.loaded;
        text.textContent = megabytes(e.loaded) + " of " + megabytes(e.total) + " MB";
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value");
        text.textContent = "Uploaded. Checking and storing the photos; this can take a while…";
      });
      xhr.addEventListener("load", function () {
        showResponse(xhr, form);
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        text.textContent =
          "The connection was lost. Uploading again is safe: photos already stored are " +
          "recognised as already present.";
      });
      xhr.send(new FormData(form));
    });
  }

  attach();
})();
