/* cti: the few lines of script every page shares. No framework, no build step.
 *
 * - Tells the server the browser's time zone (cookie cti_tz), so times are shown in it.
 * - cti.api(method, url, body): fetch() for the JSON API, sending the session's CSRF token in
 *   the X-CSRF-Token header that every POST/PUT/PATCH/DELETE needs.
 * - cti.socket: the tab's one websocket (/ws), opened once the page's scripts have run, with
 *   reconnection (backoff); scripts subscribe with cti.socket.on(type, fn) ("hello", "call"
 *   for every message carrying a call, "counts", "reminder", "close"), and the live board asks
 *   for every call with cti.socket.scope("all") before it opens.
 * - The action center's nav badges (counts) and reminder toasts, on every page.
 */
(function () {
  "use strict";

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return null;
  }

  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && readCookie("cti_tz") !== tz) {
      document.cookie = "cti_tz=" + encodeURIComponent(tz) +
        "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* old browser: the server's default zone is used */ }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function api(method, url, body) {
    var opts = {method: method, credentials: "same-origin",
                headers: {"Accept": "application/json", "X-CSRF-Token": csrfToken()}};
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (resp) {
      if (resp.status === 401) { window.location.assign("/login"); }
      var type = resp.headers.get("Content-Type") || "";
      var data = type.indexOf("application/json") === 0 ? resp.json() : resp.text();
      return data.then(function (value) {
        if (!resp.ok) { var err = new Error(value && value.message || resp.statusText);
                        err.status = resp.status; err.body = value; throw err; }
        return value;
      });
    });
  }

  /* Click-to-dial: any element with data-dial="<number>" (call log, call page, client cards)
   * asks POST /api/dial; the status line (#dial-status, strings in its data- attributes, see
   * base.html) then follows GET /api/dial/{id} until the call has ended or failed. Elements
   * that handle their own data-dial (the screen pop) call preventDefault(): skipped here. */
  var FINAL = {ended: true, failed: true};

  function say(key, values) {
    var box = document.getElementById("dial-status");
    if (!box) { return; }
    var text = box.getAttribute("data-say-" + key) || key;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    box.textContent = text;
    box.hidden = false;
    box.className = "dial-status dial-" + key;
  }

  function follow(id, number, tries) {
    if (tries > 180) { return; }  /* 3 minutes of polling at most */
    window.setTimeout(function () {
      api("GET", "/api/dial/" + encodeURIComponent(id)).then(function (req) {
        if (req.state === "failed") {
          say("failed", {error: document.getElementById("dial-status")
            .getAttribute("data-say-" + (req.reason === "no_answer" || req.reason === "busy" ? req.reason : "failure"))});
          return;
        }
        say(req.state, {number: number});
        if (!FINAL[req.state]) { follow(id, number, tries + 1); }
      }).catch(function () { /* the status is a courtesy: the phone says the rest */ });
    }, 1000);
  }

  function dial(button) {
    var number = button.getAttribute("data-dial");
    var shown = button.getAttribute("data-shown") || number;
    button.disabled = true;
    api("POST", "/api/dial", {number: number}).then(function (req) {
      say("queued", {number: shown});
      follow(req.id, shown, 0);
      var callback = button.getAttribute("data-callback");  /* a call made for a callback */
      if (callback) {
        api("POST", "/api/callbacks/" + encodeURIComponent(callback) + "/attempt")
          .catch(function () { /* the call is placed; the count is a courtesy */ });
      }
    }).catch(function (err) {
      say("failed", {error: err.message});
    }).then(function () {
      window.setTimeout(function () { button.disabled = false; }, 3000);
    });
  }

  document.addEventListener("click", function (ev) {
    if (ev.defaultPrevented) { return; }
    var target = ev.target.closest ? ev.target.closest("[data-dial]") : null;
    if (!target) { return; }
    ev.preventDefault();
    dial(target);
  });

  /* ---------------------------------------------------------------- the tab's websocket */
  var socket = (function () {
    var handlers = {}, scope = null, retry = 0, started = false;

    function emit(type, msg) {
      (handlers[type] || []).forEach(function (fn) {
        try { fn(msg); } catch (e) { window.setTimeout(function () { throw e; }); }
      });
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(scheme + window.location.host + "/ws" +
                             (scope === "all" ? "?scope=all" : ""));
      ws.onmessage = function (ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (!msg || typeof msg !== "object") { return; }
        if (msg.type === "hello") { retry = 0; document.body.setAttribute("data-ws-state", "open"); }
        if (msg.call) { emit("call", msg); } else if (msg.type) { emit(msg.type, msg); }
      };
      ws.onclose = function (ev) {
        document.body.setAttribute("data-ws-state", "closed");
        emit("close", ev);
        if (ev.code === 4401) { window.location.assign("/login"); return; }
        retry = Math.min(retry + 1, 6);
        window.setTimeout(connect, 500 * Math.pow(2, retry - 1) + Math.random() * 250);
      };
    }

    function start() {
      if (started || !window.WebSocket || !document.body.hasAttribute("data-ws-scope")) { return; }
      started = true;
      scope = scope || document.body.getAttribute("data-ws-scope");
      connect();
    }

    document.addEventListener("DOMContentLoaded", start);
    return {
      on: function (type, fn) { (handlers[type] = handlers[type] || []).push(fn); },
      scope: function (value) { scope = value; }
    };
  })();

  /* ---------------------------------------------------------------- badges and reminders */
  function drawCounts(counts) {
    var els = document.querySelectorAll("[data-count]");
    for (var i = 0; i < els.length; i++) {
      var n = counts[els[i].getAttribute("data-count")];
      if (typeof n !== "number") { continue; }
      els[i].textContent = String(n);
      els[i].hidden = n <= 0;
    }
  }

  socket.on("hello", function () {  /* (again after a reconnection: things moved meanwhile) */
    if (document.querySelector("[data-count]")) {
      api("GET", "/api/actions/counts").then(drawCounts, function () { /* next push */ });
    }
  });
  socket.on("counts", drawCounts);

  function reminderText(box, cb) {
    var who = [cb.client_name, cb.ticket_number, cb.display || cb.number].filter(Boolean)
      .join(" \u00b7 ") || "#" + cb.id;
    return (box.getAttribute("data-say-reminder") || "{who}").split("{who}").join(who);
  }

  socket.on("reminder", function (msg) {
    var box = document.getElementById("cti-toasts"), cb = msg.callback || {};
    if (!box || !cb.id || box.querySelector('[data-callback-id="' + Number(cb.id) + '"]')) { return; }
    var text = reminderText(box, cb);
    var toast = document.createElement("div");
    toast.className = "toast reminder";
    toast.setAttribute("role", "alert");
    toast.setAttribute("data-callback-id", String(Number(cb.id)));
    var p = document.createElement("p");
    p.textContent = text;
    toast.appendChild(p);
    if (cb.note) {
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = cb.note;
      toast.appendChild(note);
    }
    var buttons = document.createElement("div");
    buttons.className = "toast-buttons";
    if (cb.dial) {
      var call = document.createElement("button");
      call.type = "button";
      call.className = "primary dial toast-call";
      call.setAttribute("data-dial", cb.dial);
      call.setAttribute("data-shown", cb.display || cb.dial);
      call.setAttribute("data-callback", String(cb.id));
      call.textContent = box.getAttribute("data-say-call") || "Call";
      buttons.appendChild(call);
    }
    var open = document.createElement("a");
    open.href = "/actions#callbacks";
    open.textContent = box.getAttribute("data-say-open") || "/actions";
    buttons.appendChild(open);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link toast-close";
    close.textContent = box.getAttribute("data-say-dismiss") || "\u00d7";
    close.addEventListener("click", function () { toast.remove(); });
    buttons.appendChild(close);
    toast.appendChild(buttons);
    box.appendChild(toast);
    if (document.hidden && "Notification" in window && Notification.permission === "granted") {
      try {
        var n = new Notification(text, {body: cb.note || "", tag: "callback-" + cb.id,
                                        icon: "/static/favicon.svg"});
        n.onclick = function () { window.focus(); n.close(); };
      } catch (e) { /* the toast is there */ }
    }
  });

  /* A notice for this person (a keyword alert heard in a call…): a toast linking to it. */
  socket.on("notice", function (msg) {
    var box = document.getElementById("cti-toasts");
    if (!box || !msg.text) { return; }
    var toast = document.createElement("div");
    toast.className = "toast notice notice-" + String(msg.kind || "").replace(/[^a-z_]/g, "");
    toast.setAttribute("role", "alert");
    var p = document.createElement("p");
    var link = document.createElement("a");
    link.textContent = String(msg.text);
    if (typeof msg.link === "string" && msg.link.charAt(0) === "/") { link.href = msg.link; }
    p.appendChild(link);
    toast.appendChild(p);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link toast-close";
    close.textContent = box.getAttribute("data-say-dismiss") || "\u00d7";
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(close);
    box.appendChild(toast);
  });

  /* Durations as the pops and the board show them: m:ss, or h:mm:ss past an hour. */
  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var ss = (s < 10 ? "0" : "") + s;
    if (h) { return h + ":" + (m < 10 ? "0" : "") + m + ":" + ss; }
    return m + ":" + ss;
  }

  /* ISO 8601 (the server's times) → epoch seconds; null stays null. */
  function epoch(iso) { return iso ? Date.parse(iso) / 1000 : null; }

  window.cti = {api: api, csrfToken: csrfToken, dial: dial, socket: socket, clock: clock,
                epoch: epoch};
})();
