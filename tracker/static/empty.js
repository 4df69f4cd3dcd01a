// The likely-empty grid: tick off with the mouse (shift-click for a range) or the keyboard,
// then one key, b, confirms the ticked photos as blank; unticked ones are sent as "kept".
(function () {
  "use strict";
  var form = document.getElementById("empty-form");
  if (!form) {
    return;
  }
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=blank]"));
  var last = null;
  boxes.forEach(function (box) {
    box.addEventListener("click", function (event) {
      var index = boxes.indexOf(box);
      if (event.shiftKey && last !== null) {
        var from = Math.min(last, index);
        var to = Math.max(last, index);
        for (var i = from; i <= to; i++) {
          boxes[i].checked = box.checked;
        }
      }
      last = index;
    });
  });
  form.addEventListener("submit", function () {
    boxes.forEach(function (box) {
      if (!box.checked) {
        var kept = document.createElement("input");
        kept.type = "hidden";
        kept.name = "kept";
        kept.value = box.value;
        form.appendChild(kept);
      }
    });
  });
  document.addEventListener("keydown", function (event) {
    var focused = boxes.indexOf(document.activeElement);
    if (event.key === "b" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 6, ArrowUp: -6 }[event.key];
    if (step) {
      event.preventDefault();
      var next = Math.max(0, Math.min(boxes.length - 1, (focused < 0 ? -step : focused) + step));
      boxes[next].focus();
    }
  });
})();
