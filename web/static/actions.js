/* cti action center (/actions): the few things its plain forms cannot do alone.
 *
 * - A follow-up's refusal reason is asked for only when "lost" is chosen (and then required:
 *   the server refuses a lost follow-up without one anyway).
 * - A callback whose reminder fires while the page is open turns "overdue" at once.
 * The call buttons (data-dial, data-callback) are handled by cti.js: it dials, then counts the
 * attempt on the callback. Nothing from the network is parsed as HTML.
 */
(function () {
  "use strict";

  var root = document.getElementById("actions");
  if (!root) { return; }

  function syncLost(form) {
    var select = form.querySelector(".followup-status");
    var field = form.querySelector(".lost-reason");
    if (!select || !field) { return; }
    var lost = select.value === "lost";
    field.hidden = !lost;
    var input = field.querySelector("input");
    if (input) { input.required = lost; }
  }

  var forms = root.querySelectorAll(".followup-form");
  for (var i = 0; i < forms.length; i++) {
    (function (form) {
      syncLost(form);
      form.querySelector(".followup-status").addEventListener("change", function () { syncLost(form); });
    })(forms[i]);
  }

  if (window.cti && window.cti.socket) {
    window.cti.socket.on("reminder", function (msg) {
      var id = msg.callback && Number(msg.callback.id);
      var item = id ? root.querySelector('.callback[data-callback-id="' + id + '"]') : null;
      if (item) { item.classList.add("overdue", "reminded"); }
    });
  }
})();
