/* report.html of a large fleet: draws the matrix, the per-check deviations and the host list from
   the JSON of the element #fleet-data (its shape: fleetbench/report/fleetdata.py). Inlined after
   report.js and allowed by the same sha256. Every value from the data goes in with textContent or
   as an attribute value, never as markup. */
(function () {
  "use strict";
  var blob = document.getElementById("fleet-data");
  if (!blob) { return; }
  var D = JSON.parse(blob.textContent);
  var S = D.s, R = D.r, W = D.w, HOSTS = D.hosts, ROWS = D.rows, GROUPS = D.groups, CLUSTERS = D.clusters;
  var NAME = { p: "PASS", f: "FAIL", w: "WARN", i: "INFO", n: "–", x: "not assessed" };
  var ORDER = ["p", "f", "w", "i"];
  var RANK = { f: 0, w: 1, i: 2, p: 3, n: 4, x: 5 };
  var PAGE = 100;
  var mixed = ROWS.some(function (r) { return r[4] !== ROWS[0][4]; });

  function str(i) { return i < 0 ? "" : S[i]; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function add(parent, tag, cls, text) { var e = el(tag, cls, text); parent.appendChild(e); return e; }
  function assessed(h) { return HOSTS[h][13] === 1; }
  function isOutlier(c) { return c !== c.toLowerCase(); }

  var devIndex = [];   // per row: host → result index, built when first needed
  function deviation(ri, h) {
    var m = devIndex[ri];
    if (!m) {
      m = devIndex[ri] = new Map();
      ROWS[ri][12].forEach(function (d) { m.set(d[0], d[1]); });
    }
    return m.get(h);
  }
  // the host's result for a check it ran: its own evidence when it deviates, else its group's baseline
  function resultOf(ri, h) {
    var d = deviation(ri, h);
    if (d !== undefined) { return R[d]; }
    var g = ROWS[ri][11][HOSTS[h][4]];
    return g === -1 ? null : R[g[3]];
  }
  function waiverMark(parent, r) {
    if (r && r[5] >= 0) { add(parent, "abbr", "wv", "waived").title = "waived: " + W[r[5]][0]; parent.insertBefore(document.createTextNode(" "), parent.lastChild); }
  }
  function rowLabel(th, row) {
    var a = add(th, "a", null, row[1]);
    a.href = "#c-" + row[0];
    if (mixed) { th.appendChild(document.createTextNode(" ")); add(th, "small", null, str(row[4])); }
    th.appendChild(document.createTextNode(" " + str(row[2])));
  }
  function hostPattern(text) {
    text = text.trim();
    if (!text) { return null; }
    var glob = text.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return /[*?]/.test(text) ? new RegExp("^" + glob + "$", "i") : new RegExp(glob, "i");
  }
  // a filter form: shown (it is hidden without script), redrawn as its choices change, a quarter
  // second after the host glob is typed, and never submitted
  function filterForm(form, draw) {
    form.hidden = false;
    var pending = 0;
    form.addEventListener("input", function (e) {
      if (e.target.name !== "host") { return; }
      clearTimeout(pending);
      pending = setTimeout(draw, 250);
    });
    form.addEventListener("change", function () { clearTimeout(pending); draw(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
  }
  function pageOptions(select, total) {
    var keep = Number(select.value) || 0;
    select.textContent = "";
    for (var p = 0; p * PAGE < total || p === 0; p++) {
      var o = add(select, "option", null, total ? (p * PAGE + 1) + "–" + Math.min(total, (p + 1) * PAGE) + " of " + total : "none");
      o.value = String(p);
    }
    select.value = String(Math.min(keep, select.options.length - 1));
    return Number(select.value);
  }
  // outliers first: the most outliers, then the most FAILs, then inventory order
  function worstFirst(a, b) { return HOSTS[b][11] - HOSTS[a][11] || HOSTS[b][10] - HOSTS[a][10] || a - b; }

  var rowFails = ROWS.map(function (r) { var n = 0; for (var i = 0; i < r[10].length; i++) { n += r[10].charAt(i).toLowerCase() === "f"; } return n; });
  var rowOutliers = ROWS.map(function (r) { var n = 0; for (var i = 0; i < r[10].length; i++) { n += isOutlier(r[10].charAt(i)); } return n; });

  // ------------------------------------------------------------------ the matrix
  var table = document.getElementById("matrix");
  var form = document.getElementById("filters");
  var sortBy = null;   // null: CIS order; "fail" | "outliers" | a host index
  var sectionLabel = {};   // "4.2" → "4 Worker Nodes › 4.2 Kubelet", as the section filter words it
  if (form) { Array.prototype.forEach.call(form.elements.section.options, function (o) { sectionLabel[o.value] = o.textContent; }); }

  function columns() {
    var f = form.elements, show = f.group.value, pattern = hostPattern(f.host.value), byCluster = f.by.value === "cluster";
    var picked = [];
    for (var h = 0; h < HOSTS.length; h++) {
      if (show && show.charAt(0) === "r" && HOSTS[h][4] !== Number(show.slice(1))) { continue; }
      if (show && show.charAt(0) === "c" && HOSTS[h][5] !== Number(show.slice(1))) { continue; }
      if (pattern && !pattern.test(HOSTS[h][0])) { continue; }
      picked.push(h);
    }
    var bucket = function (h) { var c = byCluster ? HOSTS[h][5] : HOSTS[h][4]; return c < 0 ? 1e9 : c; };
    var worst = f.order.value === "outliers";
    picked.sort(function (a, b) { return bucket(a) - bucket(b) || (worst ? worstFirst(a, b) : a - b); });
    return { hosts: picked, bucket: bucket, byCluster: byCluster };
  }
  function bucketName(cols, b) {
    if (b === 1e9) { return cols.byCluster ? "(no cluster)" : "(no role)"; }
    return cols.byCluster ? "cluster " + CLUSTERS[b] : GROUPS[b][0];
  }

  function drawMatrix() {
    var f = form.elements;
    var cols = columns();
    var page = pageOptions(f.page, cols.hosts.length);
    var shown = cols.hosts.slice(page * PAGE, (page + 1) * PAGE);
    var status = f.status.value, outliers = f.outliers.checked, section = f.section.value;
    var rows = [];
    ROWS.forEach(function (row, ri) {
      var sec = row[3];
      if (section && sec !== section && sec.indexOf(section + ".") !== 0) { return; }
      if (status || outliers) {
        var cells = row[10], ok = false;
        for (var k = 0; k < cols.hosts.length && !ok; k++) {
          var c = cells.charAt(cols.hosts[k]);
          ok = (!status || c.toLowerCase() === status) && (!outliers || isOutlier(c));
        }
        if (!ok) { return; }
      }
      rows.push(ri);
    });
    if (sortBy === "fail" || sortBy === "outliers") {
      var count = sortBy === "fail" ? rowFails : rowOutliers;
      rows.sort(function (a, b) { return count[b] - count[a] || a - b; });
    } else if (sortBy !== null) {
      rows.sort(function (a, b) { return RANK[ROWS[a][10].charAt(sortBy).toLowerCase()] - RANK[ROWS[b][10].charAt(sortBy).toLowerCase()] || a - b; });
    }
    // column blocks: consecutive shown hosts of one role group or cluster, then its majority (by role)
    var blocks = [];
    shown.forEach(function (h) {
      var b = cols.bucket(h);
      if (!blocks.length || blocks[blocks.length - 1].b !== b) { blocks.push({ b: b, hosts: [] }); }
      blocks[blocks.length - 1].hosts.push(h);
    });
    var total = {};
    cols.hosts.forEach(function (h) { var b = cols.bucket(h); total[b] = (total[b] || 0) + 1; });

    table.textContent = "";
    var thead = add(table, "thead");
    var tg = add(thead, "tr", "g"), th = add(thead, "tr", "h");
    add(tg, "th", "c");
    var corner = add(th, "th", "c s", "check");
    corner.setAttribute("data-sort", "");
    if (sortBy === null) { corner.setAttribute("aria-sort", "ascending"); }
    blocks.forEach(function (blk) {
      var g = add(tg, "th", null, bucketName(cols, blk.b) + " (" + blk.hosts.length + (blk.hosts.length < total[blk.b] ? " of " + total[blk.b] : "") + ")");
      g.colSpan = blk.hosts.length + (cols.byCluster ? 0 : 1);
      blk.hosts.forEach(function (h) {
        var cell = add(th, "th", "s host" + (assessed(h) ? "" : " x"));
        add(cell, "span", null, HOSTS[h][0]);
        cell.setAttribute("data-sort", String(h));
        if (sortBy === h) { cell.setAttribute("aria-sort", "descending"); }
      });
      if (!cols.byCluster) { add(add(th, "th", "maj"), "span", null, "majority"); }
    });
    add(tg, "th").colSpan = 2;
    [["fail", "FAIL"], ["outliers", "outliers"]].forEach(function (k) {
      var cell = add(th, "th", "s num");
      add(cell, "span", null, k[1]);
      cell.setAttribute("data-sort", k[0]);
      if (sortBy === k[0]) { cell.setAttribute("aria-sort", "descending"); }
    });

    var body = add(table, "tbody");
    if (sortBy !== null) { body.className = "sorted"; }
    var width = th.cells.length, last = null;
    rows.forEach(function (ri) {
      var row = ROWS[ri];
      if (sortBy === null && row[3] !== last) {
        var sec = add(add(body, "tr", "sec"), "th", null, sectionLabel[row[3]] || row[3]);
        sec.colSpan = width;
        last = row[3];
      }
      var tr = add(body, "tr", "r");
      tr.id = "r-" + row[0];
      tr.setAttribute("data-sec", row[3]);
      rowLabel(add(tr, "th", "c"), row);
      blocks.forEach(function (blk) {
        blk.hosts.forEach(function (h) {
          var c = row[10].charAt(h), k = c.toLowerCase();
          if (k === "n") { add(tr, "td", "n", "–"); return; }
          var td = add(tr, "td", k + (isOutlier(c) ? " o" : ""), NAME[k]);
          if (k === "x") { return; }
          var r = resultOf(ri, h);
          waiverMark(td, r);
          if (isOutlier(c)) {
            var g = row[11][HOSTS[h][4]];
            td.title = HOSTS[h][0] + ": " + NAME[k] + ", actual " + str(r[1]) + "; " + GROUPS[HOSTS[h][4]][0] + " majority " +
              NAME[g[0]] + " (" + g[1] + "/" + g[2] + "), usually " + str(R[g[3]][1]);
          }
        });
        if (!cols.byCluster) {
          var g = row[11][blk.b];
          if (g !== -1) {
            add(tr, "td", g[0] + " m", NAME[g[0]] + " " + g[1] + "/" + g[2]);
          } else {
            var first = GROUPS[blk.b][1], all = true;
            for (var i = first; i < first + GROUPS[blk.b][2]; i++) { all = all && row[10].charAt(i) === "x"; }
            add(tr, "td", (all ? "x" : "n") + " m", all ? "not assessed" : "–");
          }
        }
      });
      add(tr, "td", "k", rowFails[ri]);
      add(tr, "td", "k", rowOutliers[ri]);
    });
    f.shown.value = rows.length + " of " + ROWS.length + " checks, " + shown.length + " of " + cols.hosts.length + " hosts shown";
  }

  // The first screen (the static summary) is painted before the matrix and the host list are
  // drawn: they are below it, and drawing them takes a few hundred ms at 5,000 hosts. When both
  // are drawn, the page sets the performance mark "fleetbench-drawn" (the tests and bench wait for it).
  var later = [];
  function afterFirstPaint() {
    later.forEach(function (f) { f(); });
    performance.mark("fleetbench-drawn");
    openHost();
  }

  if (table && form) {
    filterForm(form, drawMatrix);
    table.addEventListener("click", function (e) {
      var cell = e.target.closest("thead th.s");
      if (!cell) { return; }
      var key = cell.getAttribute("data-sort");
      sortBy = key === "" ? null : (key === "fail" || key === "outliers") ? key : Number(key);
      drawMatrix();
    });
    later.push(drawMatrix);
  }

  // ------------------------------------------------------------------ per check: the deviations
  function fillDeviations(tbody) {
    if (tbody.getAttribute("data-done")) { return; }
    tbody.setAttribute("data-done", "1");
    var ri = Number(tbody.getAttribute("data-row")), row = ROWS[ri];
    var devs = row[12].slice().sort(function (a, b) {
      return HOSTS[a[0]][4] - HOSTS[b[0]][4] || isOutlier(row[10].charAt(b[0])) - isOutlier(row[10].charAt(a[0])) || a[0] - b[0];
    });
    devs.forEach(function (d) {
      var h = d[0], r = R[d[1]], out = isOutlier(row[10].charAt(h));
      var base = R[row[11][HOSTS[h][4]][3]];
      var tr = add(tbody, "tr", out ? "out" : "dev");
      add(tr, "th", null, GROUPS[HOSTS[h][4]][0]);
      var who = add(tr, "td", null, HOSTS[h][0]);
      add(who, "br");
      add(who, "small", null, out ? "outlier" : "same verdict, other evidence");
      var st = add(tr, "td", r[0] + (out ? " o" : ""), NAME[r[0]]);
      waiverMark(st, r);
      var actual = add(tr, "td");
      add(actual, "code", null, str(r[1]));
      if (r[3] >= 0 && str(r[3])) { add(actual, "br"); add(actual, "small", null, str(r[3])); }
      if (r[5] >= 0) { add(actual, "br"); add(actual, "small", "wv-reason", "waived: " + W[r[5]][0] + " (" + W[r[5]][1] + ")"); }
      [[2, "source"], [4, "remediation"]].forEach(function (k) {
        var td = add(tr, "td");
        if (r[k[0]] === base[k[0]]) { add(td, "span", "same", "same"); } else { td.textContent = str(r[k[0]]); }
      });
    });
  }
  document.querySelectorAll("details.check").forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (d.open) { d.querySelectorAll("tbody.devs").forEach(fillDeviations); }
    });
  });

  // ------------------------------------------------------------------ the host list
  var list = document.getElementById("host-list");
  var hostForm = document.getElementById("host-filter");
  function counts(h) {
    var c = { p: 0, f: 0, w: 0, i: 0 };
    ROWS.forEach(function (r) { var k = r[10].charAt(h).toLowerCase(); if (k in c) { c[k]++; } });
    return c;
  }
  function chips(parent, c) {
    var span = add(parent, "span", "chips");
    ORDER.forEach(function (k) { add(span, "span", "chip " + k, c[k] + " " + NAME[k]); });
    return span;
  }
  function evidenceTable(parent, heads, rows) {
    var t = add(parent, "table", "ev"), hr = add(add(t, "thead"), "tr"), b = add(t, "tbody");
    heads.forEach(function (x) { add(hr, "th", null, x); });
    rows.forEach(function (cells) {
      var tr = add(b, "tr");
      cells.forEach(function (c, i) { var td = add(tr, i ? "td" : "th"); if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; } });
    });
    return t;
  }
  function code(text, cls) { return el("code", cls, text); }
  function hostBody(d, h) {
    var host = HOSTS[h];
    if (host[8] >= 0) { add(d, "p", "meta", "benchmark " + str(host[3]) + ": " + str(host[8])); }
    if (host[6] >= 0) { add(d, "p", "meta", "host key checked against " + str(host[6])); }
    if (host[7] >= 0) { add(d, "p", "meta", "new host key accepted on first contact (--accept-new-host-keys): " + str(host[7])); }
    var dl = add(d, "dl", "verdicts");
    ORDER.forEach(function (k) {
      var ids = [];
      ROWS.forEach(function (r) { if (r[10].charAt(h).toLowerCase() === k) { ids.push(r[1]); } });
      if (ids.length) { add(dl, "dt", k, NAME[k] + " (" + ids.length + ")"); add(dl, "dd", null, ids.join(" ")); }
    });
    var outs = [], fails = [];
    ROWS.forEach(function (r, ri) {
      var c = r[10].charAt(h);
      if (isOutlier(c)) { outs.push(ri); }
      if (c.toLowerCase() === "f") { fails.push(ri); }
    });
    if (outs.length) {
      add(d, "h4", null, "Differs from its role group (" + GROUPS[host[4]][0] + ")");
      evidenceTable(d, ["check", "status", "actual", "group majority", "usual actual"], outs.map(function (ri) {
        var r = ROWS[ri], g = r[11][host[4]], label = el("span");
        rowLabel(label, r);
        return [label, NAME[r[10].charAt(h).toLowerCase()], code(str(resultOf(ri, h)[1])), NAME[g[0]] + " " + g[1] + "/" + g[2], code(str(R[g[3]][1]))];
      }));
    }
    if (fails.length) {
      add(d, "h4", null, "FAIL");
      evidenceTable(d, ["check", "actual", "source", "remediation"], fails.map(function (ri) {
        var res = resultOf(ri, h), label = el("span");
        rowLabel(label, ROWS[ri]);
        waiverMark(label, res);
        if (res[5] >= 0) { add(label, "br"); add(label, "small", "wv-reason", "waived: " + W[res[5]][0] + " (" + W[res[5]][1] + ")"); }
        return [label, code(str(res[1])), str(res[2]), str(res[4])];
      }));
    }
    var ev = host[12];
    if (ev !== -1) {
      var box = add(d, "details", "evidence");
      add(box, "summary", null, "evidence: processes and paths found on " + (str(ev[0]) || host[0]));
      evidenceTable(box, ["component", "pid", "argv (secrets redacted)"], ev[1].map(function (p) {
        var argv = el("span");
        argv.appendChild(code(p[2].map(str).join(" "), "argv"));
        p[3].forEach(function (kv) { add(argv, "br"); argv.appendChild(code(str(kv[0]) + "=" + str(kv[1]))); });
        return [str(p[0]), String(p[1]), argv];
      }));
      evidenceTable(box, ["path variable", "path", "from"], ev[2].map(function (p) {
        return [str(p[0]), code(p[1] >= 0 ? str(p[1]) : "(none)"), str(p[2])];
      }));
    }
  }
  function hostDetails(h) {
    var host = HOSTS[h], d = el("details", "host");
    d.id = "h-" + host[0];
    var s = add(d, "summary");
    add(s, "b", null, host[0]);
    s.appendChild(document.createTextNode(" " + host[1] + " · " + str(host[2]) + " · " + str(host[3]) + " · "));
    chips(s, counts(h));
    if (host[11]) { s.appendChild(document.createTextNode(" ")); add(s, "span", "chip o", host[11] + " outlier" + (host[11] > 1 ? "s" : "")); }
    d.addEventListener("toggle", function () {
      if (d.open && !d.getAttribute("data-done")) { d.setAttribute("data-done", "1"); hostBody(d, h); }
    });
    return d;
  }
  function drawHosts() {
    var pattern = hostPattern(hostForm.elements.host.value), picked = [];
    for (var h = 0; h < HOSTS.length; h++) {
      if (assessed(h) && (!pattern || pattern.test(HOSTS[h][0]))) { picked.push(h); }
    }
    picked.sort(worstFirst);
    var page = pageOptions(hostForm.elements.page, picked.length);
    list.textContent = "";
    picked.slice(page * PAGE, (page + 1) * PAGE).forEach(function (h) { list.appendChild(hostDetails(h)); });
    hostForm.elements.shown.value = picked.length + " assessed host" + (picked.length !== 1 ? "s" : "") + " match";
  }
  if (list && hostForm) {
    filterForm(hostForm, drawHosts);
    later.push(drawHosts);
  }

  // A link to a host (#h-NAME): open it; one that is not on the current page of the list is shown
  // alone first. At load this runs once the list is drawn (report.js ran before it existed).
  function openHost() {
    var id = location.hash ? decodeURIComponent(location.hash.slice(1)) : "";
    if (id.indexOf("h-") !== 0 || !list) { return; }
    var d = document.getElementById(id);
    for (var h = 0; h < HOSTS.length && !d; h++) {
      if (HOSTS[h][0] === id.slice(2) && assessed(h)) {
        hostForm.elements.host.value = "";
        list.textContent = "";
        d = list.appendChild(hostDetails(h));
        hostForm.elements.shown.value = "1 host shown (linked); clear or type a name for the list";
      }
    }
    if (d && d.tagName === "DETAILS") {
      d.open = true;
      d.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", openHost);
  requestAnimationFrame(function () { setTimeout(afterFirstPaint, 0); });

  // Printing: the opened checks list their deviations (report.js opens every <details> first).
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("tbody.devs").forEach(fillDeviations);
  });
}());
