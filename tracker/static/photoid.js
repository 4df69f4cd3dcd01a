// Photo-ID suggestions in the review queue (templates/photoid/_candidates.html).
//
// When the sequence is tagged as a leopard (the `l` key or the species list), the catalogue's
// best candidates for the box chosen for the sighting (else the sequence's largest animal box not
// yet tied to a sighting) are fetched and listed; each shows its
// best-matching reference photo beside this one, with the matched points in the same colours,
// and both views zoom and pan together. Keys while a leopard is chosen: 1-5 take a candidate,
// n makes a new individual (its code proposed), c goes to the code field. The hidden fields
// tell the server which suggestion was taken (rank, score). review.js is left as it is: this
// file's key handler runs first (capture) and marks the keys it used as handled.
(function () {
  "use strict";

  var panel = document.getElementById("photoid");
  var form = panel && document.getElementById(panel.getAttribute("data-form"));
  // The review queue's photos (absent on a sighting's own page, which names its box instead).
  var images = document.getElementById("review-images");
  var standalone = !document.getElementById("review-data"); // no review.js: Enter is ours
  if (!panel || !form || !window.fetch) {
    return;
  }
  var fields = form.elements;
  var leopardId = panel.getAttribute("data-leopard-id");
  function byId(id) {
    return document.getElementById(id);
  }
  var els = {
    status: byId("photoid-status"),
    probablyNew: byId("photoid-new"),
    compare: byId("photoid-compare"),
    zoom: byId("photoid-zoom"),
    list: byId("photoid-candidates"),
    queryView: byId("photoid-query-view"),
    referenceView: byId("photoid-reference-view"),
    referenceCaption: byId("photoid-reference-caption"),
    box: byId("photoid-box"),
    rank: byId("photoid-rank"),
    score: byId("photoid-score"),
    individual: byId("photoid-individual"),
    probably: byId("photoid-probably-new"),
  };
  var state = { box: null, answer: null, shown: null, zoom: 1, panX: 0, panY: 0, loading: null };

  function url(template, id) {
    return template.replace(/\/0\//, "/" + id + "/");
  }

  function say(text) {
    els.status.textContent = text;
  }

  // The box the review form gives to the sighting (a box chosen on a photo: boxes.js says so
  // with a boxes:selected event), else the sequence's largest animal box not yet tied to a
  // sighting (several animals in one burst), else its largest animal box.
  var selected = null;

  function inSequence(box) {
    return !!form.querySelector('input[name="image_ids"][value="' + box.image_id + '"]');
  }

  function targetBox() {
    if (panel.getAttribute("data-box")) {
      return Number(panel.getAttribute("data-box"));
    }
    if (!images) {
      return null;
    }
    if (selected && selected.category === "animal" && inSequence(selected)) {
      return selected.id;
    }
    var best = null;
    images.querySelectorAll("figure.boxed").forEach(function (figure) {
      var boxes = [];
      try {
        boxes = JSON.parse(figure.getAttribute("data-boxes") || "[]");
      } catch (error) {
        boxes = [];
      }
      boxes.forEach(function (box) {
        var rank = [box.sighting_id ? 0 : 1, box.bbox[2] * box.bbox[3]];
        var better = !best || rank[0] > best.rank[0] ||
          (rank[0] === best.rank[0] && rank[1] > best.rank[1]);
        if (box.category === "animal" && better) {
          best = { id: box.id, rank: rank };
        }
      });
    });
    return best && best.id;
  }

  function leopardChosen() {
    return leopardId && fields.species_id.value === leopardId;
  }

  function clearChoice() {
    [els.rank, els.score, els.individual].forEach(function (input) {
      input.value = "";
    });
    els.list.querySelectorAll("button").forEach(function (b) {
      b.setAttribute("aria-pressed", "false");
    });
  }

  function reset() {
    state.box = null;
    state.answer = null;
    state.loading = null;
    els.box.value = "";
    els.probably.value = "";
    clearChoice();
    els.list.textContent = "";
    els.compare.hidden = els.zoom.hidden = els.probablyNew.hidden = true;
    panel.hidden = true;
  }

  // --- drawing both photos, zoomed together -------------------------------------------------

  function svgNode(tag, attributes) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attributes).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    return node;
  }

  // One view: the photo, the box and the points; `region` ([x, y, w, h] fractions) fills it.
  function view(container, imageId, region, box, points) {
    container.textContent = "";
    var stage = document.createElement("div");
    stage.className = "photoid-stage";
    var img = document.createElement("img");
    img.src = url(panel.getAttribute("data-preview-url"), imageId);
    img.alt = "photo " + imageId;
    img.draggable = false;
    var svg = svgNode("svg", { viewBox: "0 0 1000 1000", preserveAspectRatio: "none" });
    if (box) {
      svg.appendChild(svgNode("rect", {
        x: box[0] * 1000, y: box[1] * 1000, width: box[2] * 1000, height: box[3] * 1000,
        fill: "none", stroke: "#fff", "stroke-width": 2, "vector-effect": "non-scaling-stroke",
      }));
    }
    points.forEach(function (p, n) {
      svg.appendChild(svgNode("ellipse", {
        cx: p[0] * 1000, cy: p[1] * 1000, rx: 6, ry: 6, fill: "none",
        stroke: "hsl(" + ((n * 47) % 360) + ", 95%, 55%)", "stroke-width": 3,
        "vector-effect": "non-scaling-stroke", class: "photoid-point",
      }));
    });
    stage.appendChild(img);
    stage.appendChild(svg);
    container.appendChild(stage);
    container.photoid = { stage: stage, img: img, svg: svg, region: region };
    img.addEventListener("load", render);
  }

  function regionOf(points, box) {
    if (box) {
      return box;
    }
    if (!points.length) {
      return [0, 0, 1, 1];
    }
    var xs = points.map(function (p) { return p[0]; });
    var ys = points.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), y0 = Math.min.apply(null, ys);
    return [x0, y0, Math.max.apply(null, xs) - x0 || 0.1, Math.max.apply(null, ys) - y0 || 0.1];
  }

  function place(container) {
    var v = container.photoid;
    if (!v || !v.img.naturalWidth) {
      return;
    }
    var vw = container.clientWidth, vh = container.clientHeight;
    var iw = v.img.naturalWidth, ih = v.img.naturalHeight;
    var r = v.region;
    var s = state.zoom * Math.min(vw / (r[2] * iw), vh / (r[3] * ih));
    var w = s * iw, h = s * ih;
    var cx = r[0] + r[2] * (0.5 + state.panX), cy = r[1] + r[3] * (0.5 + state.panY);
    v.stage.style.width = w + "px";
    v.stage.style.height = h + "px";
    v.stage.style.transform = "translate(" + (vw / 2 - cx * w) + "px, " + (vh / 2 - cy * h) + "px)";
    v.svg.querySelectorAll(".photoid-point").forEach(function (point) {
      point.setAttribute("rx", 7 * 1000 / w); // 7 px whatever the zoom
      point.setAttribute("ry", 7 * 1000 / h);
    });
  }

  function render() {
    place(els.queryView);
    place(els.referenceView);
  }

  function zoomBy(factor) {
    if (factor === 0) {
      state.zoom = 1;
      state.panX = state.panY = 0;
    } else {
      state.zoom = Math.min(12, Math.max(0.3, state.zoom * factor));
    }
    render();
  }

  function compare(candidate) {
    var answer = state.answer;
    state.shown = candidate;
    els.compare.hidden = els.zoom.hidden = false;
    view(els.queryView, answer.image_id, answer.box, answer.box, candidate.query_points);
    var refRegion = regionOf(candidate.reference_points, candidate.reference_box);
    view(els.referenceView, candidate.reference_image, refRegion, candidate.reference_box,
      candidate.reference_points);
    els.referenceCaption.textContent = candidate.individual + ": reference photo " +
      candidate.reference_image + " · " + candidate.query_points.length + " matched points";
  }

  // --- the candidates -----------------------------------------------------------------------

  function list(answer) {
    els.list.textContent = "";
    answer.candidates.forEach(function (c) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "photoid-choice";
      button.setAttribute("aria-pressed", "false");
      button.setAttribute("data-rank", c.rank);
      var key = document.createElement("kbd");
      key.textContent = c.rank;
      var code = document.createElement("strong");
      code.textContent = c.individual;
      var score = document.createElement("span");
      score.className = "score";
      score.textContent = "score " + c.score.toFixed(2);
      button.appendChild(key);
      button.appendChild(code);
      if (!c.score) {
        var weak = document.createElement("span");
        weak.textContent = "no verified match";
        weak.className = "hint";
        button.appendChild(weak);
      }
      if (!c.flank_match) {
        var flank = document.createElement("span");
        flank.textContent = "other flank";
        flank.className = "hint";
        button.appendChild(flank);
      }
      button.appendChild(score);
      button.addEventListener("click", function () {
        choose(c.rank);
      });
      button.addEventListener("mouseenter", function () {
        compare(c);
      });
      item.appendChild(button);
      els.list.appendChild(item);
    });
  }

  function load() {
    var box = targetBox();
    if (!box) {
      panel.hidden = false;
      say("no animal box on these photos: draw one for suggestions");
      return;
    }
    if (state.box === box && (state.answer || state.loading)) {
      panel.hidden = false;
      return;
    }
    reset();
    state.box = box;
    els.box.value = box;
    panel.hidden = false;
    say("finding candidates…");
    var request = fetch(url(panel.getAttribute("data-candidates-url"), box), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      return response.json();
    });
    state.loading = request;
    request
      .then(function (answer) {
        if (state.loading !== request) {
          return; // another sequence meanwhile
        }
        state.loading = null;
        if (!answer.ok) {
          say(answer.error || "no suggestions");
          return;
        }
        state.answer = answer;
        els.probably.value = answer.probably_new ? "1" : "";
        els.probablyNew.hidden = !answer.probably_new;
        list(answer);
        if (answer.candidates.length) {
          compare(answer.candidates[0]);
          say(answer.candidates.length + " candidates: 1-" + answer.candidates.length +
            " choose, n new individual");
        } else {
          say("no candidate in the catalogue: n for a new individual");
        }
      })
      .catch(function () {
        if (state.loading === request) {
          state.loading = null;
          say("suggestions could not be loaded; type the code");
        }
      });
  }

  // Enter saves after a choice, even when a zoom or candidate button still has the focus.
  function blurPanel() {
    if (document.activeElement && panel.contains(document.activeElement)) {
      document.activeElement.blur();
    }
  }

  function choose(rank) {
    var answer = state.answer;
    var c = answer && answer.candidates[rank - 1];
    if (!c) {
      return false;
    }
    clearChoice();
    blurPanel();
    fields.individual_code.value = c.individual;
    fields.new_individual.checked = false;
    fields.individual_name.value = "";
    els.rank.value = c.rank;
    els.score.value = c.score;
    els.individual.value = c.individual;
    els.list.querySelector('[data-rank="' + rank + '"]').setAttribute("aria-pressed", "true");
    compare(c);
    say(c.individual + " (suggestion " + rank + ", score " + c.score.toFixed(2) + "): Enter saves");
    return true;
  }

  function makeNew() {
    if (!state.answer) {
      return false;
    }
    clearChoice();
    blurPanel();
    fields.individual_code.value = state.answer.new_code;
    fields.new_individual.checked = true;
    say("new individual " + state.answer.new_code + " (edit the code with c): Enter saves");
    return true;
  }

  // --- wiring -------------------------------------------------------------------------------

  function typing(target) {
    var name = target && target.tagName;
    return name === "INPUT" || name === "TEXTAREA" || name === "SELECT" ||
      (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    var key = event.key.toLowerCase();
    var handled = false;
    if (key === "l" && leopardId && targetBox()) {
      fields.species_id.value = leopardId;
      load();
      handled = true;
    } else if (leopardChosen() && !panel.hidden) {
      if (/^[1-5]$/.test(key)) {
        handled = choose(Number(key));
      } else if (key === "n") {
        handled = makeNew();
      } else if (key === "c") {
        fields.individual_code.focus();
        handled = true;
      } else if (key === "enter" && standalone) {
        form.requestSubmit();
        handled = true;
      }
    }
    if (handled) {
      event.preventDefault(); // review.js leaves a handled key alone
    }
  }, true);

  fields.species_id.addEventListener("change", function () {
    if (leopardChosen()) {
      load();
    } else {
      reset();
    }
  });

  document.addEventListener("boxes:selected", function (event) {
    selected = event.detail;
    if (leopardChosen() && !panel.hidden) {
      load();
    }
  });

  // A new sequence (review.js swaps the images in place): its own suggestions, if any.
  if (images) {
    new MutationObserver(function () {
      var again = leopardChosen();
      selected = null;
      reset();
      if (again) {
        load();
      }
    }).observe(images, { childList: true });
  }
  // A sighting's own page: an unidentified leopard gets its suggestions at once.
  if (standalone && leopardChosen() && !fields.individual_code.value) {
    load();
  }

  els.zoom.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-zoom]");
    if (button) {
      zoomBy(Number(button.getAttribute("data-zoom")));
    }
  });

  [els.queryView, els.referenceView].forEach(function (container) {
    container.addEventListener("wheel", function (event) {
      event.preventDefault();
      zoomBy(event.deltaY < 0 ? 1.2 : 1 / 1.2);
    }, { passive: false });
    var drag = null;
    container.addEventListener("pointerdown", function (event) {
      drag = { x: event.clientX, y: event.clientY, panX: state.panX, panY: state.panY };
      container.setPointerCapture(event.pointerId);
    });
    container.addEventListener("pointermove", function (event) {
      var v = container.photoid;
      if (!drag || !v) {
        return;
      }
      // Pan in units of each view's region, so both views move over the same part of the cat.
      var w = parseFloat(v.stage.style.width) || 1, h = parseFloat(v.stage.style.height) || 1;
      state.panX = drag.panX - (event.clientX - drag.x) / (v.region[2] * w);
      state.panY = drag.panY - (event.clientY - drag.y) / (v.region[3] * h);
      render();
    });
    container.addEventListener("pointerup", function () {
      drag = null;
    });
  });
  window.addEventListener("resize", render);
})();
