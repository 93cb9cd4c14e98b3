/* cti live board (supervisors): calls in progress, agents' lines, today's missed calls.
 *
 * Calls come from the screen-pop websocket with scope=all (/ws?scope=all, the tab's one socket:
 * cti.socket, see cti.js): every message holds
 * a call's whole state, so the table only draws what it is told, and the durations tick
 * locally on the server's clock (call.now). The agents and today's missed calls come from
 * GET /api/board, loaded once and again whenever an inbound call ends unanswered (a new
 * missed call) or a call ends answered (someone may have called a missed client back).
 * Line states are worked out here from the calls held, with the server's rules
 * (cti/webapp/board.py line_state), so a line changes colour with no round trip.
 * Text is always set with textContent: nothing from the network is parsed as HTML.
 */
(function () {
  "use strict";

  var root = document.getElementById("board");
  if (!root || !window.WebSocket || !window.cti) { return; }

  var strings = {};
  try { strings = JSON.parse(root.getAttribute("data-strings") || "{}"); } catch (e) { strings = {}; }
  var lang = root.getAttribute("data-lang") || "en";
  var canDial = root.getAttribute("data-can-dial") === "true";
  var callsBody = root.querySelector(".board-calls-body");
  var callsEmpty = root.querySelector(".board-calls-empty");
  var callsCount = root.querySelector(".calls-count");
  var linesList = root.querySelector(".board-lines");
  var missedBody = root.querySelector(".board-missed-body");
  var missedEmpty = root.querySelector(".board-missed-empty");
  var missedCount = root.querySelector(".missed-count");
  var alerts = root.querySelector(".board-alerts");
  var wsState = root.querySelector(".ws-state");
  var notifyButton = root.querySelector(".notify-enable");

  var calls = {};      // key → {call, row, offset, overlong}
  var people = [];     // [{username, label, extensions: [{extension}]}]
  var reloadTimer = null;

  var STATUS = {answered: "Answered", missed: "Missed", abandoned: "Abandoned", busy: "Busy",
                no_answer: "No answer", failed: "Failed"};
  var DIRECTION = {inbound: "Incoming call", outbound: "Outgoing call", internal: "Internal call"};
  var ARROW = {inbound: "\u2199", outbound: "\u2197", internal: "\u21c4"};
  var LINE = {idle: "Idle", ringing: "Ringing", in_call: "In call"};
  var UNSERVED = {missed: true, abandoned: true, busy: true, no_answer: true};

  function t(msgid, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, msgid) ? strings[msgid] : msgid;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }

  function setText(el, text) { if (el && el.textContent !== text) { el.textContent = text; } }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text || "";
    row.appendChild(td);
    return td;
  }

  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }

  var clock = window.cti.clock, epoch = window.cti.epoch;  // (cti.js loads first)

  function who(party) {
    if (!party) { return ""; }
    if (party.withheld) { return t("Withheld number"); }
    var shown = party.display || party.number || "";
    return party.name && party.name !== shown ? party.name + " (" + shown + ")" : (shown || t("Unknown number"));
  }

  /* ------------------------------------------------------------------ calls in progress */
  function drawCall(entry) {
    var call = entry.call, row = entry.row;
    if (!row) {
      row = entry.row = document.createElement("tr");
      row.className = "call";
      row.setAttribute("data-key", call.key);
      callsBody.insertBefore(row, callsBody.firstChild);
    }
    clear(row);
    row.setAttribute("data-state", call.state);
    row.classList.toggle("overlong", !!call.overlong);
    var dir = cell(row, ARROW[call.direction] || "", "dir dir-" + call.direction);
    dir.title = t(DIRECTION[call.direction] || "");
    cell(row, who(call.caller), "party");
    cell(row, who(call.callee), "party");
    cell(row, call.clients && call.clients.length ? call.clients[0].name : "", "client");
    cell(row, call.queue || "");
    var agent = call.extension || (call.ringing || []).join(", ") || call.origin || "";
    (call.transfers || []).forEach(function (x) { agent += " \u2192 " + x.to; });
    cell(row, agent, "agent");
    var state = call.state === "ringing" ? t("Ringing") : call.state === "up" ? t("In call") : t("Ended");
    var notes = [];
    if (call.overlong) { notes.push(t("Overlong call")); }
    if (call.recording) { notes.push(t("Recording")); }
    var stateCell = cell(row, [state].concat(notes).join(" \u00b7 "), "state");
    if (call.recording && call.state === "up" && entry.rec !== "stopped") {
      // Compliance: a supervisor may pause, resume or stop a running call's recording.
      var rec = document.createElement("button");
      rec.type = "button";
      rec.className = "link rec-toggle";
      rec.textContent = entry.rec === "paused" ? t("Resume recording") : t("Pause recording");
      rec.addEventListener("click", function () { toggleRecording(entry, rec); });
      stateCell.appendChild(document.createTextNode(" "));
      stateCell.appendChild(rec);
    }
    cell(row, "", "timer");
    // Listen, whisper, barge, hang up (callcontrol.js).
    if (window.cti.callControl) { window.cti.callControl.boardCell(row, call); }
    tick(entry);
  }

  function toggleRecording(entry, button) {
    var call = entry.call;
    var url = "/api/calls/" + encodeURIComponent(call.pbx) + "/" +
      encodeURIComponent(call.call_id) + "/recording";
    button.disabled = true;
    window.cti.api("POST", url, {action: entry.rec === "paused" ? "resume" : "pause"})
      .then(function (res) { entry.rec = res.state; }, function (err) { button.title = err.message; })
      .then(function () { if (calls[call.key]) { drawCall(entry); } });
  }

  function tick(entry) {
    var call = entry.call, now = Date.now() / 1000 + entry.offset;
    var started = epoch(call.started_at), answered = epoch(call.answered_at);
    var seconds = call.state === "up" && answered ? now - answered : now - started;
    var el = entry.row && entry.row.querySelector(".timer");
    if (el) { setText(el, clock(seconds)); }
  }

  function onCall(call) {
    var entry = calls[call.key];
    if (call.state === "ended") {
      if (entry) {
        if (entry.row) { entry.row.remove(); }
        delete calls[call.key];
      }
      if ((call.direction === "inbound" && UNSERVED[call.status]) || call.status === "answered") {
        reloadSoon();
      }
    } else {
      if (!entry) { entry = calls[call.key] = {call: call, row: null, offset: 0, overlong: false}; }
      entry.offset = call.now ? epoch(call.now) - Date.now() / 1000 : 0;
      entry.call = call;
      drawCall(entry);
      if (call.overlong && !entry.overlong) { entry.overlong = true; overlong(call); }
    }
    drawCounts();
    drawLines();
  }

  function drawCounts() {
    var n = Object.keys(calls).length;
    setText(callsCount, n ? "(" + n.toLocaleString(lang) + ")" : "");
    setText(callsEmpty, n ? "" : t("No call in progress."));
  }

  /* ------------------------------------------------------------------ overlong calls */
  function overlong(call) {
    var agent = call.extension || call.origin || "";
    var text = t("Overlong call: {who}", {who: who(call.direction === "outbound" ? call.callee : call.caller) +
      (agent ? " \u2194 " + agent : "")});
    var p = document.createElement("p");
    p.className = "alert error overlong-alert";
    p.setAttribute("data-key", call.key);
    p.textContent = text;
    alerts.appendChild(p);
    window.setTimeout(function () { p.remove(); }, 60000);
    if (document.hidden && "Notification" in window && Notification.permission === "granted") {
      try { new Notification(text, {tag: "overlong-" + call.key, icon: "/static/favicon.svg"}); }
      catch (e) { /* the banner is still there */ }
    }
  }

  /* ------------------------------------------------------------------ agents' lines */
  function lineState(ext) {
    var state = "idle";
    var keys = Object.keys(calls);
    for (var i = 0; i < keys.length; i++) {
      var c = calls[keys[i]].call;
      if (c.state === "up" && (c.extension === ext || c.origin === ext)) { return "in_call"; }
      if (c.state === "ringing" && c.origin === ext) { return "in_call"; }
      if ((c.ringing || []).indexOf(ext) >= 0) { state = "ringing"; }
    }
    return state;
  }

  function drawLines() {
    clear(linesList);
    people.forEach(function (person) {
      var li = document.createElement("li");
      li.setAttribute("data-username", person.username);
      var name = document.createElement("span");
      name.className = "who";
      name.textContent = person.label;
      li.appendChild(name);
      person.extensions.forEach(function (e) {
        var state = lineState(e.extension);
        var span = document.createElement("span");
        span.className = "line";
        span.setAttribute("data-extension", e.extension);
        span.setAttribute("data-state", state);
        span.textContent = e.extension + " \u00b7 " + t(LINE[state]);
        li.appendChild(span);
      });
      linesList.appendChild(li);
    });
  }

  /* ------------------------------------------------------------------ missed calls */
  function drawMissed(missed) {
    clear(missedBody);
    missed.forEach(function (m) {
      var row = document.createElement("tr");
      row.className = "call status-" + m.status + (m.reached ? " reached" : "");
      row.setAttribute("data-key", m.key);
      var when = new Date(m.started_at);
      var time = cell(row, "");
      var a = document.createElement("a");
      a.href = "/calls/" + encodeURIComponent(m.pbx) + "/" + encodeURIComponent(m.call_id);
      a.textContent = when.toLocaleTimeString(lang, {hour: "2-digit", minute: "2-digit"});
      time.appendChild(a);
      cell(row, who(m.caller) + " \u00b7 " + t(STATUS[m.status] || m.status), "party");
      cell(row, m.client || "", "client");
      cell(row, m.queue || "");
      var ring = cell(row, clock(m.ring_seconds || 0));
      if (m.rung && m.rung.length) { ring.title = t("rang {exts}", {exts: m.rung.join(", ")}); }
      var back = cell(row, "");
      if (m.reached) {
        var note = document.createElement("span");
        note.className = "reached-note";
        note.textContent = t("Called back");
        back.appendChild(note);
      }
      if (canDial && m.caller.dial) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "dial callback";
        b.setAttribute("data-dial", m.caller.dial);
        b.setAttribute("data-shown", m.caller.display || m.caller.dial);
        b.textContent = t("Call {number}", {number: m.caller.display || m.caller.dial});
        back.appendChild(b);
      }
      missedBody.appendChild(row);
    });
    setText(missedCount, missed.length ? "(" + missed.length.toLocaleString(lang) + ")" : "");
    setText(missedEmpty, missed.length ? "" : t("No missed call today."));
  }

  function load() {
    window.cti.api("GET", "/api/board").then(function (data) {
      people = data.lines || [];
      drawLines();
      drawMissed(data.missed || []);
    }, function (err) {
      setText(missedEmpty, t("Could not load the board: {error}", {error: err.message}));
    });
  }

  function reloadSoon() {
    if (reloadTimer) { return; }
    // The call's record is written by the store a moment after the hangup reaches the socket.
    reloadTimer = window.setTimeout(function () { reloadTimer = null; load(); }, 1000);
  }

  /* ------------------------------------------------------------------ the socket */
  /* The tab's one socket (cti.socket in cti.js), asked for every call before it opens. */
  function listen(hub) {
    hub.scope("all");
    hub.on("hello", function () {
      // A fresh snapshot follows: forget what the last connection left.
      Object.keys(calls).forEach(function (k) { if (calls[k].row) { calls[k].row.remove(); } });
      calls = {};
      drawCounts();
      setState("open", t("Connected"));
    });
    hub.on("call", function (msg) { onCall(msg.call); });
    hub.on("close", function (ev) {
      if (ev.code === 4401) { setState("closed", t("Your session has ended: log in again.")); }
      else { setState("connecting", t("Reconnecting…")); }
    });
  }

  function setState(state, text) {
    wsState.setAttribute("data-state", state);
    setText(wsState, text);
  }

  if ("Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      Promise.resolve(Notification.requestPermission()).then(function () {
        notifyButton.hidden = Notification.permission !== "default";
      });
    });
  }

  window.setInterval(function () {
    Object.keys(calls).forEach(function (k) { tick(calls[k]); });
  }, 500);

  setState("connecting", t("Reconnecting…"));
  drawCounts();
  load();
  listen(window.cti.socket);
})();
