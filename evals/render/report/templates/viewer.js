/* Sample viewer: filters the items embedded as JSON text in #viewer-data. Every value from the data is
   inserted with textContent or as a property (never as HTML); no network, no eval. */
(function () {
  "use strict";
  var source = document.getElementById("viewer-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var PAGE = 50;
  var shown = PAGE;
  var byId = function (id) { return document.getElementById(id); };
  var cellSel = byId("vf-cell"), kindSel = byId("vf-kind"), codeSel = byId("vf-code"), textBox = byId("vf-text");
  var list = byId("vf-list"), count = byId("vf-count"), more = byId("vf-more");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function addOption(select, value, label) {
    var option = el("option", "", label);
    option.value = value;
    select.appendChild(option);
  }
  function distinct(key) {
    var seen = {}, out = [];
    data.items.forEach(function (it) {
      var v = it[key];
      if (v !== null && v !== undefined && !Object.prototype.hasOwnProperty.call(seen, v)) { seen[v] = 1; out.push(String(v)); }
    });
    return out.sort();
  }
  distinct("cell").forEach(function (c) { addOption(cellSel, c, c); });
  distinct("error_code").forEach(function (c) { addOption(codeSel, c, c); });

  function matches(it) {
    if (cellSel.value && it.cell !== cellSel.value) { return false; }
    var kind = kindSel.value;
    if (kind === "slowest" ? !it.slowest : (kind && it.kind !== kind)) { return false; }
    if (codeSel.value && it.error_code !== codeSel.value) { return false; }
    var needle = textBox.value.trim().toLowerCase();
    if (!needle) { return true; }
    return [it.sample, it.prompt, it.response, it.expected, it.error, it.error_code, it.cell].some(function (v) {
      return v !== null && v !== undefined && String(v).toLowerCase().indexOf(needle) !== -1;
    });
  }
  function block(parent, label, text) {
    if (text === null || text === undefined) { return; }
    parent.appendChild(el("div", "label", label));
    parent.appendChild(el("div", "text", text));
  }
  function card(it) {
    var box = el("div", it.kind === "failed" ? "item error" : "item");
    box.setAttribute("data-kind", it.kind);
    var tags = [it.cell, "sample " + it.sample, "repeat " + it.repeat, it.kind];
    if (it.latency_ms !== null) { tags.push(Math.round(it.latency_ms) + " ms"); }
    if (it.attempts !== null) { tags.push(it.attempts + (it.attempts === 1 ? " attempt" : " attempts")); }
    if (it.score !== null) { tags.push("score " + Number(it.score).toFixed(2)); }
    if (it.error_code) { tags.push("error " + it.error_code); }
    if (it.slowest) { tags.push("among the slowest"); }
    if (it.prompt_chars !== null) { tags.push("prompt " + it.prompt_chars + " chars"); }
    tags.forEach(function (t) { box.appendChild(el("span", "tag", t)); });
    box.appendChild(el("small", "ids", "run " + it.run + ", request " + it.request));
    var thumbs = data.thumbnails[it.suite + "\t" + it.sample] || [];
    if (thumbs.length) {
      var strip = el("div", "thumbs");
      thumbs.forEach(function (uri) {
        if (typeof uri === "string" && uri.indexOf("data:image/jpeg;base64,") === 0) {
          var img = el("img");
          img.src = uri;
          img.alt = "image sent with sample " + it.sample;
          strip.appendChild(img);
        }
      });
      box.appendChild(strip);
    } else if (it.images) {
      box.appendChild(el("div", "label", it.images + " image(s) sent; no thumbnail kept"));
    }
    block(box, "prompt", it.prompt);
    block(box, "error", it.error);
    block(box, "response", it.response);
    block(box, "expected", it.expected);
    return box;
  }
  function render() {
    var hits = data.items.filter(matches);
    list.replaceChildren();
    hits.slice(0, shown).forEach(function (it) { list.appendChild(card(it)); });
    count.textContent = hits.length + " of " + data.items.length + " items match" +
      (hits.length > shown ? " (first " + shown + " shown)" : "");
    more.hidden = hits.length <= shown;
  }
  function refilter() { shown = PAGE; render(); }
  [cellSel, kindSel, codeSel].forEach(function (s) { s.addEventListener("change", refilter); });
  textBox.addEventListener("input", refilter);
  more.addEventListener("click", function () { shown += PAGE; render(); });
  render();
}());
