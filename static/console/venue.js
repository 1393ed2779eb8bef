/* The venue check-in screen: fetch the current code and numbers; a new code appears every 30 s,
   the numbers every 5 s. Keeps retrying through network hiccups (a projector runs for hours). */
(function () {
  "use strict";
  var COUNTS_MS = 5000;

  function start() {
    var body = document.body, url = body.getAttribute("data-venue");
    var img = document.querySelector("[data-qr]"), stale = document.querySelector("[data-stale]");
    var full = document.querySelector("[data-fullscreen]");
    if (full) full.addEventListener("click", function () { document.documentElement.requestFullscreen(); });

    function schedule(ms) { window.setTimeout(refresh, Math.max(500, ms)); }

    function refresh() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (resp) { if (!resp.ok) throw new Error(String(resp.status)); return resp.json(); })
        .then(function (v) {
          if (img.getAttribute("data-code") !== v.code) { img.src = v.qr_svg; img.setAttribute("data-code", v.code); }
          document.querySelector("[data-checked-in]").textContent = v.checked_in;
          document.querySelector("[data-confirmed]").textContent = v.confirmed;
          stale.hidden = true;
          var untilNext = new Date(v.next_at).getTime() - Date.now() + 200;
          schedule(Math.min(COUNTS_MS, untilNext));
        })
        .catch(function () { stale.hidden = false; schedule(COUNTS_MS); });
    }
    schedule(Math.min(COUNTS_MS, 1000));
  }

  if (document.readyState !== "loading") start(); else document.addEventListener("DOMContentLoaded", start);
})();
