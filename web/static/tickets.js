/* cti tickets: suggestions while typing a ticket (no framework, no build step).
 *
 * - Canned phrases: inputs with data-phrase-field="reason|response|result" refill their
 *   <datalist id="phrases-FIELD"> from GET /api/phrases?field=&q= (most used first). The page
 *   already holds the most used ones, so the lists work without this script too.
 * - The response/result textareas get a "saved phrase" picker (hidden without script): the
 *   chosen text is appended to the textarea named by data-phrase-into.
 * - The client input (data-client-search) fills #client-choices from GET /api/clients?q=,
 *   as "Name #id", which the server understands.
 */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { fn.apply(self, args); }, ms);
    };
  }

  function fill(list, values) {
    if (!list) { return; }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    values.forEach(function (v) {
      var opt = document.createElement("option");
      opt.value = v;
      list.appendChild(opt);
    });
  }

  function get(url) {
    return window.cti.api("GET", url);
  }

  var suggest = debounce(function (input) {
    var field = input.getAttribute("data-phrase-field");
    var url = "/api/phrases?field=" + encodeURIComponent(field) +
      "&q=" + encodeURIComponent(input.value.slice(0, 200));
    get(url).then(function (data) {
      fill(document.getElementById("phrases-" + field),
           data.phrases.map(function (p) { return p.text; }));
    }).catch(function () { /* suggestions are a help, not a need */ });
  }, 200);

  var clients = debounce(function (input) {
    var q = input.value.trim();
    if (q.length < 2 || /#\d+$/.test(q)) { return; }
    get("/api/clients?limit=10&q=" + encodeURIComponent(q.slice(0, 200))).then(function (data) {
      fill(document.getElementById("client-choices"),
           data.clients.map(function (c) { return c.name + " #" + c.id; }));
    }).catch(function () {});
  }, 250);

  function insertPhrase(input) {
    var target = document.getElementById(input.getAttribute("data-phrase-into"));
    var text = input.value.trim();
    if (!target || !text) { return; }
    target.value = target.value.trim() ? target.value.replace(/\s+$/, "") + "\n" + text : text;
    input.value = "";
    target.focus();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".phrase-pick"), function (box) {
    box.hidden = false;
  });

  document.addEventListener("input", function (ev) {
    var t = ev.target;
    if (t.hasAttribute && t.hasAttribute("data-phrase-field")) { suggest(t); }
    if (t.hasAttribute && t.hasAttribute("data-client-search")) { clients(t); }
  });

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.hasAttribute && t.hasAttribute("data-phrase-into")) { insertPhrase(t); }
  });
})();
