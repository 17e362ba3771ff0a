(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("runs-data").textContent);
  var runs = D.runs || [], M = D.M || [];
  var tbody = document.querySelector("#runtable tbody");
  var filterBox = document.getElementById("filter");
  var statusBox = document.getElementById("status-filter");
  var shown = document.getElementById("shown");
  var HEX = /^#[0-9a-fA-F]{6}$/;
  // undo the delta coding of run ids and paths: [prefix length, middle, suffix length]
  function unfront(prev, v) {
    if (!v || typeof v !== "object") return v;
    return prev.slice(0, v[0]) + v[1] + (v[2] ? prev.slice(prev.length - v[2]) : "");
  }
  var prev = {i: "", r: ""}, prevEval = {}, used = {};
  runs.forEach(function (r) {
    ["i", "r"].forEach(function (k) {
      if (r[k] !== undefined && r[k] !== null) { r[k] = unfront(prev[k], r[k]); prev[k] = r[k]; }
    });
    if (r.l !== undefined) r.l = unfront(r.r || "", r.l);   // a log inside its run folder
    (r.v || []).forEach(function (v) {
      var id = D.E[v[0]];
      if (v[4] !== null && v[4] !== undefined) {
        v[4] = unfront(prevEval[id] || "", v[4]);
        prevEval[id] = v[4];
      }
    });
    used[r.s] = true;
  });
  var ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"};

  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  var INT = new Intl.NumberFormat("en-US", {maximumFractionDigits: 0});
  function num(x) {
    if (x === null || x === undefined) return "\u2014";
    var a = Math.abs(x);
    if (Number.isInteger(x)) return a < 1000 ? String(x) : INT.format(x);
    if (a >= 1000) return INT.format(x);
    if (a >= 10) return x.toFixed(1);
    if (a >= 1) return x.toFixed(2);
    return String(Number(x.toPrecision(3)));
  }
  function dur(ms) {
    if (ms === null || ms === undefined) return "\u2014";
    if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + " ms";
    var s = ms / 1000;
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function val(v) { return v === undefined ? null : v; }
  // raw values per column (sorting) and their text (display, filtering)
  var COLS = [
    function (r) { return D.S[r.s]; }, function (r) { return D.H[r.h]; },
    function (r) { return D.C[r.c]; }, function (r) { return D.N[r.n]; },
    function (r) { return val(r.e); }, function (r) { return val(r.d); }
  ];
  M.forEach(function (_, k) { COLS.push(function (r) { return r.m ? val(r.m[k]) : null; }); });
  function text(k, r) {
    var v = COLS[k](r);
    if (k === 5) return dur(v);
    if (k > 5) return num(v);
    return v === null ? "\u2014" : String(v);
  }

  var html = [], hay = [];
  runs.forEach(function (r, i) {
    var st = String(D.S[r.s]), cond = String(D.C[r.c]);
    var color = HEX.test((D.colors || {})[cond] || "") ? D.colors[cond] : "#777777";
    var cells = ['<td><span class="st st-' + esc(st.replace(/[^a-z0-9_-]/gi, "")) + '">' +
                 esc(st) + "</span></td>", "<td>" + esc(D.H[r.h]) + "</td>",
                 '<td><span class="sw" style="background:' + color + '"></span>' + esc(cond) +
                 "</td>", "<td>" + esc(D.N[r.n]) + "</td>"];
    var words = [r.i];
    for (var k = 0; k < COLS.length; k++) {
      var t = text(k, r);
      words.push(t);
      if (k >= 4) cells.push('<td class="num">' + esc(t) + "</td>");
    }
    hay.push(words.join(" \u0001 ").toLowerCase());
    html.push('<tr data-i="' + i + '" tabindex="0" title="' + esc(r.i) + '">' +
              cells.join("") + "</tr>");
  });
  tbody.innerHTML = html.join("");
  var trs = Array.prototype.slice.call(tbody.rows);

  D.S.forEach(function (s, k) {
    if (!used[k]) return;
    var o = document.createElement("option");
    o.value = s; o.textContent = s;
    statusBox.appendChild(o);
  });

  // at most `limit` matching rows are displayed (laying out 10,000 rows takes seconds)
  var STEP = 1000, limit = STEP, order = runs.map(function (_, i) { return i; });
  var more = document.getElementById("more");
  function applyFilter() {
    var terms = filterBox.value.toLowerCase().split(/\s+/).filter(Boolean);
    var want = statusBox.value, n = 0;
    order.forEach(function (i) {
      var ok = (!want || D.S[runs[i].s] === want) &&
               terms.every(function (t) { return hay[i].indexOf(t) >= 0; });
      if (ok) n++;
      trs[i].hidden = !ok || n > limit;
    });
    var all = runs.length + " run" + (runs.length === 1 ? "" : "s");
    shown.textContent = n > limit ? "showing the first " + limit + " of " + n +
                        " matching (" + all + ")" : "showing " + n + " of " + all;
    more.hidden = n <= limit;
    more.textContent = "Show " + Math.min(STEP, n - limit) + " more";
  }
  function refilter() { limit = STEP; applyFilter(); }
  filterBox.addEventListener("input", refilter);
  statusBox.addEventListener("change", refilter);
  more.addEventListener("click", function () { limit += STEP; applyFilter(); });

  var sortKey = -1, sortDir = 1;
  function compare(a, b) {
    if (a === b) return 0;
    if (a === null) return 1;          // missing values last, whichever the direction
    if (b === null) return -1;
    if (typeof a === "number" && typeof b === "number") return sortDir * (a - b);
    return sortDir * String(a).localeCompare(String(b), undefined, {numeric: true});
  }
  document.querySelectorAll("#runtable thead th").forEach(function (th) {
    th.addEventListener("click", function () {
      var k = Number(th.getAttribute("data-k"));
      sortDir = k === sortKey ? -sortDir : 1;
      sortKey = k;
      document.querySelectorAll("#runtable thead th").forEach(function (h) {
        h.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      order = runs.map(function (_, i) { return i; });
      var keyOf = runs.map(function (r) { return COLS[k](r); });
      order.sort(function (x, y) { return compare(keyOf[x], keyOf[y]) || x - y; });
      applyFilter();
      var frag = document.createDocumentFragment();
      order.forEach(function (i) { frag.appendChild(trs[i]); });
      tbody.appendChild(frag);
    });
  });

  // -- the details of one run --------------------------------------------------------------
  var dialog = document.getElementById("details");
  var body = document.getElementById("details-body");
  function el(tag, txt, cls) {
    var e = document.createElement(tag);
    if (txt !== undefined && txt !== null) e.textContent = String(txt);
    if (cls) e.className = cls;
    return e;
  }
  function pairs(title, obj) {
    if (!obj || typeof obj !== "object" || !Object.keys(obj).length) return;
    body.appendChild(el("h4", title));
    var dl = el("dl");
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      if (v && typeof v === "object") {
        v = Array.isArray(v) ? v.join(" ") : Object.keys(v).map(function (x) {
          return x + " " + v[x];
        }).join(", ");
      }
      dl.appendChild(el("dt", k));
      dl.appendChild(el("dd", v === null ? "\u2014" : v));
    });
    body.appendChild(dl);
  }
  function open(i) {
    var r = runs[i];
    if (!r) return;
    body.textContent = "";
    document.getElementById("details-title").textContent = r.i;
    var head = el("p");
    head.appendChild(el("span", D.S[r.s], "st st-" + String(D.S[r.s]).replace(/[^a-z0-9_-]/gi, "")));
    head.appendChild(document.createTextNode(" \u00b7 " + D.H[r.h] + " \u00b7 " + D.C[r.c] +
      " \u00b7 " + D.N[r.n] + " \u00b7 seed " + (r.e === undefined ? "\u2014" : r.e) +
      " \u00b7 " + dur(val(r.d))));
    body.appendChild(head);
    if (r.x) body.appendChild(el("p", r.x, "error"));
    pairs("Run", {"run folder": r.r || "\u2014", "log": r.l || "\u2014",
                  "fingerprint": r.f || "\u2014"});
    pairs("Overrides", r.o === undefined ? null : D.O[r.o]);
    (r.v || []).forEach(function (v) {
      var id = D.E[v[0]];
      var info = {"status": D.S[v[1]], "output": v[4] || "\u2014"};
      if (v[3]) info.error = v[3];
      var keys = D.K[id] || [];
      (v[2] || []).forEach(function (x, j) { if (x !== null) info[keys[j]] = num(x); });
      if (!v[2] && (D.S[v[1]] === "success" || D.S[v[1]] === "reused"))
        info.numbers = "not embedded (page size): see the output file";
      pairs("Evaluator " + id, info);
    });
    if (r.w) pairs("Warnings", r.w.reduce(function (o, w, j) { o[j + 1] = w; return o; }, {}));
    pairs("Provenance", r.p === undefined ? null : D.P[r.p]);
    var tail = r.t;
    if (!tail && r.tf) {
      var pre = document.getElementById("tail-" + i);
      tail = pre ? pre.textContent : "";
    }
    body.appendChild(el("h4", "Log tail"));
    body.appendChild(tail ? el("pre", tail) :
                     el("p", "Not embedded (only failed runs and a few others carry theirs)" +
                        (r.l ? "; the log is " + r.l : "") + ".", "muted"));
    // not modal: a modal dialog makes the browser restyle the whole (huge) page
    if (!dialog.open) { if (typeof dialog.show === "function") dialog.show(); else dialog.setAttribute("open", ""); }
    dialog.scrollTop = 0;
    document.getElementById("details-close").focus();
  }
  function rowOf(e) {
    var tr = e.target.closest ? e.target.closest("tr[data-i]") : null;
    return tr ? Number(tr.getAttribute("data-i")) : -1;
  }
  tbody.addEventListener("click", function (e) { var i = rowOf(e); if (i >= 0) open(i); });
  tbody.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { var i = rowOf(e); if (i >= 0) { e.preventDefault(); open(i); } }
  });
  document.getElementById("details-close").addEventListener("click", function () {
    dialog.close ? dialog.close() : dialog.removeAttribute("open");
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && dialog.open) dialog.close();
  });
  // huge studies: a strip plot's dot names its run by index; its tooltip is written here
  document.addEventListener("mouseover", function (e) {
    var dot = e.target;
    if (!dot.getAttribute || dot.getAttribute("data-i") === null || dot.firstChild) return;
    var r = runs[Number(dot.getAttribute("data-i"))], fig = dot.closest("figure");
    var k = fig ? M.indexOf(fig.getAttribute("data-metric")) : -1;
    if (!r || !dot.ownerSVGElement) return;
    var tip = document.createElementNS(dot.ownerSVGElement.namespaceURI, "title");
    tip.textContent = r.i + " \u00b7 seed " + (r.e === undefined ? "\u2014" : r.e) +
                      (k >= 0 && r.m && r.m[k] !== null ? " \u00b7 " + r.m[k] : "");
    dot.appendChild(tip);
  });
  applyFilter();
})();
