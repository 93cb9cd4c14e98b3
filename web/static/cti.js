/* cti: the few lines of script every page shares. No framework, no build step.
 *
 * - Tells the server the browser's time zone (cookie cti_tz), so times are shown in it.
 * - cti.api(method, url, body): fetch() for the JSON API, sending the session's CSRF token in
 *   the X-CSRF-Token header that every POST/PUT/PATCH/DELETE needs.
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

  window.cti = {api: api, csrfToken: csrfToken, dial: dial};
})();
