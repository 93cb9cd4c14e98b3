/* The call page's recordings: a waveform drawn from the server's peaks (computed once and
 * cached there), a click on it seeks the audio player, and a playback-speed choice.
 * The <audio> element does the rest: the server answers its Range requests (206), so seeking
 * fetches only what is needed. No framework, no build step. */
(function () {
  "use strict";

  function draw(canvas, peaks, progress) {
    var ctx = canvas.getContext("2d");
    var w = canvas.width, h = canvas.height, mid = h / 2;
    var style = window.getComputedStyle(canvas);
    ctx.clearRect(0, 0, w, h);
    if (!peaks.length) { return; }
    var step = w / peaks.length;
    for (var i = 0; i < peaks.length; i++) {
      var x = i * step, amp = Math.max(1, peaks[i] * (mid - 2));
      ctx.fillStyle = (i / peaks.length) <= progress ? style.color : style.borderTopColor;
      ctx.fillRect(x, mid - amp, Math.max(1, step - 1), amp * 2);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("li.recording"), function (item) {
    var canvas = item.querySelector("canvas.waveform");
    var audio = item.querySelector("audio");
    var speed = item.querySelector("select.speed");
    if (!audio) { return; }
    var peaks = [];
    function progress() { return audio.duration ? audio.currentTime / audio.duration : 0; }
    if (canvas) {
      window.cti.api("GET", canvas.getAttribute("data-peaks") + "?n=" + canvas.width / 2)
        .then(function (data) { peaks = data.peaks || []; draw(canvas, peaks, progress()); })
        .catch(function () { canvas.hidden = true; });
      canvas.addEventListener("click", function (ev) {
        var rect = canvas.getBoundingClientRect();
        var ratio = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
        if (audio.duration) { audio.currentTime = ratio * audio.duration; }
      });
      audio.addEventListener("timeupdate", function () { draw(canvas, peaks, progress()); });
    }
    if (speed) {
      speed.addEventListener("change", function () {
        audio.playbackRate = Number(speed.value) || 1;
      });
    }
  });
})();
