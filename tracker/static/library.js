// The library's grid: choose photos with the mouse (a click on a photo or its box, shift-click
// for a range) or the keyboard (arrows move, Space chooses, Shift+arrows extend, a chooses all,
// Esc none), then tag them all from the bar above. Without this file the checkboxes still work.
(function () {
  "use strict";
  var form = document.getElementById("library-form");
  if (!form) {
    return;
  }
  var ticks = Array.prototype.slice.call(form.querySelectorAll("input[name=image_ids]"));
  var count = document.getElementById("library-count");
  var anchor = null; // where a shift-click or Shift+arrow range starts

  function update() {
    count.textContent = ticks.filter(function (t) { return t.checked; }).length;
  }

  function range(from, to, on) {
    var lo = Math.min(from, to);
    var hi = Math.max(from, to);
    for (var i = lo; i <= hi; i++) {
      ticks[i].checked = on;
    }
    update();
  }

  function perRow() {
    // Photos in a row of the grid, as laid out now: those level with the first one.
    var top = ticks[0].closest("li").offsetTop;
    var n = ticks.filter(function (t) { return t.closest("li").offsetTop === top; }).length;
    return Math.max(1, n);
  }

  ticks.forEach(function (tick, index) {
    tick.addEventListener("click", function (event) {
      if (event.shiftKey && anchor !== null) {
        range(anchor, index, tick.checked);
      }
      anchor = index;
      update();
    });
    // A click on the photo chooses it (shift-click: a range); the file name opens it.
    var pic = tick.closest("li").querySelector("a.pic");
    pic.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey) {
        return; // a new tab, as a link does
      }
      event.preventDefault();
      tick.focus();
      tick.checked = !tick.checked;
      if (event.shiftKey && anchor !== null) {
        range(anchor, index, tick.checked);
      }
      anchor = index;
      update();
    });
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var inGrid = ticks.indexOf(target) >= 0;
    if (!inGrid && target && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName)) {
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var at = ticks.indexOf(document.activeElement);
    if (event.key === "a") {
      range(0, ticks.length - 1, true);
    } else if (event.key === "Escape") {
      range(0, ticks.length - 1, false);
    } else {
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow(), ArrowUp: -perRow() }[event.key];
      if (!step) {
        return;
      }
      var next = at < 0 ? 0 : Math.max(0, Math.min(ticks.length - 1, at + step));
      if (event.shiftKey) {
        if (anchor === null) {
          anchor = at < 0 ? 0 : at;
        }
        range(anchor, next, true);
      } else {
        anchor = next;
      }
      ticks[next].focus();
    }
    event.preventDefault();
  });

  form.addEventListener("submit", function (event) {
    if (!ticks.some(function (t) { return t.checked; })) {
      event.preventDefault();
      count.textContent = "0 (choose some photos first)";
    }
  });
  update();
})();
