// Resumable uploads with Uppy: its Dashboard to pick files, Tus to send them in chunks that a
// dropped connection only repeats one of, and Golden Retriever to pick up after a closed tab
// or a browser crash. Without this script (or Uppy) the form posts the files in one request.
//
// Each file (a zipped memory card, or photos) becomes one tus upload to /uploads/, with the
// destination from the form in its metadata: the server checks it before any byte is sent.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var box = document.getElementById("uppy-dashboard");
  if (!form || !box || !window.Uppy || !window.Uppy.Tus) {
    return;
  }
  var U = window.Uppy;
  var messages = document.getElementById("uppy-messages");
  var csrf = form.querySelector("input[name=csrf_token]").value;

  function destination() {
    return {
      deployment: form.querySelector("[name=deployment]").value.trim(),
      station: form.querySelector("[name=station]").value.trim(),
    };
  }

  function say(text, isError) {
    var line = document.createElement("p");
    line.textContent = text;
    line.className = isError ? "error" : "hint";
    messages.appendChild(line);
  }

  // The file input and the one-request button give way to the dashboard.
  form.querySelector("[name=files]").closest(".field").hidden = true;
  document.getElementById("upload-submit").hidden = true;
  box.hidden = false;

  var uppy = new U.Uppy({
    id: "tracker-cards",
    autoProceed: false,
    restrictions: { allowedFileTypes: [".jpg", ".jpeg", ".zip", "image/jpeg", "application/zip"] },
    onBeforeUpload: function (files) {
      var where = destination();
      var ids = Object.keys(files);
      // A file restored after a closed tab or a crash (Golden Retriever) goes on to the
      // destination it was started with: the server has that upload, half received, already.
      var placed = function (id) { return files[id].meta.deployment || files[id].meta.station; };
      if (!where.deployment && !where.station && !ids.every(placed)) {
        say("Choose a deployment, or enter a station code, before uploading.", true);
        return false;
      }
      ids.forEach(function (id) {
        var meta = files[id].meta;
        var to = placed(id) ? { deployment: meta.deployment, station: meta.station } : where;
        files[id].meta = Object.assign({}, meta, to, { filename: files[id].name });
      });
      return files;
    },
  });
  uppy.use(U.Dashboard, {
    inline: true,
    target: box,
    height: 360,
    proudlyDisplayPoweredByUppy: false,
    note: "A zipped memory card, or photos (JPEG). An interrupted upload resumes where it stopped.",
  });
  uppy.use(U.Tus, {
    endpoint: form.dataset.tusEndpoint,
    headers: { "X-CSRFToken": csrf },
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000, 10000, 30000, 60000],
    allowedMetaFields: ["filename", "deployment", "station"],
    removeFingerprintOnSuccess: true,
  });
  uppy.use(U.GoldenRetriever, { serviceWorker: false });

  uppy.on("upload-error", function (file, error, response) {
    var body = error && error.originalResponse ? error.originalResponse.getBody() : "";
    say(file.name + ": " + (body || error.message), true);
  });
  uppy.on("complete", function (result) {
    if (result.successful.length === 1 && result.failed.length === 0) {
      window.location.assign(result.successful[0].uploadURL);
      return;
    }
    result.successful.forEach(function (file) {
      var line = document.createElement("p");
      var link = document.createElement("a");
      link.href = file.uploadURL;
      link.textContent = file.name + ": received, see its import";
      line.appendChild(link);
      messages.appendChild(line);
    });
  });
})();
