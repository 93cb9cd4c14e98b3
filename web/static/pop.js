/* cti screen pops: the calls of your phone, live, from the /ws websocket.
 *
 * The messages come through the tab's one websocket (cti.socket, see cti.js).
 * The server sends the whole state of a call in every message ({type: "pop"|"update"|"ended",
 * call}), so this script only draws what it is told: a card per call, created on the first
 * message, redrawn on each later one, a timer ticking locally from the ring/answer times, and
 * after hangup the wrap-up form (POST /api/calls/{pbx}/{call_id}/wrapup). Buttons with a number
 * call it through POST /api/dial (your phone rings first). Text is always set with textContent:
 * nothing from the network is ever parsed as HTML. No framework, no build step.
 */
(function () {
  "use strict";

  var root = document.getElementById("pops");
  var template = document.getElementById("pop-template");
  if (!root || !template || !window.WebSocket || !window.cti) { return; }

  var strings = {};
  try { strings = JSON.parse(root.getAttribute("data-strings") || "{}"); } catch (e) { strings = {}; }
  var lang = root.getAttribute("data-lang") || "en";
  var username = root.getAttribute("data-username") || "";
  var list = root.querySelector(".pop-list");
  var empty = root.querySelector(".pops-empty");
  var wsState = root.querySelector(".ws-state");
  var notifyButton = root.querySelector(".notify-enable");

  var pops = {};           // key → {el, call, offset, dismissTimer}
  // Ended calls linger on the server for a while (a reload shows their wrap-up again); the
  // ones this tab closed stay closed.
  var dismissed = {};
  try { dismissed = JSON.parse(window.sessionStorage.getItem("cti.dismissed") || "{}"); } catch (e) { dismissed = {}; }
  var myExtensions = [];

  function t(msgid, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, msgid) ? strings[msgid] : msgid;
    if (values) {
      Object.keys(values).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    }
    return text;
  }

  function q(el, selector) { return el.querySelector(selector); }

  function setText(el, text) { if (el && el.textContent !== text) { el.textContent = text; } }

  var clock = window.cti.clock, epoch = window.cti.epoch;  // (cti.js loads first)

  function mine(exts) {
    return (exts || []).some(function (e) { return myExtensions.indexOf(e) >= 0; });
  }

  var STATUS = {answered: "Answered", missed: "Missed", abandoned: "Abandoned", busy: "Busy",
                no_answer: "No answer", failed: "Failed"};
  var DIRECTION = {inbound: "Incoming call", outbound: "Outgoing call", internal: "Internal call"};
  var ARROW = {inbound: "\u2199", outbound: "\u2197", internal: "\u21c4"};

  /* ------------------------------------------------------------------ who is on the line */
  function party(call) {
    // An internal call I placed: the other side is the callee, not me.
    if (call.direction === "internal" && call.origin && myExtensions.indexOf(call.origin) >= 0) {
      return {display: call.callee.display || call.callee.number, name: call.callee.name,
              dial: call.callee.dial, withheld: false};
    }
    return call.party;
  }

  function colleague(call) {
    // The server names whoever sits at the caller's extension: me, if I placed the call.
    return call.origin && mine([call.origin]) ? null : call.colleague;
  }

  function title(call) {
    var p = party(call);
    if (call.clients && call.clients.length) { return call.clients[0].name; }
    if (colleague(call)) { return colleague(call); }
    if (p.name) { return p.name; }
    if (p.withheld) { return t("Withheld number"); }
    return p.display || t("Unknown number");
  }

  /* ------------------------------------------------------------------ drawing one call */
  function create(call) {
    var el = template.content.firstElementChild.cloneNode(true);
    el.setAttribute("data-key", call.key);
    q(el, ".pop-add-note").addEventListener("click", function () { openForm(call.key, "note"); });
    q(el, ".pop-rec-toggle").addEventListener("click", function () { toggleRecording(call.key); });
    q(el, ".pop-close").addEventListener("click", function () { dismiss(call.key); });
    q(el, ".pop-dismiss").addEventListener("click", function () { dismiss(call.key); });
    q(el, '.pop-wrapup [name="callback_kind"]').addEventListener("change", function (ev) {
      var when = q(el, '.pop-wrapup [name="callback_at"]');
      if (ev.target.value && !when.value) {  // a sensible default: in an hour
        when.value = localInput(new Date(Date.now() + 3600 * 1000));
      }
    });
    q(el, ".pop-wrapup").addEventListener("submit", function (ev) {
      ev.preventDefault();
      saveWrapup(call.key);
    });
    el.addEventListener("click", function (ev) {
      var target = ev.target.closest ? ev.target.closest("[data-dial]") : null;
      if (target) { ev.preventDefault(); dial(el, target.getAttribute("data-dial")); }
    });
    list.insertBefore(el, list.firstChild);
    return el;
  }

  function draw(entry) {
    var el = entry.el, call = entry.call, p = party(call);
    el.setAttribute("data-state", call.state);
    el.setAttribute("data-direction", call.direction);
    el.classList.toggle("overlong", !!call.overlong);
    setText(q(el, ".pop-direction"), (ARROW[call.direction] || "") + " " + t(DIRECTION[call.direction] || ""));
    var state = call.state === "ringing" ? t("Ringing") : call.state === "up" ? t("In call") : t("Ended");
    if (call.state === "ended" && call.status) { state += " · " + t(STATUS[call.status] || call.status); }
    setText(q(el, ".pop-state"), state);
    setText(q(el, ".pop-name"), title(call));
    setText(q(el, ".pop-number"), p.withheld ? t("Withheld number") : (p.display || ""));

    var meta = [];
    if (call.queue) { meta.push(t("Queue {queue}", {queue: call.queue})); }
    (call.transfers || []).forEach(function (x) { meta.push(t("Transferred to {to}", {to: x.to})); });
    if (call.state !== "ringing" && call.extension && call.answered_at && !mine([call.extension])) {
      meta.push(t("Answered by {ext}", {ext: call.extension}));
    }
    if (colleague(call) && p.name && p.name !== colleague(call)) {
      meta.push(t("Colleague: {name}", {name: colleague(call)}));
    }
    if (call.overlong) { meta.push(t("Overlong call")); }
    if (call.recording) { meta.push(t("Recording")); }
    setText(q(el, ".pop-meta"), meta.join(" · "));

    var lookup = "";
    if (call.lookup === "pending" && call.direction !== "internal") { lookup = t("Looking up the client…"); }
    else if (call.clients.length > 1) { lookup = t("{n} possible clients", {n: call.clients.length}); }
    setText(q(el, ".pop-lookup"), lookup);
    drawClients(q(el, ".pop-clients"), call.clients);
    setText(q(el, ".pop-tickets"), call.clients.length ?
      (call.open_tickets ? t("{n} open tickets", {n: call.open_tickets}) : t("No open ticket")) : "");
    drawTickets(el, call.tickets || []);
    drawHistory(q(el, ".pop-history"), call.history);
    drawActions(el, call, p);
    drawRecording(entry);
    // Hold, transfer, consult, hang up (callcontrol.js): while the call is up on my phone.
    if (window.cti.callControl) { window.cti.callControl.pop(el, call, mine([call.extension])); }

    var form = q(el, ".pop-wrapup");
    if (call.state === "ended" && !entry.formShown && (mine(call.talked) || mine([call.origin]))) {
      entry.formShown = true;
      form.hidden = false;
    }
    if ((call.wrapped_up_by || []).indexOf(username) >= 0 && !entry.filed) {
      // (after this tab's own save, its fuller message — ticket, callback — stays)
      setText(q(el, ".pop-wrapup-status"), t("Your wrap-up is saved."));
    }
    if (call.state === "ended" && !entry.formShown && !entry.dismissTimer && call.status === "answered") {
      // Answered by a colleague: nothing for me to write; the card goes away by itself.
      entry.dismissTimer = window.setTimeout(function () { dismiss(call.key); }, 15000);
    }
    tick(entry);
  }

  function drawClients(ul, clients) {
    while (ul.firstChild) { ul.removeChild(ul.firstChild); }
    clients.forEach(function (c) {
      var li = document.createElement("li");
      li.className = "pop-client";
      var name = document.createElement("strong");
      name.textContent = c.name;
      li.appendChild(name);
      var type = document.createElement("span");
      type.className = "badge type-" + String(c.type).replace(/[^a-z0-9_-]/gi, "");
      type.textContent = c.type;
      li.appendChild(type);
      if (c.company) {
        var company = document.createElement("span");
        company.className = "muted";
        company.textContent = c.company;
        li.appendChild(company);
      }
      (c.tags || []).forEach(function (tag) {
        var span = document.createElement("span");
        span.className = "tag";
        span.textContent = tag;
        li.appendChild(span);
      });
      var phones = document.createElement("div");
      phones.className = "pop-phones";
      (c.phones || []).forEach(function (ph) {
        if (!ph.dial) { return; }
        var b = document.createElement("button");
        b.type = "button";
        b.className = "link dial";
        b.setAttribute("data-dial", ph.dial);
        b.title = t("Call {number}", {number: ph.display});
        b.textContent = ph.display + (ph.label ? " (" + ph.label + ")" : "");
        phones.appendChild(b);
      });
      li.appendChild(phones);
      ul.appendChild(li);
    });
  }

  /* The client's open tickets: listed first (the caller is most likely calling about one of
   * them), and offered in the wrap-up form's ticket choice ("add to T-…"). */
  function drawTickets(el, tickets) {
    var ul = q(el, ".pop-ticket-list");
    while (ul.firstChild) { ul.removeChild(ul.firstChild); }
    tickets.forEach(function (tk) {
      var li = document.createElement("li");
      li.className = "pop-ticket priority-" + String(tk.priority).replace(/[^a-z]/g, "");
      var a = document.createElement("a");
      a.href = tk.url;
      a.textContent = tk.number;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" " + tk.subject));
      ul.appendChild(li);
    });
    var select = q(el, '.pop-wrapup [name="ticket_action"]');
    var chosen = select.value;
    Array.prototype.slice.call(select.options).forEach(function (o) {
      if (o.value !== "" && o.value !== "new") { o.remove(); }
    });
    tickets.forEach(function (tk) {
      var o = document.createElement("option");
      o.value = String(tk.id);
      o.textContent = t("Add to {number}: {subject}", {number: tk.number, subject: tk.subject});
      select.appendChild(o);
    });
    select.value = chosen;
    if (select.value !== chosen) { select.value = ""; }
  }

  function localInput(date) {
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return date.getFullYear() + "-" + two(date.getMonth() + 1) + "-" + two(date.getDate()) +
      "T" + two(date.getHours()) + ":" + two(date.getMinutes());
  }

  function drawHistory(details, items) {
    var ol = q(details, "ol");
    while (ol.firstChild) { ol.removeChild(ol.firstChild); }
    if (!items || !items.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = t("No previous call");
      ol.appendChild(none);
      return;
    }
    items.forEach(function (h) {
      var li = document.createElement("li");
      li.className = "status-" + h.status;
      var when = new Date(h.started_at);
      var text = (ARROW[h.direction] || "") + " " + when.toLocaleString(lang, {
        day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit"}) + " · " +
        t(STATUS[h.status] || h.status);
      if (h.answered) { text += " · " + t("talk {duration}", {duration: clock(h.talk_seconds)}); }
      if (h.extension) { text += " · " + h.extension; }
      li.textContent = text;
      ol.appendChild(li);
    });
  }

  function drawActions(el, call, p) {
    link(q(el, ".pop-open-client"), call.actions.open_client);
    link(q(el, ".pop-new-ticket"), call.actions.new_ticket);
    var back = q(el, ".pop-call-back");
    var number = p.dial || null;
    back.hidden = !number;
    if (number) { back.setAttribute("data-dial", number); back.title = t("Call {number}", {number: p.display}); }
  }

  /* Pause / resume the call's recording (a card number being read out…): only while the call
   * is up, recorded, and this person is on it. The server answers the new state. */
  function drawRecording(entry) {
    var call = entry.call, button = q(entry.el, ".pop-rec-toggle");
    var onIt = mine([call.extension]) || mine([call.origin]);
    button.hidden = !(call.recording && call.state === "up" && onIt && entry.rec !== "stopped");
    setText(button, entry.rec === "paused" ? t("Resume recording") : t("Pause recording"));
    entry.el.classList.toggle("rec-paused", entry.rec === "paused");
  }

  function toggleRecording(key) {
    var entry = pops[key];
    if (!entry) { return; }
    var button = q(entry.el, ".pop-rec-toggle");
    var url = "/api/calls/" + encodeURIComponent(entry.call.pbx) + "/" +
      encodeURIComponent(entry.call.call_id) + "/recording";
    button.disabled = true;
    window.cti.api("POST", url, {action: entry.rec === "paused" ? "resume" : "pause"}).then(function (res) {
      entry.rec = res.state;
      setText(q(entry.el, ".pop-dial-status"), res.state === "paused" ? t("Recording paused") : "");
    }, function (err) {
      setText(q(entry.el, ".pop-dial-status"), err.message);
    }).then(function () { button.disabled = false; drawRecording(entry); });
  }

  function link(a, href) {
    if (href) { a.href = href; a.removeAttribute("aria-disabled"); a.removeAttribute("title"); }
    else { a.removeAttribute("href"); a.setAttribute("aria-disabled", "true"); a.title = t("Not available yet"); }
  }

  /* ------------------------------------------------------------------ the timer */
  function tick(entry) {
    var call = entry.call, now = Date.now() / 1000 + entry.offset, seconds;
    var started = epoch(call.started_at), answered = epoch(call.answered_at), ended = epoch(call.ended_at);
    if (call.state === "ended") {
      seconds = answered ? ended - answered : ended - started;
    } else if (call.state === "up" && answered) {
      seconds = now - answered;
    } else {
      seconds = now - started;
    }
    setText(q(entry.el, ".pop-timer"), clock(seconds));
  }

  window.setInterval(function () {
    Object.keys(pops).forEach(function (k) { if (pops[k].call.state !== "ended") { tick(pops[k]); } });
  }, 500);

  /* ------------------------------------------------------------------ messages */
  function onCall(type, call) {
    if (call.state === "ended" && dismissed[call.key]) { return; }
    var entry = pops[call.key];
    var fresh = !entry;
    if (fresh) {
      entry = pops[call.key] = {el: create(call), call: call, offset: 0, formShown: false};
    }
    // PBX/server time minus this browser's clock: the timer counts on the server's clock.
    entry.offset = call.now ? epoch(call.now) - Date.now() / 1000 : 0;
    entry.call = call;
    draw(entry);
    empty.hidden = Object.keys(pops).length > 0;
    if (fresh && call.state === "ringing" && mine(call.ringing)) { notify(call); }
  }

  function dismiss(key) {
    var entry = pops[key];
    if (!entry) { return; }
    if (entry.dismissTimer) { window.clearTimeout(entry.dismissTimer); }
    entry.el.remove();
    delete pops[key];
    if (entry.call.state === "ended") {
      dismissed[key] = Date.now();
      Object.keys(dismissed).forEach(function (k) {  // a day is more than any linger
        if (Date.now() - dismissed[k] > 86400000) { delete dismissed[k]; }
      });
      try { window.sessionStorage.setItem("cti.dismissed", JSON.stringify(dismissed)); } catch (e) { /* private mode */ }
    }
    empty.hidden = Object.keys(pops).length > 0;
  }

  /* The tab's one socket (cti.socket in cti.js) brings the calls; it reconnects by itself. */
  function listen(hub) {
    setState("connecting", t("Reconnecting…"));
    hub.on("hello", function (msg) {
      myExtensions = msg.extensions || [];
      setState("open", t("Connected"));
    });
    hub.on("call", function (msg) { onCall(msg.type, msg.call); });
    hub.on("close", function (ev) {
      if (ev.code === 4401) { setState("closed", t("Your session has ended: log in again.")); }
      else { setState("connecting", t("Reconnecting…")); }
    });
  }

  function setState(state, text) {
    wsState.setAttribute("data-state", state);
    setText(wsState, text);
  }

  /* ------------------------------------------------------------------ notifications */
  function notify(call) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") { return; }
    try {
      var n = new Notification(t("Call from {name}", {name: title(call)}), {
        body: party(call).display || "", tag: call.key, icon: "/static/favicon.svg"});
      n.onclick = function () { window.focus(); n.close(); };
    } catch (e) { /* some browsers only notify from a service worker: the pop is still there */ }
  }

  if ("Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      // Browsers ask only from a user gesture: this click.
      Promise.resolve(Notification.requestPermission()).then(function () {
        notifyButton.hidden = Notification.permission !== "default";
      });
    });
  }

  /* ------------------------------------------------------------------ actions */
  function openForm(key, field) {
    var entry = pops[key];
    if (!entry) { return; }
    var form = q(entry.el, ".pop-wrapup");
    form.hidden = false;
    entry.formShown = true;
    var input = form.elements[field];
    if (input) { input.focus(); }
  }

  function saveWrapup(key) {
    var entry = pops[key];
    if (!entry) { return; }
    var form = q(entry.el, ".pop-wrapup"), status = q(entry.el, ".pop-wrapup-status");
    var body = {};
    ["subject", "reason", "response", "result", "note"].forEach(function (f) { body[f] = form.elements[f].value; });
    var action = form.elements.ticket_action.value;
    if (action === "new") {
      body.ticket = {action: "new", priority: form.elements.ticket_priority.value};
    } else if (action) {
      body.ticket = {action: "update", id: Number(action)};
    }
    if (form.elements.callback_kind.value) {
      var at = form.elements.callback_at.value;  // local time of this browser → UTC
      body.callback = {kind: form.elements.callback_kind.value,
                       due_at: at ? new Date(at).toISOString() : ""};
    }
    setText(status, t("Saving…"));
    q(form, ".pop-save").disabled = true;
    window.cti.api("POST", entry.call.actions.wrapup, body).then(function (saved) {
      var said = [t("Saved")];
      if (saved && saved.ticket) {
        said.push(t(saved.ticket.created ? "Ticket {number} created" : "Call added to ticket {number}",
                    {number: saved.ticket.number}));
        var link = q(form, ".pop-ticket-link");
        link.href = saved.ticket.url;
        link.textContent = saved.ticket.number;
        link.hidden = false;
        form.elements.ticket_action.value = "";
      }
      if (saved && saved.callback && saved.callback.due_at) {
        said.push(t("Callback set for {when}", {when: new Date(saved.callback.due_at).toLocaleString(lang, {
          day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit"})}));
        form.elements.callback_kind.value = "";
      }
      entry.filed = said.join(" · ");
      setText(status, entry.filed);
      entry.el.setAttribute("data-saved", "true");
    }, function (err) {
      setText(status, t("Could not save: {error}", {error: err.message}));
    }).then(function () { q(form, ".pop-save").disabled = false; });
  }

  function dial(el, number) {
    var status = q(el, ".pop-dial-status");
    setText(status, t("Calling {number}: your phone rings first…", {number: number}));
    window.cti.api("POST", "/api/dial", {number: number}).catch(function (err) {
      setText(status, t("Could not call: {error}", {error: err.message}));
    });
  }

  listen(window.cti.socket);
})();
