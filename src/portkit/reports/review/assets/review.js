
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var D = JSON.parse($("portkit-index").textContent);
  var RULES = D.rules, SAFETIES = D.safeties, MSGS = D.msgs, FILES = D.files;
  var state = { rule: -1, safe: [true, true, true], q: "", view: "split", sort: "path", page: 0, size: D.pageSize };
  var open = new Set(), cache = new Map(), order = [];

  function fmt(n) { return n.toLocaleString("en-US"); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function detail(i) {
    if (!cache.has(i)) {
      var block = $("portkit-file-" + i);
      cache.set(i, block ? JSON.parse(block.textContent) : { e: [], h: [] });
    }
    return cache.get(i);
  }
  function ruleOk(r, s) { return (state.rule < 0 || state.rule === r) && state.safe[s]; }
  function haystack(f) {
    if (f._h === undefined) {
      var parts = [f.p, f.s];
      f.x.forEach(function (p) { parts.push(RULES[p[0]]); });
      f.q.forEach(function (m) { parts.push(MSGS[m]); });
      if (f.e) parts.push(f.e);
      f._h = parts.join("\n").toLowerCase();
    }
    return f._h;
  }
  function fileOk(f) {
    if (state.q && haystack(f).indexOf(state.q) < 0) return false;
    if (!f.x.length) return state.rule < 0 && state.safe.every(Boolean);  // a failed file: shown unfiltered
    return f.x.some(function (p) { return ruleOk(p[0], p[1]); });
  }
  function computeOrder() {
    order = [];
    for (var i = 0; i < FILES.length; i++) if (fileOk(FILES[i])) order.push(i);
    if (state.sort === "manual") order.sort(function (a, b) { return FILES[b].m - FILES[a].m || a - b; });
    else if (state.sort === "changes") order.sort(function (a, b) { return FILES[b].c - FILES[a].c || a - b; });
    var pages = Math.max(1, Math.ceil(order.length / state.size));
    if (state.page >= pages) state.page = pages - 1;
  }

  // --- code cells ---------------------------------------------------------------------------
  function textOf(tokens) {
    return tokens.map(function (t) { return typeof t === "string" ? t : t[1]; }).join("");
  }
  function piece(td, cls, text) {
    if (!text) return;
    if (!cls) td.appendChild(document.createTextNode(text));
    else td.appendChild(el("span", cls, text));
  }
  function fill(td, tokens, a, b) {  // characters [a, b) are the changed part of the line
    var pos = 0;
    tokens.forEach(function (t) {
      var cls = typeof t === "string" ? "" : t[0], text = typeof t === "string" ? t : t[1];
      var start = pos, end = pos + text.length;
      pos = end;
      if (a < b && start < b && end > a) {
        var s1 = Math.max(a, start) - start, s2 = Math.min(b, end) - start;
        piece(td, cls, text.slice(0, s1));
        piece(td, (cls + " x").trim(), text.slice(s1, s2));
        piece(td, cls, text.slice(s2));
      } else piece(td, cls, text);
    });
    if (!tokens.length) td.appendChild(document.createTextNode(""));
  }
  function changedRange(a, b) {  // common prefix and suffix; the rest is what changed
    var n = Math.min(a.length, b.length), p = 0, s = 0;
    while (p < n && a[p] === b[p]) p++;
    while (s < n - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
    return [[p, a.length - s], [p, b.length - s]];
  }
  function lnCell(n, cls) { return el("td", "ln" + (cls ? " " + cls : ""), n === null ? "" : n); }
  function codeCell(row, cls, range) {
    var td = el("td", "code" + (cls ? " " + cls : ""));
    if (row) fill(td, row[3], range ? range[0] : 0, range ? range[1] : 0);
    return td;
  }

  // --- notes and diffs -----------------------------------------------------------------------
  function noteRow(i, d, ei, cols) {
    var e = d.e[ei], manual = e[0] === 1;
    var tr = el("tr", "note " + (manual ? "manual" : "change"));
    tr.id = "f" + i + "e" + ei;
    tr.dataset.rule = RULES[e[1]];
    if (!ruleOk(e[1], e[2])) tr.hidden = true;
    var td = el("td");
    td.colSpan = cols;
    td.appendChild(el("span", "lbl", manual ? "\u26a0 Left for a person" : "Changed"));
    var rb = el("button", "tag rule", RULES[e[1]]);
    rb.type = "button";
    rb.dataset.rule = RULES[e[1]];
    rb.title = (D.ruleInfo[e[1]] || {}).summary || "";
    td.appendChild(rb);
    td.appendChild(el("span", "tag s-" + SAFETIES[e[2]], SAFETIES[e[2]]));
    td.appendChild(el("span", "where", "line " + e[3] + ":" + e[4]));
    td.appendChild(el("span", "msg", MSGS[e[5]]));
    tr.appendChild(td);
    return tr;
  }
  function flagged(d, ids) {  // a context line that holds a visible manual item
    return (ids || []).some(function (ei) { var e = d.e[ei]; return e[0] === 1 && ruleOk(e[1], e[2]); });
  }
  function hunkVisible(d, h) {
    return h[5].some(function (n) { return n[1].some(function (ei) { return ruleOk(d.e[ei][1], d.e[ei][2]); }); });
  }
  function renderDiff(i, body) {
    var f = FILES[i];
    body.textContent = "";
    if (f.e) body.appendChild(el("p", "error", "Not migrated (left untouched): " + f.e));
    var d = detail(i);
    if (!d.h.length) return;
    var split = state.view === "split", cols = 4;
    var table = el("table", "diff " + state.view);
    var shown = 0;
    d.h.forEach(function (h) {
      if (!hunkVisible(d, h)) return;
      shown++;
      var notes = new Map(h[5].map(function (n) { return [n[0], n[1]]; }));
      var head = el("tr", "hunk"), htd = el("td");
      htd.colSpan = cols;
      htd.textContent = "@@ -" + h[0] + "," + h[1] + " +" + h[2] + "," + h[3] + " @@";
      head.appendChild(htd);
      table.appendChild(head);
      var rows = h[4], r = 0;
      function addNotes(k) {
        (notes.get(k) || []).forEach(function (ei) { table.appendChild(noteRow(i, d, ei, cols)); });
      }
      while (r < rows.length) {
        var row = rows[r];
        if (row[0] === 0) {
          var tr = el("tr", "ctx" + (flagged(d, notes.get(r)) ? " flagged" : ""));
          if (split) { tr.append(lnCell(row[1]), codeCell(row), lnCell(row[2]), codeCell(row)); }
          else { tr.append(lnCell(row[1]), lnCell(row[2]), el("td", "sign", " "), codeCell(row)); }
          table.appendChild(tr);
          addNotes(r);
          r++;
          continue;
        }
        var start = r, dels = [], adds = [];
        while (r < rows.length && rows[r][0] !== 0) { (rows[r][0] === 1 ? dels : adds).push(rows[r]); r++; }
        var ranges = [];
        for (var k = 0; k < Math.min(dels.length, adds.length); k++) ranges.push(changedRange(textOf(dels[k][3]), textOf(adds[k][3])));
        if (split) {
          for (var j = 0; j < Math.max(dels.length, adds.length); j++) {
            var a = dels[j], b = adds[j], tr2 = el("tr");
            tr2.append(a ? lnCell(a[1], "del") : lnCell(null, "blank"), a ? codeCell(a, "del", ranges[j] && ranges[j][0]) : el("td", "code blank"),
                       b ? lnCell(b[2], "add") : lnCell(null, "blank"), b ? codeCell(b, "add", ranges[j] && ranges[j][1]) : el("td", "code blank"));
            table.appendChild(tr2);
          }
        } else {
          dels.forEach(function (a, j) {
            var tr3 = el("tr");
            tr3.append(lnCell(a[1], "del"), lnCell(null, "del"), el("td", "sign del", "-"), codeCell(a, "del", ranges[j] && ranges[j][0]));
            table.appendChild(tr3);
          });
          adds.forEach(function (b, j) {
            var tr4 = el("tr");
            tr4.append(lnCell(null, "add"), lnCell(b[2], "add"), el("td", "sign add", "+"), codeCell(b, "add", ranges[j] && ranges[j][1]));
            table.appendChild(tr4);
          });
        }
        for (var q = start; q < r; q++) addNotes(q);
      }
    });
    if (!shown) { body.appendChild(el("p", "hint", "Nothing in this file matches the filters.")); return; }
    var colgroup = el("colgroup");
    (split ? ["ln", "", "ln", ""] : ["ln", "ln", "sign", ""]).forEach(function (c) {
      var col = el("col");
      if (c) col.className = "c-" + c;
      colgroup.appendChild(col);
    });
    table.insertBefore(colgroup, table.firstChild);
    var wrap = el("div", "diffwrap");
    wrap.appendChild(table);
    body.appendChild(wrap);
  }

  // --- the file list -------------------------------------------------------------------------
  function pct(f) {
    var cell = el("span", "pct"), bar = el("span", "bar"), total = f.c + f.m;
    if (!total) { cell.textContent = f.s === "failed" ? "not migrated" : "\u2014"; return cell; }
    [[f.cs[0], "b-safe"], [f.cs[1], "b-review"], [f.m, "b-manual"]].forEach(function (p) {
      if (!p[0]) return;
      var seg = el("i", p[1]);
      seg.style.width = (100 * p[0] / total) + "%";
      bar.appendChild(seg);
    });
    cell.append(bar, document.createTextNode(Math.round(100 * f.c / total) + "%"));
    cell.title = f.c + " converted (" + f.cs[0] + " safe, " + f.cs[1] + " review), " + f.m + " left for a person";
    return cell;
  }
  function fileRow(i) {
    var f = FILES[i], isOpen = open.has(i);
    var box = el("section", "file" + (isOpen ? " open" : ""));
    box.id = "file-" + i;
    var head = el("button", "fhead");
    head.type = "button";
    head.setAttribute("aria-expanded", isOpen ? "true" : "false");
    var name = el("span");
    name.append(el("span", "caret", "\u25b8"), el("span", "path", f.p));
    head.append(name, el("span", "st st-" + f.s, f.s), el("span", "num", f.c),
                el("span", "num" + (f.m ? " m-pos" : ""), f.m), pct(f));
    head.addEventListener("click", function () { toggle(i); });
    var body = el("div", "fbody");
    body.hidden = !isOpen;
    if (isOpen) renderDiff(i, body);
    box.append(head, body);
    return box;
  }
  function toggle(i, force) {
    var want = force === undefined ? !open.has(i) : force;
    if (want) open.add(i); else open.delete(i);
    var box = $("file-" + i);
    if (!box) return;
    box.classList.toggle("open", want);
    box.firstChild.setAttribute("aria-expanded", want ? "true" : "false");
    var body = box.lastChild;
    body.hidden = !want;
    if (want) renderDiff(i, body); else body.textContent = "";
  }
  function pager(where) {
    var box = $(where), pages = Math.max(1, Math.ceil(order.length / state.size));
    box.textContent = "";
    var prev = el("button", "plain", "\u2039 Prev"), next = el("button", "plain", "Next \u203a");
    prev.type = next.type = "button";
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
    prev.addEventListener("click", function () { state.page--; renderList(); });
    next.addEventListener("click", function () { state.page++; renderList(); });
    box.append(prev, el("span", "pageno", "Page " + fmt(state.page + 1) + " of " + fmt(pages)), next);
  }
  function renderList() {
    computeOrder();
    var list = $("files");
    list.textContent = "";
    var from = state.page * state.size, to = Math.min(order.length, from + state.size);
    var frag = document.createDocumentFragment();
    for (var k = from; k < to; k++) frag.appendChild(fileRow(order[k]));
    list.appendChild(frag);
    $("shown").textContent = order.length
      ? "Showing " + fmt(from + 1) + "\u2013" + fmt(to) + " of " + fmt(order.length) + " file(s)" + (order.length < FILES.length ? " (" + fmt(FILES.length) + " listed)" : "")
      : "No file matches the filters.";
    $("files-count").textContent = "(" + fmt(order.length) + " of " + fmt(FILES.length) + ")";
    pager("pager-top");
    pager("pager-bottom");
  }

  // --- manual items by rule ------------------------------------------------------------------
  function itemOk(item) {  // item: [file, entry, line, message, safety]
    var g = this;
    if (!ruleOk(g[0], item[4])) return false;
    if (!state.q) return true;
    return (FILES[item[0]].p + "\n" + RULES[g[0]] + "\n" + MSGS[item[3]]).toLowerCase().indexOf(state.q) >= 0;
  }
  function renderGroups() {
    var box = $("groups"), total = 0, all = 0;
    box.textContent = "";
    D.groups.forEach(function (g) {
      var items = g[2].filter(itemOk, g);
      all += g[2].length;
      if (!items.length) return;
      total += items.length;
      var info = D.ruleInfo[g[0]] || {};
      var det = el("details", "group");
      det.dataset.rule = RULES[g[0]];
      var sum = el("summary");
      sum.append(el("span", "rid", RULES[g[0]]), el("span", "tag s-" + (info.safety || "manual"), info.safety || "?"),
                 el("span", "cnt", items.length + (items.length === 1 ? " item" : " items") + (items.length < g[2].length ? " of " + g[2].length : "")),
                 el("span", "eff", "effort " + g[1] * g[2].length + " (" + g[1] + (g[1] === 1 ? " point" : " points") + " \u00d7 " + g[2].length + ")"),
                 el("span", "sum", info.summary || ""));
      det.appendChild(sum);
      det.addEventListener("toggle", function () {
        if (!det.open || det.querySelector("ol")) return;
        var ol = el("ol"), limit = 300;
        function add(from) {
          items.slice(from, from + limit).forEach(function (it) {
            var li = el("li"), a = el("a", null, FILES[it[0]].p + ":" + it[2]);
            a.href = "#f" + it[0] + "e" + it[1];
            a.dataset.file = it[0];
            a.dataset.entry = it[1];
            li.append(a, document.createTextNode(" \u2014 "), el("span", "msg", MSGS[it[3]]));
            ol.appendChild(li);
          });
        }
        add(0);
        det.appendChild(ol);
        if (items.length > limit) {
          var more = el("button", "plain more", "Show all " + items.length);
          more.type = "button";
          more.addEventListener("click", function () { add(limit); limit = items.length; more.remove(); });
          det.appendChild(more);
        }
      });
      box.appendChild(det);
    });
    if (!all) box.appendChild(el("p", "hint", "Nothing: every CUDA use was converted."));
    else if (!total) box.appendChild(el("p", "hint", "No manual item matches the filters."));
    $("manual-count").textContent = "(" + (total < all ? total + " of " : "") + all + ")";
  }

  // --- controls ------------------------------------------------------------------------------
  function refresh() { renderGroups(); renderList(); syncControls(); }
  function syncControls() {
    $("rule").value = state.rule < 0 ? "" : RULES[state.rule];
    document.querySelectorAll("input[name=safety]").forEach(function (box) { box.checked = state.safe[+box.value]; });
    $("view-split").setAttribute("aria-pressed", state.view === "split" ? "true" : "false");
    $("view-unified").setAttribute("aria-pressed", state.view === "unified" ? "true" : "false");
    document.querySelectorAll("#by-rule tbody tr[data-rule]").forEach(function (tr) {
      tr.classList.toggle("dim", state.rule >= 0 && tr.dataset.rule !== RULES[state.rule]);
    });
  }
  function setRule(id) { state.rule = id ? RULES.indexOf(id) : -1; state.page = 0; refresh(); }
  function resetFilters() {
    state.rule = -1; state.safe = [true, true, true]; state.q = ""; $("q").value = ""; state.page = 0;
  }
  function goTo(i, ei) {
    var f = FILES[i];
    if (!f) return;
    var e = detail(i).e[ei];
    if (!fileOk(f) || (e && !ruleOk(e[1], e[2]))) resetFilters();
    open.add(i);
    computeOrder();
    var pos = order.indexOf(i);
    if (pos >= 0) state.page = Math.floor(pos / state.size);
    refresh();
    var target = $("f" + i + "e" + ei) || $("file-" + i);
    if (!target) return;
    target.scrollIntoView({ block: "center" });
    target.classList.add("flash");
    setTimeout(function () { target.classList.remove("flash"); }, 2100);
    try { history.replaceState(null, "", "#f" + i + "e" + ei); } catch { /* some file:// setups refuse */ }
  }

  var timer = null;
  $("q").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = $("q").value.trim().toLowerCase(); state.page = 0; refresh(); }, 120);
  });
  $("rule").addEventListener("change", function () { setRule($("rule").value); });
  document.querySelectorAll("input[name=safety]").forEach(function (box) {
    box.addEventListener("change", function () { state.safe[+box.value] = box.checked; state.page = 0; refresh(); });
  });
  $("view-split").addEventListener("click", function () { state.view = "split"; refresh(); });
  $("view-unified").addEventListener("click", function () { state.view = "unified"; refresh(); });
  $("sort").addEventListener("change", function () { state.sort = $("sort").value; state.page = 0; renderList(); });
  $("reset").addEventListener("click", function () { resetFilters(); refresh(); });
  $("expand").addEventListener("click", function () {
    order.slice(state.page * state.size, (state.page + 1) * state.size).forEach(function (i) { open.add(i); });
    renderList();
  });
  $("collapse").addEventListener("click", function () { open.clear(); renderList(); });
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!(t instanceof Element)) return;
    var rule = t.closest("[data-rule].rulelink, button.tag.rule");
    if (rule) { setRule(state.rule >= 0 && RULES[state.rule] === rule.dataset.rule ? "" : rule.dataset.rule); return; }
    var link = t.closest("a[data-file]");
    if (link) { ev.preventDefault(); goTo(+link.dataset.file, +link.dataset.entry); }
  });

  refresh();
  var m = /^#f(\d+)e(\d+)$/.exec(location.hash);
  if (m) goTo(+m[1], +m[2]);
  window.portkitReady = true;
  document.documentElement.dataset.ready = "true";
})();
