/* 山东工会 editors' console: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  // JSON calls to /api/admin/ carry the session's CSRF token in a header.
  window.consoleApi = function (method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "X-XSRFToken": csrf(), "Accept": "application/json" } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) { return { status: resp.status, data: data }; });
    });
  };

  ready(function () {
    var toggle = document.querySelector("[data-toggle-nav]");
    if (toggle) toggle.addEventListener("click", function () { document.getElementById("sidenav").classList.toggle("open"); });

    // Selects that act at once (org switcher); the button stays for browsers without script.
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (sel) {
      sel.addEventListener("change", function () { if (sel.value) sel.form.submit(); });
    });

    // Live numbers (a coupon batch's stock per bucket): poll the page's JSON every 3 s and fill the cells.
    document.querySelectorAll("[data-live-url]").forEach(function (box) {
      var url = box.getAttribute("data-live-url");
      function fill() {
        window.consoleApi("GET", url).then(function (r) {
          if (r.status !== 200) return;
          Object.keys(r.data).forEach(function (key) {
            box.querySelectorAll('[data-live="' + key + '"]').forEach(function (el) { el.textContent = String(r.data[key]); });
          });
          (r.data.buckets || []).forEach(function (b) {
            ["allotted", "granted", "left"].forEach(function (col) {
              var el = box.querySelector('[data-bucket="' + b.org + '"] [data-col="' + col + '"]');
              if (el) el.textContent = String(b[col]);
            });
          });
        });
      }
      setInterval(fill, 3000);
    });

    // Confirm before destructive actions.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });

    // Double submits: a form disables its buttons once sent (the server is idempotent anyway).
    document.querySelectorAll("form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (ev.defaultPrevented) return;
        setTimeout(function () {
          form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });

    // Show only the inputs that fit the chosen kind (menu button type, push channel, audience, schedule).
    document.querySelectorAll("[data-switch]").forEach(function (sel) {
      var group = sel.getAttribute("data-switch");
      function apply() {
        var value = sel.type === "radio" ? (document.querySelector('[data-switch="' + group + '"]:checked') || {}).value : sel.value;
        document.querySelectorAll('[data-when^="' + group + ':"]').forEach(function (el) {
          var wanted = el.getAttribute("data-when").split(":")[1].split(",");
          el.hidden = wanted.indexOf(value) < 0;
        });
      }
      sel.addEventListener("change", apply);
      apply();
    });

    document.querySelectorAll("[data-progress-url]").forEach(startProgress);
  });

  // Live push progress: poll the JSON endpoint every second until the run is over.
  function startProgress(box) {
    var url = box.getAttribute("data-progress-url");
    var stopped = false;
    function set(name, text) {
      box.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) { el.textContent = text; });
    }
    function width(name, value) {
      var el = box.querySelector(".progress ." + name);
      if (el) el.style.width = value + "%";
    }
    function tick() {
      if (stopped) return;
      consoleApi("GET", url).then(function (r) {
        if (r.status === 200) {
          var p = r.data;
          var total = p.total || 0;
          var pc = function (n) { return total ? Math.min(100, (100 * n / total)) : 0; };
          width("sent", pc(p.sent)); width("failed", pc(p.failed)); width("skipped", pc(p.skipped));
          set("sent", fmt(p.sent)); set("failed", fmt(p.failed)); set("skipped", fmt(p.skipped));
          set("total", p.total_known ? fmt(total) : fmt(total) + "（统计中）");
          set("percent", p.percent.toFixed(1) + "%");
          set("rate", p.rate ? p.rate.toFixed(1) + " 条/秒" : "—");
          set("eta", p.eta_text || "—");
          set("status", p.status_text || p.status);
          var rc = p.receipts || {};
          set("receipt_delivered", fmt(rc.delivered)); set("receipt_blocked", fmt(rc.blocked)); set("receipt_failed", fmt(rc.failed));
          set("receipt_mass_filtered", fmt(rc.mass_filtered)); set("receipt_mass_sent", fmt(rc.mass_sent)); set("receipt_mass_error", fmt(rc.mass_error));
          var note = box.querySelector("[data-field=note]");
          if (note) { note.textContent = p.note || ""; note.hidden = !p.note; }
          box.setAttribute("data-status", p.status);
          if (p.finished) {
            stopped = true;
            box.setAttribute("data-finished", "1");
            var reload = box.getAttribute("data-reload-when-done");
            if (reload) setTimeout(function () { window.location.reload(); }, 800);
            return;
          }
        }
        setTimeout(tick, 1000);
      }).catch(function () { setTimeout(tick, 3000); });
    }
    tick();
  }

  function fmt(n) { return (n || 0).toLocaleString("zh-CN"); }
})();
