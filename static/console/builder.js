/* Question builder for surveys and sign-up forms: edits the JSON in a <textarea data-builder> through a form UI.
 * Without script the textarea itself is shown (the JSON the server checks). Matrix questions and skip logic
 * (show_if) are kept as they are and edited in the JSON. */
(function () {
  "use strict";
  var NAMES = { single: "单选题", multiple: "多选题", text: "填空题", rating: "评分题", matrix: "矩阵题" };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function labelled(text, input) {
    var wrap = el("label", { class: "check" }, [el("span", { text: text })]);
    wrap.appendChild(input);
    return wrap;
  }

  function init(area) {
    var types = (area.getAttribute("data-types") || "single,multiple,text,rating").split(",");
    var errors = JSON.parse(area.getAttribute("data-errors") || "{}");
    var questions;
    try { questions = JSON.parse(area.value || "[]"); } catch (e) { return; }  // leave broken JSON to the editor
    if (!Array.isArray(questions)) return;
    area.hidden = true;
    var box = el("div", { class: "builder" });
    area.parentNode.insertBefore(box, area.nextSibling);

    function nextId() {
      var n = 1;
      var ids = questions.map(function (q) { return q.id; });
      while (ids.indexOf("q" + n) >= 0) n++;
      return "q" + n;
    }

    function save() { area.value = JSON.stringify(questions, null, 1); }

    function optionsText(q) { return (q.options || []).map(function (o) { return o.label; }).join("\n"); }

    function setOptions(q, text) {
      var old = {};
      (q.options || []).forEach(function (o) { old[o.label] = o.id; });
      var used = {};
      q.options = text.split(/\n+/).map(function (s) { return s.trim(); }).filter(Boolean).map(function (label, i) {
        var id = old[label] || String.fromCharCode(97 + (i % 26)) + (i >= 26 ? Math.floor(i / 26) : "");
        while (used[id]) id = id + "x";
        used[id] = true;
        return { id: id, label: label };
      });
    }

    function render() {
      box.innerHTML = "";
      questions.forEach(function (q, i) {
        var card = el("fieldset", { class: "question", "data-question": q.id });
        card.appendChild(el("legend", { text: "第 " + (i + 1) + " 题 · " + (NAMES[q.type] || q.type) }));
        if (errors[q.id]) card.appendChild(el("div", { class: "field-error", text: errors[q.id] }));
        var title = el("input", { type: "text", value: q.title || "", placeholder: "题目", "aria-label": "第 " + (i + 1) + " 题题目" });
        title.addEventListener("input", function () { q.title = title.value; save(); });
        card.appendChild(title);
        var req = el("input", { type: "checkbox" });
        req.checked = !!q.required;
        req.addEventListener("change", function () { q.required = req.checked; save(); });
        card.appendChild(labelled("必答", req));
        if (q.type === "single" || q.type === "multiple") {
          var opts = el("textarea", { rows: "4", placeholder: "每行一个选项", "aria-label": "选项" });
          opts.value = optionsText(q);
          opts.addEventListener("input", function () { setOptions(q, opts.value); save(); });
          card.appendChild(el("div", { class: "hint", text: "选项（每行一个）" }));
          card.appendChild(opts);
          if (q.type === "multiple") {
            var max = el("input", { type: "number", min: "1", class: "short", value: q.max_choices || "" });
            max.addEventListener("input", function () { if (max.value) q.max_choices = parseInt(max.value, 10); else delete q.max_choices; save(); });
            card.appendChild(labelled("最多选 ", max));
          }
        } else if (q.type === "text") {
          var len = el("input", { type: "number", min: "1", class: "short", value: q.max_length || 500 });
          len.addEventListener("input", function () { q.max_length = parseInt(len.value, 10) || 500; save(); });
          card.appendChild(labelled("字数上限 ", len));
        } else if (q.type === "rating") {
          var top = el("input", { type: "number", min: "2", max: "10", class: "short", value: q.scale_max || 5 });
          top.addEventListener("input", function () { q.scale_max = parseInt(top.value, 10) || 5; save(); });
          card.appendChild(labelled("满分 ", top));
        } else {
          card.appendChild(el("p", { class: "hint", text: "该题型请在下方 JSON 中编辑" }));
        }
        if (q.show_if) card.appendChild(el("p", { class: "hint", text: "显示条件：第 " + q.show_if.question + " 题选择 " + q.show_if.any_of.join("、") + " 时显示" }));
        var row = el("div", { class: "row" });
        [["上移", -1], ["下移", 1]].forEach(function (m) {
          var b = el("button", { type: "button", class: "btn small", text: m[0] });
          b.addEventListener("click", function () {
            var j = i + m[1];
            if (j < 0 || j >= questions.length) return;
            var t = questions[i]; questions[i] = questions[j]; questions[j] = t;
            save(); render();
          });
          row.appendChild(b);
        });
        var del = el("button", { type: "button", class: "btn small danger", text: "删除此题" });
        del.addEventListener("click", function () { questions.splice(i, 1); save(); render(); });
        row.appendChild(del);
        card.appendChild(row);
        box.appendChild(card);
      });
      var add = el("div", { class: "row" });
      types.forEach(function (t) {
        var b = el("button", { type: "button", class: "btn small", text: "添加" + NAMES[t], "data-add": t });
        b.addEventListener("click", function () {
          var q = { id: nextId(), type: t, title: "", required: true };
          if (t === "single" || t === "multiple") q.options = [];
          questions.push(q);
          save(); render();
          var inputs = box.querySelectorAll("fieldset.question input[type=text]");
          if (inputs.length) inputs[inputs.length - 1].focus();
        });
        add.appendChild(b);
      });
      var raw = el("button", { type: "button", class: "btn small", text: "编辑 JSON（矩阵题、显示条件等）" });
      raw.addEventListener("click", function () { area.hidden = !area.hidden; });
      add.appendChild(raw);
      box.appendChild(add);
    }
    area.addEventListener("change", function () {
      try { var parsed = JSON.parse(area.value); if (Array.isArray(parsed)) { questions = parsed; render(); } } catch (e) { /* keep typing */ }
    });
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-builder]").forEach(init);
  });
})();
