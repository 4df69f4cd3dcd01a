// The result page of a card still being imported: ask for its status every few seconds and
// reload the page (with every file's outcome) once the import has ended.
(function () {
  "use strict";
  var state = document.getElementById("upload-state");
  if (!state || ["done", "failed"].indexOf(state.dataset.state) !== -1) {
    return;
  }
  function poll() {
    fetch(state.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (status.state !== state.dataset.state || status.state === "running") {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
})();
