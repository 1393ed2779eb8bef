/* Push preview: find a follower by name or member number; a click puts their openid in the field. */
(function () {
  "use strict";
  function start() {
    var box = document.querySelector("[data-people-search]");
    if (!box) return;
    var input = box.querySelector("input"), list = document.querySelector("[data-people-results]");
    var target = document.querySelector(box.getAttribute("data-target")), timer = null;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var q = input.value.trim();
        list.textContent = "";
        if (!q) return;
        fetch("/api/admin/followers/search?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (resp) { return resp.json(); })
          .then(function (data) {
            list.textContent = "";
            if (!data.items || !data.items.length) {
              var none = document.createElement("li"); none.textContent = "没有找到已绑定会员且关注公众号的职工"; list.appendChild(none); return;
            }
            data.items.forEach(function (p) {
              var li = document.createElement("li"), b = document.createElement("button");
              b.type = "button"; b.className = "linkbtn"; b.setAttribute("data-openid", p.openid);
              b.textContent = p.name + " · " + p.member_no + " · " + p.org_name;
              b.addEventListener("click", function () { target.value = p.openid; list.textContent = ""; input.value = p.name; });
              li.appendChild(b); list.appendChild(li);
            });
          });
      }, 250);
    });
  }
  if (document.readyState !== "loading") start(); else document.addEventListener("DOMContentLoaded", start);
})();
