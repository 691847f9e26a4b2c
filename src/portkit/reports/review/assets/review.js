
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var D = JSON.parse($("portkit-index").textContent);
  var RULES = D.rules, SAFETIES = D.safeties, MSGS = D.msgs, FILES = D.files;
  var state = { rule: -1, safe: [true, true, true], q: "", view: "split", sort: "path", page: 0, size: D.pageSize };
  var open = new Set(), cache = new Map(), order = [];

  // --- "viewed" marks, kept in localStorage under this report's key and the file's path ----------
  var VIEWED = "portkit-viewed:" + D.key + ":", viewed = new Set();
  function storage(use) {  // localStorage may be missing or refused (private modes, some file:// setups)
    try { return use(window.localStorage); } catch { return null; }
  }
  storage(function (s) {
    for (var k = 0; k < s.length; k++) {
      var name = s.key(k);
      if (name && name.indexOf(VIEWED) === 0) viewed.add(name.slice(VIEWED.length));
    }
  });

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
  function fill(td, tokens, ranges) {  // ranges: [[a, b), ...] ascending, the changed parts of the line
    var pos = 0, r = 0;
    ranges = ranges || [];
    tokens.forEach(function (t) {
      var cls = typeof t === "string" ? "" : t[0], text = typeof t === "string" ? t : t[1];
      var start = pos, end = pos + text.length, at = start;
      pos = end;
      while (r < ranges.length && ranges[r][1] <= start) r++;
      for (var k = r; k < ranges.length && ranges[k][0] < end; k++) {
        var a = Math.max(ranges[k][0], start), b = Math.min(ranges[k][1], end);
        if (b <= a) continue;
        piece(td, cls, text.slice(at - start, a - start));
        piece(td, (cls + " x").trim(), text.slice(a - start, b - start));
        at = b;
      }
      piece(td, cls, text.slice(at - start));
    });
    if (!tokens.length) td.appendChild(document.createTextNode(""));
  }
  // what changed within a line, compared word by word (a word, a run of spaces, or one other
  // character), so that "nccl" -> "hccl" marks the word, not its first letter
  var WORDS = /[\p{L}\p{N}_]+|\s+|[^\p{L}\p{N}_\s]/gu, PUNCT = /^[^\p{L}\p{N}_\s]$/u, LCS_CELLS = 40000;
  function commonWords(x, y) {  // the longest common subsequence of two word lists: [[i, j], ...]
    var m = x.length, n = y.length, w = n + 1, t = new Uint16Array((m + 1) * w), out = [], i, j;
    for (i = m - 1; i >= 0; i--) {
      for (j = n - 1; j >= 0; j--) {
        t[i * w + j] = x[i] === y[j] ? t[(i + 1) * w + j + 1] + 1 : Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
      }
    }
    i = 0; j = 0;
    while (i < m && j < n) {
      if (x[i] === y[j]) { out.push([i, j]); i++; j++; }
      else if (t[(i + 1) * w + j] >= t[i * w + j + 1]) i++;
      else j++;
    }
    return out;
  }
  function wordRanges(words, changed) {  // character ranges of the changed words; one character
    var out = [], pos = 0;              // of punctuation between two changed words joins them
    words.forEach(function (word, k) {
      var on = changed[k] || (PUNCT.test(word) && changed[k - 1] && changed[k + 1]);
      var last = out[out.length - 1];
      if (on && last && last[1] === pos) last[1] = pos + word.length;
      else if (on) out.push([pos, pos + word.length]);
      pos += word.length;
    });
    return out;
  }
  function changedRanges(a, b) {
    var x = a.match(WORDS) || [], y = b.match(WORDS) || [], n = Math.min(x.length, y.length), p = 0, s = 0;
    while (p < n && x[p] === y[p]) p++;
    while (s < n - p && x[x.length - 1 - s] === y[y.length - 1 - s]) s++;
    var cx = x.map(function (_, k) { return k >= p && k < x.length - s; });
    var cy = y.map(function (_, k) { return k >= p && k < y.length - s; });
    var mx = x.slice(p, x.length - s), my = y.slice(p, y.length - s);
    if (mx.length * my.length <= LCS_CELLS) {  // a longer middle is marked whole
      commonWords(mx, my).forEach(function (pair) { cx[p + pair[0]] = false; cy[p + pair[1]] = false; });
    }
    return [wordRanges(x, cx), wordRanges(y, cy)];
  }
  function lnCell(n, cls) { return el("td", "ln" + (cls ? " " + cls : ""), n === null ? "" : n); }
  function codeCell(row, cls, range) {
    var td = el("td", "code" + (cls ? " " + cls : ""));
    if (row) fill(td, row[3], range);
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
    td.appendChild(el("span", "where", e[6] ? "added above line " + e[3] : "line " + e[3] + ":" + e[4]));
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
        // a block: changed rows up to the next context row or the next row that starts a block
        while (r < rows.length && rows[r][0] !== 0 && (r === start || !rows[r][4])) {
          (rows[r][0] === 1 ? dels : adds).push(rows[r]);
          r++;
        }
        var ranges = [];
        for (var k = 0; k < Math.min(dels.length, adds.length); k++) ranges.push(changedRanges(textOf(dels[k][3]), textOf(adds[k][3])));
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
    var box = el("section", "file" + (isOpen ? " open" : "") + (viewed.has(f.p) ? " viewed" : ""));
    box.id = "file-" + i;
    var line = el("div", "fline"), head = el("button", "fhead");
    head.type = "button";
    head.setAttribute("aria-expanded", isOpen ? "true" : "false");
    var name = el("span");
    name.append(el("span", "caret", "\u25b8"), el("span", "path", f.p));
    head.append(name, el("span", "st st-" + f.s, f.s), el("span", "num", f.c),
                el("span", "num" + (f.m ? " m-pos" : ""), f.m), pct(f));
    head.addEventListener("click", function () { toggle(i); });
    var mark = el("label", "viewed"), check = el("input");
    check.type = "checkbox";
    check.checked = viewed.has(f.p);
    check.title = "Mark as viewed: collapses the file; kept in this browser";
    check.addEventListener("change", function () { markViewed(i, check.checked); });
    mark.append(check, document.createTextNode(" Viewed"));
    line.append(head, mark);
    var body = el("div", "fbody");
    body.hidden = !isOpen;
    if (isOpen) renderDiff(i, body);
    box.append(line, body);
    return box;
  }
  function markViewed(i, on) {  // as GitHub does: a file marked viewed collapses, unmarked it opens
    var path = FILES[i].p;
    if (on) viewed.add(path); else viewed.delete(path);
    storage(function (s) { if (on) s.setItem(VIEWED + path, "1"); else s.removeItem(VIEWED + path); });
    var box = $("file-" + i);
    if (box) box.classList.toggle("viewed", on);
    toggle(i, !on);
    countViewed();
  }
  function countViewed() {
    var n = FILES.filter(function (f) { return viewed.has(f.p); }).length;
    $("viewed-count").textContent = FILES.length ? fmt(n) + " of " + fmt(FILES.length) + " viewed" : "";
  }
  function toggle(i, force) {
    var want = force === undefined ? !open.has(i) : force;
    if (want) open.add(i); else open.delete(i);
    var box = $("file-" + i);
    if (!box) return;
    box.classList.toggle("open", want);
    box.querySelector(".fhead").setAttribute("aria-expanded", want ? "true" : "false");
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
    countViewed();
  }

  // --- the to-do list: manual items by rule, one to-do per file --------------------------------
  // D.groups: [rule, weight, [[file, [[entry, line, message, safety], ...]], ...]]
  function itemOk(rule, file, item) {
    if (!ruleOk(rule, item[3])) return false;
    if (!state.q) return true;
    return (FILES[file].p + "\n" + RULES[rule] + "\n" + MSGS[item[2]]).toLowerCase().indexOf(state.q) >= 0;
  }
  function plural(n, word) { return fmt(n) + " " + word + (n === 1 ? "" : "s"); }
  function itemLink(file, item, text) {
    var a = el("a", null, text);
    a.href = "#f" + file + "e" + item[0];
    a.dataset.file = file;
    a.dataset.entry = item[0];
    return a;
  }
  function todoRow(file, items) {  // one file's visible items of one rule
    var li = el("li"), first = items[0], path = FILES[file].p;
    if (items.length === 1) {
      li.append(itemLink(file, first, path + ":" + first[1]), document.createTextNode(" \u2014 "), el("span", "msg", MSGS[first[2]]));
      return li;
    }
    var lines = items.map(function (it) { return it[1]; });
    var others = items.filter(function (it) { return it[2] !== first[2]; }).length;
    var det = el("details", "todo"), sum = el("summary"), list = el("ul", "lines");
    sum.append(itemLink(file, first, path), el("span", "tag n", plural(items.length, "item")),
               el("span", "where", "lines " + lines.slice(0, 8).join(", ") + (lines.length > 8 ? ", \u2026" : "")),
               document.createTextNode(" \u2014 "),
               el("span", "msg", MSGS[first[2]] + (others ? " (and " + plural(others, "other message") + ")" : "")));
    items.forEach(function (it) {
      var row = el("li");
      row.appendChild(itemLink(file, it, "line " + it[1]));
      if (it[2] !== first[2]) row.append(document.createTextNode(" \u2014 "), el("span", "msg", MSGS[it[2]]));
      list.appendChild(row);
    });
    det.append(sum, list);
    li.appendChild(det);
    return li;
  }
  function renderGroup(g, todos, shown, all) {  // todos: [[file, visible items], ...]
    var info = D.ruleInfo[g[0]] || {};
    var det = el("details", "group");
    det.dataset.rule = RULES[g[0]];
    var sum = el("summary");
    sum.append(el("span", "rid", RULES[g[0]]), el("span", "tag s-" + (info.safety || "manual"), info.safety || "?"),
               el("span", "cnt", plural(shown, "item") + (shown < all ? " of " + fmt(all) : "") + " in " + plural(todos.length, "file")),
               el("span", "eff", "effort " + g[1] * all + " (" + plural(g[1], "point") + " \u00d7 " + all + ")"),
               el("span", "sum", info.summary || ""));
    det.appendChild(sum);
    det.addEventListener("toggle", function () {
      if (!det.open || det.querySelector("ol")) return;
      var ol = el("ol"), limit = 300;
      function add(from) {
        todos.slice(from, from + limit).forEach(function (t) { ol.appendChild(todoRow(t[0], t[1])); });
      }
      add(0);
      det.appendChild(ol);
      if (todos.length > limit) {
        var more = el("button", "plain more", "Show all " + fmt(todos.length));
        more.type = "button";
        more.addEventListener("click", function () { add(limit); limit = todos.length; more.remove(); });
        det.appendChild(more);
      }
    });
    return det;
  }
  function renderGroups() {
    var box = $("groups"), total = 0, all = 0, todoCount = 0;
    box.textContent = "";
    D.groups.forEach(function (g) {
      var todos = [], shown = 0, count = 0;
      g[2].forEach(function (todo) {
        var items = todo[1].filter(function (it) { return itemOk(g[0], todo[0], it); });
        count += todo[1].length;
        if (items.length) { todos.push([todo[0], items]); shown += items.length; }
      });
      all += count;
      if (!todos.length) return;
      total += shown;
      todoCount += todos.length;
      box.appendChild(renderGroup(g, todos, shown, count));
    });
    if (!all) box.appendChild(el("p", "hint", "Nothing: every CUDA use was converted."));
    else if (!total) box.appendChild(el("p", "hint", "No manual item matches the filters."));
    $("manual-count").textContent = "(" + (total < all ? fmt(total) + " of " : "") + plural(all, "item") +
      (todoCount ? ", " + plural(todoCount, "to-do") : "") + ")";
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
