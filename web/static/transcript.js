/* The call page's transcript and quality result: a click on a word, or on an evidence or
 * alert time, seeks the player of the recording that carries that voice (the mixed file, or
 * the party's leg) and plays from there; while a player plays, the word being said is
 * highlighted. Text is never parsed as HTML (the server renders the words; this only moves
 * classes and the players' time). */
(function () {
  "use strict";

  function playerOf(rec) {
    var items = document.querySelectorAll("li.recording[data-recording-id]");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-recording-id") === String(rec)) {
        return items[i].querySelector("audio");
      }
    }
    return null;
  }

  function seek(rec, seconds) {
    var audio = playerOf(rec);
    if (!audio || !isFinite(seconds)) { return; }
    var go = function () {
      audio.currentTime = Math.max(0, seconds);
      var played = audio.play();
      if (played && played.catch) { played.catch(function () { /* autoplay refused */ }); }
    };
    if (audio.readyState >= 1) { go(); } else {
      audio.addEventListener("loadedmetadata", go, { once: true });
      audio.load();
    }
  }

  document.addEventListener("click", function (ev) {
    var target = ev.target;
    if (!(target instanceof Element)) { return; }
    var word = target.closest("#transcript [data-t]");
    if (word) {
      seek(word.getAttribute("data-rec"), Number(word.getAttribute("data-t")));
      return;
    }
    var button = target.closest("button[data-seek]");
    if (button) {
      seek(button.getAttribute("data-recording"), Number(button.getAttribute("data-seek")));
    }
  });

  // Each player's words in time order, to find the one being said (binary search).
  var byRec = {};
  Array.prototype.forEach.call(document.querySelectorAll("#transcript [data-t]"), function (w) {
    var rec = w.getAttribute("data-rec");
    (byRec[rec] = byRec[rec] || []).push({
      el: w, start: Number(w.getAttribute("data-t")), end: Number(w.getAttribute("data-e"))
    });
    w.tabIndex = 0;
    w.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); w.click(); }
    });
  });
  Object.keys(byRec).forEach(function (rec) {
    var words = byRec[rec].sort(function (a, b) { return a.start - b.start; });
    var audio = playerOf(rec);
    if (!audio) { return; }
    var current = null;
    function update() {
      var t = audio.currentTime, lo = 0, hi = words.length - 1, found = -1;
      while (lo <= hi) {
        var mid = (lo + hi) >> 1;
        if (words[mid].start <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
      }
      var next = found >= 0 && t <= (words[found].end || words[found].start) + 0.5
        ? words[found].el : null;
      if (next === current) { return; }
      if (current) { current.classList.remove("playing"); }
      if (next) { next.classList.add("playing"); }
      current = next;
    }
    audio.addEventListener("timeupdate", update);
    audio.addEventListener("seeked", update);
    audio.addEventListener("ended", function () {
      if (current) { current.classList.remove("playing"); current = null; }
    });
  });
})();
