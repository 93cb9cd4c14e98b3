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

  window.cti = {api: api, csrfToken: csrfToken};
})();
