// The review queue without page reloads. Without this script the page's forms and links still
// work: each decision posts the form and the server redirects back to the queue.
//
// The page carries the current sequence and the next one as JSON (#review-data). The next
// sequence's previews are loaded in the background while the ranger looks at the current one;
// a decision is sent with fetch (Accept: application/json), and the answer names the sequence to
// show next, which replaces the images in place. Keyboard shortcuts are listed on the page.
(function () {
  "use strict";

  var dataElement = document.getElementById("review-data");
  var form = document.getElementById("review-form");
  if (!dataElement || !form || !window.fetch || !window.FormData) {
    return;
  }
  var data = JSON.parse(dataElement.textContent);
  var urls = data.urls;
  var quick = {};
  data.quick.forEach(function (choice) {
    quick[choice.key] = choice.id;
  });

  function byId(id) {
    return document.getElementById(id);
  }

  var els = {
    images: byId("review-images"),
    ids: byId("review-image-ids"),
    position: byId("review-position"),
    untagged: byId("review-untagged"),
    progress: byId("review-progress"),
    previous: byId("review-previous"),
    next: byId("review-next"),
    status: byId("review-status"),
    errors: byId("review-errors"),
    summary: byId("review-summary"),
    blank: byId("review-blank"),
    codes: byId("individual-codes"),
    timestamp: byId("review-timestamp"),
    timestampText: byId("review-timestamp-text"),
    boxId: byId("review-box-id"),
    another: byId("review-another"),
    again: byId("review-again"),
    chosen: byId("review-box-chosen"),
  };
  var fields = form.elements;

  var state = {
    current: data.current,
    next: data.next, // a sequence, null (none after this one) or undefined (being fetched)
    pending: null, // the promise of the next sequence while it is fetched
    kept: [], // preloading Image objects, kept so they are not collected half-way
    last: null, // the sighting just saved, for undo
    busy: false,
  };

  // --- talking to the server ----------------------------------------------------------------

  function request(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = { Accept: "application/json" };
    return fetch(url, options).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        throw new Error(
          response.redirected
            ? "Your session has ended: reload the page to sign in again."
            : "The server answered " + response.status + ". Reload the page and try again."
        );
      }
      return response.json().then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  function post(url, body) {
    return request(url, { method: "POST", body: body });
  }

  function preload(sequence) {
    if (!sequence) {
      return;
    }
    state.kept = sequence.images.map(function (image) {
      var picture = new Image();
      picture.src = image.preview_url;
      return picture;
    });
  }

  // Fetch (and preload) the sequence after `sequence`, unless we already have it.
  function loadNext(sequence) {
    state.next = undefined;
    var afterId = sequence.last_id;
    state.pending = request(urls.next + "?after=" + encodeURIComponent(afterId)).then(
      function (answer) {
        return answer.body.ok ? answer.body.next : null;
      },
      function () {
        return null; // at worst, the server's page at the end of the queue
      }
    );
    state.pending.then(function (next) {
      if (state.current && state.current.last_id === afterId) {
        state.next = next;
        preload(next);
      }
    });
  }

  // --- showing a sequence -------------------------------------------------------------------

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  // The same markup as templates/_boxes.html, for boxes.js to bring to life.
  function boxedPhoto(image) {
    var figure = element("figure", {
      class: "boxed",
      "data-boxes": JSON.stringify(image.boxes || []),
      "data-boxes-url": image.boxes_url,
      "data-can-edit": "1",
    });
    var view = element("div", { class: "boxed-view" });
    var stage = element("div", { class: "boxed-stage" });
    stage.appendChild(element("img", { src: image.preview_url, alt: image.file_name }));
    view.appendChild(stage);
    figure.appendChild(view);
    var controls = element("figcaption", { class: "boxed-controls" });
    ["brightness", "contrast"].forEach(function (name) {
      var label = element("label", {}, name.charAt(0).toUpperCase() + name.slice(1) + " ");
      label.appendChild(element("input", { type: "range", name: name, min: 50, max: 300, value: 100 }));
      controls.appendChild(label);
    });
    controls.appendChild(element("button", { type: "button", class: "boxed-draw secondary", "aria-pressed": "false" }, "Draw a box (d)"));
    figure.appendChild(controls);
    return figure;
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function show(sequence, fromUrl) {
    if (!sequence) {
      // The end of the queue (or nothing left): the server's page says what remains.
      window.location.assign(fromUrl || urls.queue);
      return;
    }
    state.current = sequence;
    els.images.textContent = "";
    sequence.images.forEach(function (image) {
      var item = element("li");
      item.appendChild(boxedPhoto(image));
      var meta = element("div", { class: "meta" });
      meta.appendChild(element("a", { class: "names", href: image.detail_url }, image.file_name));
      meta.appendChild(element("span", {}, image.local_time || "no capture time"));
      if (image.timestamp_issue) {
        meta.appendChild(element("span", { class: "issue" }, image.timestamp_issue));
      }
      item.appendChild(meta);
      els.images.appendChild(item);
    });
    if (window.TrackerBoxes) {
      window.TrackerBoxes.scan(els.images);
    }
    els.ids.textContent = "";
    sequence.image_ids.forEach(function (id) {
      els.ids.appendChild(element("input", { type: "hidden", name: "image_ids", value: id }));
    });
    // Several animals in these photos: each sighting gets the box chosen for it.
    chooseBox(null);
    els.another.value = sequence.again ? "1" : "";
    els.again.hidden = !sequence.again;
    els.again.textContent = sequence.again
      ? "Already tagged here: " + sequence.tagged.join("; ") + ". Choose the next animal's box, then tag it."
      : "";
    // Photos with a timestamp issue: say so, and ask for the box to be ticked before saving.
    els.timestamp.hidden = !sequence.timestamp_warning;
    els.timestampText.textContent = sequence.timestamp_warning || "";
    fields.confirm_timestamp.checked = false;
    els.position.textContent = "Sequence " + sequence.position + " of " + sequence.total;
    els.untagged.textContent = sequence.untagged;
    els.progress.max = sequence.images_total || 1;
    els.progress.value = sequence.images_total - sequence.untagged;
    els.previous.href = sequence.previous_url;
    els.previous.hidden = !sequence.has_previous;
    els.next.href = sequence.next_url;
    var summary = plural(sequence.images.length, "image");
    if (sequence.span_seconds !== null && sequence.images.length > 1) {
      summary += " over " + sequence.span_seconds + " s";
    }
    els.summary.textContent = summary + " · times local to " + data.timezone;
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", sequence.url);
    }
  }

  function chooseBox(box) {
    var mine = box && state.current && state.current.image_ids.indexOf(box.image_id) >= 0;
    els.boxId.value = mine ? String(box.id) : "";
    els.chosen.hidden = !mine;
    els.chosen.textContent = mine ? "Box " + box.id + " (" + box.category + ") goes with this sighting." : "";
  }

  document.addEventListener("boxes:selected", function (event) {
    chooseBox(event.detail);
  });

  function say(message) {
    els.status.textContent = message;
    els.status.hidden = !message;
  }

  function clearErrors() {
    els.errors.textContent = "";
    form.querySelectorAll(".error").forEach(function (node) {
      node.remove();
    });
    form.querySelectorAll(".has-error").forEach(function (node) {
      node.classList.remove("has-error");
    });
  }

  function showErrors(errors) {
    clearErrors();
    var first = null;
    Object.keys(errors).forEach(function (name) {
      var input = fields.namedItem(name);
      var box = input && input.closest ? input.closest(".field") : null;
      if (box) {
        box.classList.add("has-error");
        box.appendChild(element("small", { class: "error", role: "alert" }, errors[name]));
        first = first || input;
      } else {
        els.errors.appendChild(
          element("p", { class: "flash flash-error", role: "alert" }, errors[name])
        );
      }
    });
    say("");
    // A field to type in gets the focus; a species left unchosen keeps the keys working.
    if (first && first.tagName !== "SELECT") {
      first.focus();
    }
  }

  function resetForm() {
    fields.species_id.value = "";
    fields.individual_code.value = "";
    fields.new_individual.checked = false;
    fields.individual_name.value = "";
    fields.count.value = "1";
    fields.sex.value = "";
    fields.life_stage.value = "";
    fields.flank.value = "";
    fields.comments.value = "";
    fields.stay.checked = false;
    clearErrors();
    if (document.activeElement && form.contains(document.activeElement)) {
      document.activeElement.blur(); // so the keys work again at once
    }
  }

  // --- decisions ----------------------------------------------------------------------------

  function working(on) {
    state.busy = on;
    form.classList.toggle("busy", on);
  }

  function tag(extra) {
    if (state.busy || !state.current) {
      return;
    }
    working(true);
    var body = new FormData(form);
    if (extra) {
      body.append(extra.name, extra.value);
    }
    var count = state.current.image_ids.length;
    post(urls.tag, body)
      .then(function (answer) {
        if (!answer.body.ok) {
          showErrors(answer.body.errors || { form: "Not saved." });
          return;
        }
        var saved = state.current;
        var option = null;
        if (answer.body.individual && els.codes) {
          option = element("option", { value: answer.body.individual.code });
          if (answer.body.individual.name) {
            option.setAttribute("label", answer.body.individual.name);
          }
          els.codes.appendChild(option);
        }
        state.last = { undo: answer.body.undo_url, summary: answer.body.summary, option: option };
        resetForm();
        say("Saved: " + answer.body.summary + " (" + plural(count, "image") + "). u undoes it.");
        show(answer.body.next, saved.next_url);
        if (answer.body.next) {
          loadNext(answer.body.next);
        }
      })
      .catch(function (error) {
        showErrors({ form: error.message });
      })
      .then(function () {
        working(false);
      });
  }

  function skip() {
    if (!state.current) {
      return;
    }
    if (state.next === undefined) {
      var waitingFor = state.current;
      state.pending.then(function () {
        if (state.current === waitingFor) {
          skip();
        }
      });
      return;
    }
    var from = state.current;
    show(state.next, from.next_url);
    if (state.next) {
      loadNext(state.next);
    }
    say("");
  }

  function previous() {
    if (!state.current || !state.current.has_previous || state.busy) {
      return;
    }
    working(true);
    request(urls.next + "?before=" + encodeURIComponent(state.current.first_id))
      .then(function (answer) {
        if (answer.body.ok && answer.body.next) {
          show(answer.body.next);
          loadNext(answer.body.next);
          say("");
        }
      })
      .catch(function (error) {
        showErrors({ form: error.message });
      })
      .then(function () {
        working(false);
      });
  }

  function undo() {
    if (!state.last || state.busy) {
      return;
    }
    working(true);
    var body = new FormData();
    body.append("csrf_token", fields.csrf_token.value);
    var last = state.last;
    post(last.undo, body)
      .then(function (answer) {
        if (!answer.body.ok) {
          showErrors(answer.body.errors || { form: "Not undone." });
          return;
        }
        state.last = null;
        var removed = "";
        if (answer.body.removed_individual) {
          removed = " New individual " + answer.body.removed_individual + " removed.";
          if (last.option && last.option.parentNode) {
            last.option.parentNode.removeChild(last.option);
          }
        }
        say("Undone: " + last.summary + ". The sequence is untagged again." + removed);
        show(answer.body.next);
        if (answer.body.next) {
          loadNext(answer.body.next);
        }
      })
      .catch(function (error) {
        showErrors({ form: error.message });
      })
      .then(function () {
        working(false);
      });
  }

  function choose(speciesId, message) {
    if (speciesId) {
      fields.species_id.value = String(speciesId);
      say(message);
    }
  }

  // --- wiring -------------------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    tag(null);
  });
  els.blank.addEventListener("click", function (event) {
    event.preventDefault();
    tag({ name: "blank", value: "1" });
  });
  els.next.addEventListener("click", function (event) {
    event.preventDefault();
    skip();
  });
  els.previous.addEventListener("click", function (event) {
    event.preventDefault();
    previous();
  });

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var name = target.tagName;
    return name === "INPUT" || name === "TEXTAREA" || name === "SELECT" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") {
        target.blur();
      }
      return;
    }
    if (target && (target.tagName === "BUTTON" || target.tagName === "A")) {
      if (event.key === "Enter" || event.key === " ") {
        return; // the focused button or link does its own thing
      }
    }
    var key = event.key;
    var handled = true;
    if (key === "b" || key === "B") {
      tag({ name: "blank", value: "1" });
    } else if (key === "l" || key === "L") {
      choose(data.leopard_id, "Leopard: type the individual code (or leave it empty).");
      fields.individual_code.focus();
    } else if (quick[key] !== undefined) {
      var option = fields.species_id.querySelector('option[value="' + quick[key] + '"]');
      choose(quick[key], (option ? option.textContent : "Species") + ": Enter saves.");
    } else if (key === "Enter") {
      tag(null);
    } else if (key === "n" || key === "N" || key === "ArrowRight") {
      skip();
    } else if (key === "p" || key === "P" || key === "ArrowLeft") {
      previous();
    } else if (key === "u" || key === "U") {
      undo();
    } else if (key === "a" || key === "A") {
      fields.stay.checked = !fields.stay.checked;
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  if (state.current) {
    if (state.next === null || state.next) {
      preload(state.next);
    } else {
      loadNext(state.current);
    }
  }
})();
