// Boxes over a photo: shown on the review queue and the image page; drawn, moved, resized and
// deleted with mouse, pen or touch (Pointer Events); zoom with the wheel, a pinch or + - 0;
// brightness and contrast for night shots. A photo is an element with data-boxes (JSON list),
// data-boxes-url (where new boxes are posted) and data-can-edit; boxes are fractions of the
// photo, [x, y, width, height] from its top left, as the server stores them.
(function () {
  "use strict";
  var MIN = 0.01; // the smallest box a slip of the finger should not make

  function csrf() {
    var meta = document.querySelector("meta[name=csrf-token]");
    var field = document.querySelector("input[name=csrf_token]");
    return (meta && meta.content) || (field && field.value) || "";
  }

  function send(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!answer.ok) {
          throw new Error(Object.values(answer.errors || {}).join(" ") || "refused");
        }
        return answer;
      });
    });
  }

  function clamp(v, lo, hi) {
    return Math.max(lo, Math.min(hi, v));
  }

  function Photo(root) {
    this.root = root;
    this.stage = root.querySelector(".boxed-stage") || root;
    this.img = root.querySelector("img");
    this.canEdit = root.getAttribute("data-can-edit") === "1";
    this.url = root.getAttribute("data-boxes-url");
    this.boxes = JSON.parse(root.getAttribute("data-boxes") || "[]");
    this.sightings = JSON.parse(root.getAttribute("data-sightings") || "[]");
    this.zoom = 1;
    this.pan = [0, 0];
    this.drawing = false;
    this.selected = null;
    this.pointers = {};
    root.classList.add("boxed-ready");
    this.render();
    this.listen();
  }

  Photo.prototype.fraction = function (event) {
    var rect = this.stage.getBoundingClientRect();
    return [clamp((event.clientX - rect.left) / rect.width, 0, 1),
            clamp((event.clientY - rect.top) / rect.height, 0, 1)];
  };

  Photo.prototype.render = function () {
    var self = this;
    this.stage.querySelectorAll(".box").forEach(function (node) { node.remove(); });
    this.boxes.forEach(function (box) {
      var node = document.createElement("div");
      node.className = "box box-" + box.category + (self.selected === box.id ? " selected" : "");
      node.dataset.id = box.id;
      node.style.left = box.bbox[0] * 100 + "%";
      node.style.top = box.bbox[1] * 100 + "%";
      node.style.width = box.bbox[2] * 100 + "%";
      node.style.height = box.bbox[3] * 100 + "%";
      var label = document.createElement("span");
      label.className = "box-label";
      label.textContent = box.category + (box.confidence !== null ? " " + box.confidence.toFixed(2) : "") +
        (box.sighting_id ? " · sighting " + box.sighting_id : "");
      node.appendChild(label);
      if (self.canEdit) {
        var handle = document.createElement("span");
        handle.className = "box-handle";
        handle.title = "drag to resize";
        node.appendChild(handle);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "box-delete";
        remove.title = "delete this box";
        remove.textContent = "×";
        remove.addEventListener("click", function (event) {
          event.stopPropagation();
          self.remove(box);
        });
        node.appendChild(remove);
      }
      self.stage.appendChild(node);
    });
  };

  Photo.prototype.save = function (box) {
    var self = this;
    var body = { bbox: box.bbox, category: box.category, sighting_id: box.sighting_id, flank: box.flank };
    var request = box.id ? send("/boxes/" + box.id, body) : send(this.url, body);
    return request.then(function (answer) {
      Object.assign(box, answer.box);
      if (self.selected === null || self.selected === box.id) {
        self.select(box);
      }
      self.render();
      self.root.dispatchEvent(new CustomEvent("boxes:saved", { detail: answer.box, bubbles: true }));
    }).catch(function (error) {
      self.root.setAttribute("data-error", error.message);
    });
  };

  Photo.prototype.remove = function (box) {
    var self = this;
    send("/boxes/" + box.id + "/delete").then(function () {
      self.boxes = self.boxes.filter(function (b) { return b !== box; });
      if (self.selected === box.id) {
        self.select(null);
      }
      self.render();
    });
  };

  Photo.prototype.transform = function () {
    this.stage.style.transform = "translate(" + this.pan[0] + "px," + this.pan[1] + "px) scale(" + this.zoom + ")";
  };

  Photo.prototype.zoomBy = function (factor) {
    this.zoom = clamp(this.zoom * factor, 1, 8);
    if (this.zoom === 1) {
      this.pan = [0, 0];
    }
    this.transform();
  };

  Photo.prototype.listen = function () {
    var self = this;
    var drag = null;
    this.root.addEventListener("wheel", function (event) {
      event.preventDefault();
      self.zoomBy(event.deltaY < 0 ? 1.2 : 1 / 1.2);
    }, { passive: false });
    this.stage.addEventListener("pointerdown", function (event) {
      if (event.target.closest(".box-delete")) {
        return; // its click deletes; re-rendering now would swallow that click
      }
      self.pointers[event.pointerId] = [event.clientX, event.clientY];
      var ids = Object.keys(self.pointers);
      if (ids.length === 2) { // a pinch: zoom by the change in the fingers' distance
        drag = { pinch: distance(self.pointers), zoom: self.zoom };
        return;
      }
      var node = event.target.closest(".box");
      var at = self.fraction(event);
      if (node && self.canEdit) {
        var box = self.boxes.find(function (b) { return String(b.id) === node.dataset.id; });
        self.select(box);
        drag = { box: box, start: at, bbox: box.bbox.slice(), resize: event.target.classList.contains("box-handle") };
      } else if (self.drawing && self.canEdit) {
        drag = { box: { id: null, category: "animal", bbox: [at[0], at[1], 0, 0], confidence: null }, start: at, draw: true };
        self.boxes.push(drag.box);
      } else if (self.zoom > 1) {
        drag = { pan: [event.clientX - self.pan[0], event.clientY - self.pan[1]] };
      } else {
        return;
      }
      event.preventDefault();
      self.stage.setPointerCapture(event.pointerId);
    });
    this.stage.addEventListener("pointermove", function (event) {
      if (self.pointers[event.pointerId]) {
        self.pointers[event.pointerId] = [event.clientX, event.clientY];
      }
      if (!drag) {
        return;
      }
      if (drag.pinch) {
        self.zoom = clamp(drag.zoom * distance(self.pointers) / drag.pinch, 1, 8);
        self.transform();
        return;
      }
      if (drag.pan) {
        self.pan = [event.clientX - drag.pan[0], event.clientY - drag.pan[1]];
        self.transform();
        return;
      }
      var at = self.fraction(event);
      var b = drag.box.bbox;
      if (drag.draw) {
        b[0] = Math.min(at[0], drag.start[0]);
        b[1] = Math.min(at[1], drag.start[1]);
        b[2] = Math.abs(at[0] - drag.start[0]);
        b[3] = Math.abs(at[1] - drag.start[1]);
      } else if (drag.resize) {
        b[2] = clamp(drag.bbox[2] + at[0] - drag.start[0], MIN, 1 - b[0]);
        b[3] = clamp(drag.bbox[3] + at[1] - drag.start[1], MIN, 1 - b[1]);
      } else {
        b[0] = clamp(drag.bbox[0] + at[0] - drag.start[0], 0, 1 - b[2]);
        b[1] = clamp(drag.bbox[1] + at[1] - drag.start[1], 0, 1 - b[3]);
      }
      self.render();
    });
    function end(event) {
      delete self.pointers[event.pointerId];
      var done = drag;
      drag = null;
      if (!done || done.pan || done.pinch) {
        return;
      }
      var b = done.box.bbox;
      if (done.draw && (b[2] < MIN || b[3] < MIN)) {
        self.boxes.pop();
        self.render();
        return;
      }
      var moved = done.draw || b.some(function (v, i) { return v !== done.bbox[i]; });
      if (moved) {
        self.save(done.box);
      } else {
        self.render();
      }
    }
    this.stage.addEventListener("pointerup", end);
    this.stage.addEventListener("pointercancel", end);
    var controls = this.root.querySelector(".boxed-controls");
    if (controls) {
      controls.addEventListener("input", function () {
        var bright = controls.querySelector("[name=brightness]").value;
        var contrast = controls.querySelector("[name=contrast]").value;
        self.img.style.filter = "brightness(" + bright + "%) contrast(" + contrast + "%)";
      });
      var toggle = controls.querySelector(".boxed-draw");
      if (toggle) {
        toggle.addEventListener("click", function () { self.setDrawing(!self.drawing); });
      }
    }
  };

  // The chosen box (the review form gives it to the sighting being saved): a boxes:selected event.
  Photo.prototype.select = function (box) {
    this.selected = box ? box.id : null;
    this.showTie(box);
    this.root.dispatchEvent(new CustomEvent("boxes:selected", { detail: box || null, bubbles: true }));
  };

  // With the photo's sightings given: the chosen box's sighting and flank, saved as chosen.
  Photo.prototype.showTie = function (box) {
    var self = this;
    var controls = this.root.querySelector(".boxed-controls");
    if (!this.canEdit || !this.sightings.length || !controls) {
      return;
    }
    var tie = controls.querySelector(".boxed-tie");
    if (!tie) {
      tie = document.createElement("span");
      tie.className = "boxed-tie";
      var sighting = document.createElement("select");
      sighting.name = "box_sighting";
      sighting.setAttribute("aria-label", "The chosen box shows the animal of sighting");
      [{ id: "", label: "no sighting" }].concat(this.sightings).forEach(function (s) {
        var option = document.createElement("option");
        option.value = s.id;
        option.textContent = s.label;
        sighting.appendChild(option);
      });
      var flank = document.createElement("select");
      flank.name = "box_flank";
      flank.setAttribute("aria-label", "Flank the chosen box shows");
      ["", "left", "right", "front", "rear"].forEach(function (f) {
        var option = document.createElement("option");
        option.value = f;
        option.textContent = f || "flank?";
        flank.appendChild(option);
      });
      tie.appendChild(document.createTextNode("Chosen box: "));
      tie.appendChild(sighting);
      tie.appendChild(flank);
      controls.appendChild(tie);
      tie.addEventListener("change", function () {
        var chosen = self.boxes.find(function (b) { return b.id === self.selected; });
        if (chosen) {
          chosen.sighting_id = sighting.value ? Number(sighting.value) : null;
          chosen.flank = flank.value || null;
          self.save(chosen);
        }
      });
    }
    tie.hidden = !box;
    if (box) {
      tie.querySelector("[name=box_sighting]").value = box.sighting_id ? String(box.sighting_id) : "";
      tie.querySelector("[name=box_flank]").value = box.flank || "";
    }
  };

  Photo.prototype.setDrawing = function (on) {
    this.drawing = on;
    this.root.classList.toggle("drawing", on);
    var toggle = this.root.querySelector(".boxed-draw");
    if (toggle) {
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
    }
  };

  function distance(pointers) {
    var p = Object.values(pointers);
    return Math.hypot(p[0][0] - p[1][0], p[0][1] - p[1][1]) || 1;
  }

  var photos = [];

  function scan(scope) {
    (scope || document).querySelectorAll("[data-boxes]").forEach(function (root) {
      if (!root.classList.contains("boxed-ready")) {
        photos.push(new Photo(root));
      }
    });
    photos = photos.filter(function (p) { return document.body.contains(p.root); });
  }

  // Keys act on the photo under the pointer, or the first: + - 0 zoom, d draws, Delete deletes.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) {
      return;
    }
    var photo = photos.find(function (p) { return p.root.matches(":hover"); }) || photos[0];
    if (!photo) {
      return;
    }
    if (event.key === "+" || event.key === "=") {
      photo.zoomBy(1.25);
    } else if (event.key === "-") {
      photo.zoomBy(0.8);
    } else if (event.key === "0") {
      photo.zoom = 1;
      photo.pan = [0, 0];
      photo.transform();
    } else if (event.key === "d" && photo.canEdit) {
      photo.setDrawing(!photo.drawing);
    } else if ((event.key === "Delete" || event.key === "Backspace") && photo.selected) {
      var box = photo.boxes.find(function (b) { return b.id === photo.selected; });
      if (box) {
        photo.remove(box);
      }
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);

  window.TrackerBoxes = { scan: scan };
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
})();
