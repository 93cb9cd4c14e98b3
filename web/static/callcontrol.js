/* cti call control: the pop's Hold/Resume, Transfer, Consult → Complete/Cancel and Hang up,
 * and the live board's Listen / Whisper / Barge / Hang up per call.
 *
 * The server does everything (POST /api/calls/{pbx}/{call_id}/control and …/spy, see
 * cti/webapp/api_callcontrol.py): it picks the channels from the PBX's own events and checks
 * every target, so this script only sends what was clicked or typed and shows the answer — the
 * new state (on hold in space 701, consulting 1002…) or the refusal's message, already in the
 * user's language. Strings come translated in the data-cc-strings attribute of the template
 * (the CSP allows no inline script). Text is always set with textContent.
 * pop.js calls cti.callControl.pop(el, call, onIt) on every redraw of a pop; board.js calls
 * cti.callControl.boardCell(row, call) for every row it draws.
 */
(function () {
  "use strict";
  if (!window.cti) { return; }

  var memo = {};  // call key → {state, busy, status, poll}

  function strings(el) {
    var holder = el && el.closest ? el.closest("[data-cc-strings]") : null;
    if (!holder) { holder = document.querySelector("[data-cc-strings]"); }
    try { return JSON.parse(holder.getAttribute("data-cc-strings") || "{}"); } catch (e) { return {}; }
  }

  function t(map, msgid, values) {
    var text = Object.prototype.hasOwnProperty.call(map, msgid) ? map[msgid] : msgid;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }

  function setText(el, text) { if (el && el.textContent !== text) { el.textContent = text; } }

  function url(call, what) {
    return "/api/calls/" + encodeURIComponent(call.pbx) + "/" + encodeURIComponent(call.call_id) + "/" + what;
  }

  /* ------------------------------------------------------------------ the pop */
  function entryOf(call) {
    var e = memo[call.key];
    if (!e) { e = memo[call.key] = {state: null, busy: false, loading: false, poll: null}; }
    e.call = call;
    return e;
  }

  function pop(el, call, onIt) {
    var box = el.querySelector(".pop-control");
    if (!box) { return; }
    var e = entryOf(call), s = strings(box);
    if (!box.getAttribute("data-wired")) { wire(el, box, call.key); box.setAttribute("data-wired", "1"); }
    var show = call.state === "up" && onIt;
    box.hidden = !show;
    el.classList.toggle("held", !!(show && e.state && e.state.held));
    if (!show) {
      if (e.poll) { window.clearInterval(e.poll); e.poll = null; }
      return;
    }
    if (!e.state && !e.loading) { load(el, e); }
    draw(el, box, e, s);
  }

  function load(el, e) {
    e.loading = true;
    window.cti.api("GET", url(e.call, "control")).then(function (state) {
      e.state = state;
      redraw(el, e);
    }, function () { /* the buttons still work: the server answers with the state */ })
      .then(function () { e.loading = false; });
  }

  function redraw(el, e) {
    var box = el.querySelector(".pop-control");
    if (box && !box.hidden) { draw(el, box, e, strings(box)); }
  }

  function draw(el, box, e, s) {
    var st = e.state || {held: false, consulting: null, groups: []};
    var select = box.querySelector('select[name="group"]');
    var known = Array.prototype.map.call(select.options, function (o) { return o.value; }).join("|");
    if (known !== [""].concat(st.groups || []).join("|")) {
      while (select.options.length > 1) { select.remove(1); }
      (st.groups || []).forEach(function (g) {
        var o = document.createElement("option");
        o.value = g;
        o.textContent = g;
        select.appendChild(o);
      });
    }
    var hold = box.querySelector(".pop-hold");
    setText(hold, st.held ? t(s, "Resume") : t(s, "Hold"));
    hold.setAttribute("data-action", st.held ? "resume" : "hold");
    box.querySelector(".pop-transfer").hidden = !!(st.held || st.consulting);
    var consulting = box.querySelector(".pop-consulting");
    consulting.hidden = !st.consulting;
    hold.hidden = !!st.consulting;
    if (st.consulting) {
      setText(box.querySelector(".pop-consult-state"), st.consulting.answered ?
        t(s, "{target} answered: complete the transfer or go back to the caller.", {target: st.consulting.target}) :
        t(s, "Calling {target}… the caller is on hold.", {target: st.consulting.target}));
      if (!e.poll) {  // the target's answer comes from the PBX: follow it while consulting
        e.poll = window.setInterval(function () { load(el, e); }, 1500);
      }
    } else if (e.poll) {
      window.clearInterval(e.poll);
      e.poll = null;
    }
    if (st.held) { say(el, t(s, "On hold (space {space}): the caller hears music.", {space: st.space || "?"})); }
    Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { b.disabled = e.busy; });
  }

  function say(el, text, error) {
    var status = el.querySelector(".pop-control-status");
    setText(status, text);
    if (status) { status.classList.toggle("error", !!error); }
  }

  function wire(el, box, key) {
    function act(action, target) {
      var e = memo[key];
      if (!e || e.busy) { return; }
      var s = strings(box), body = {action: action};
      if (target !== undefined) { body.target = target; }
      e.busy = true;
      redraw(el, e);
      say(el, t(s, "Sending…"));
      window.cti.api("POST", url(e.call, "control"), body).then(function (state) {
        e.state = state;
        var done = {
          hangup: t(s, "Hung up."), transfer: t(s, "Transferred to {target}.", {target: target}),
          attended: t(s, "Calling {target}… the caller is on hold.", {target: target}),
          complete: t(s, "Transfer completed."), cancel: t(s, "Back with the caller."),
          hold: "", resume: t(s, "Your phone rings: pick up to talk to the caller again.")};
        say(el, done[action] || "");
        el.setAttribute("data-control", action);
      }, function (err) {
        say(el, t(s, "Could not do it: {error}", {error: err.message}), true);
      }).then(function () { e.busy = false; redraw(el, e); });
    }

    function target() {
      var input = box.querySelector('input[name="target"]');
      return input.value.trim();
    }

    box.querySelector(".pop-hold").addEventListener("click", function (ev) {
      act(ev.currentTarget.getAttribute("data-action") || "hold");
    });
    box.querySelector(".pop-hangup").addEventListener("click", function () { act("hangup"); });
    box.querySelector(".pop-transfer").addEventListener("submit", function (ev) {
      ev.preventDefault();
      act("transfer", target());
    });
    box.querySelector(".pop-consult").addEventListener("click", function () { act("attended", target()); });
    box.querySelector(".pop-complete").addEventListener("click", function () { act("complete"); });
    box.querySelector(".pop-cancel").addEventListener("click", function () { act("cancel"); });
    box.querySelector('select[name="group"]').addEventListener("change", function (ev) {
      if (ev.target.value) { box.querySelector('input[name="target"]').value = ev.target.value; }
    });
  }

  /* ------------------------------------------------------------------ the board */
  var MODES = [["listen", "Listen"], ["whisper", "Whisper"], ["barge", "Barge"]];

  function boardCell(row, call) {
    var td = document.createElement("td");
    td.className = "control";
    row.appendChild(td);
    if (call.state !== "up") { return td; }
    var s = strings(row.closest ? row.closest("[data-cc-strings]") : null);
    var note = document.createElement("span");
    note.className = "control-status";
    note.setAttribute("role", "status");
    function send(button, path, body, ok) {
      button.disabled = true;
      window.cti.api("POST", url(call, path), body).then(function () {
        setText(note, ok);
        note.classList.remove("error");
      }, function (err) {
        setText(note, err.message);
        note.classList.add("error");
      }).then(function () { button.disabled = false; });
    }
    MODES.forEach(function (m) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "link spy spy-" + m[0];
      b.textContent = t(s, m[1]);
      b.title = t(s, "Your phone rings, then you hear the agent ({mode}).", {mode: t(s, m[1])});
      b.addEventListener("click", function () {
        send(b, "spy", {mode: m[0]}, t(s, "Your phone rings…"));
      });
      td.appendChild(b);
    });
    var h = document.createElement("button");
    h.type = "button";
    h.className = "link hangup";
    h.textContent = t(s, "Hang up");
    h.addEventListener("click", function () { send(h, "control", {action: "hangup"}, t(s, "Hung up.")); });
    td.appendChild(h);
    td.appendChild(note);
    return td;
  }

  window.cti.callControl = {pop: pop, boardCell: boardCell};
})();
