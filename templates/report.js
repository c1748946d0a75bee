/* report.html: filter and sort the node × check matrix, open details for printing and links.
   Inlined by fleetbench/report/html.py and allowed by its sha256 in the page's CSP. It only reads
   the DOM (no data is embedded in the script) and the page is complete without it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Printing shows every <details>; the ones opened for it close again afterwards.
  var openedForPrint = [];
  window.addEventListener("beforeprint", function () {
    openedForPrint = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) { return !d.open; });
    openedForPrint.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    openedForPrint.forEach(function (d) { d.open = false; });
    openedForPrint = [];
  });

  // A link to a check or host opens its <details>.
  function openTarget() {
    var el = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  var table = document.getElementById("matrix");
  var form = document.getElementById("filters");
  if (!table || !form || document.getElementById("fleet-data")) { return; }   // a large fleet: fleet.js draws it
  form.hidden = false;
  var heads = Array.prototype.slice.call(table.tHead.rows[1].cells);   // one per column
  var body = table.tBodies[0];
  var all = Array.prototype.slice.call(body.rows);                     // section rows + check rows
  var rows = all.filter(function (r) { return r.classList.contains("r"); });
  var position = new Map(rows.map(function (r, i) { return [r, i]; }));
  var columns = table.getElementsByTagName("col");                     // hidden by visibility: collapse

  function hostPattern(text) {
    text = text.trim();
    if (!text) { return null; }
    var glob = text.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return /[*?]/.test(text) ? new RegExp("^" + glob + "$", "i") : new RegExp(glob, "i");
  }

  function visibleColumns() {
    var group = form.elements.group.value;
    var pattern = hostPattern(form.elements.host.value);
    return heads.map(function (th) {
      if (!th.hasAttribute("data-g")) { return true; }
      if (group !== "" && th.getAttribute("data-g") !== group) { return false; }
      return !(pattern && th.classList.contains("host") && !pattern.test(th.textContent));
    });
  }

  function apply() {
    var visible = visibleColumns();
    visible.forEach(function (v, i) { columns[i].style.visibility = v ? "" : "collapse"; });
    var status = form.elements.status.value;
    var outliers = form.elements.outliers.checked;
    var section = form.elements.section.value;
    var shown = 0;
    rows.forEach(function (r) {
      var sec = r.getAttribute("data-sec");
      var ok = !section || sec === section || sec.indexOf(section + ".") === 0;
      if (ok && (status || outliers)) {
        ok = false;
        for (var i = 1; i < r.cells.length && !ok; i++) {
          if (!visible[i] || !heads[i].classList.contains("host")) { continue; }
          var c = r.cells[i].classList;
          ok = (!status || c.contains(status)) && (!outliers || c.contains("o"));
        }
      }
      r.hidden = !ok;
      if (ok) { shown++; }
    });
    all.forEach(function (r, i) {   // a section row shows while one of its checks does
      if (r.classList.contains("sec")) {
        var next = all.slice(i + 1);
        var end = next.findIndex(function (x) { return x.classList.contains("sec"); });
        r.hidden = !(end < 0 ? next : next.slice(0, end)).some(function (x) { return !x.hidden; });
      }
    });
    form.elements.shown.value = shown + " of " + rows.length + " checks";
  }

  var RANK = { f: 0, w: 1, i: 2, p: 3, n: 4, x: 5 };
  function rank(row, i) {
    var k = row.cells[i].className.split(" ")[0];
    return k in RANK ? RANK[k] : 6;
  }

  function sortBy(i) {
    var th = heads[i];
    var order;
    if (i === 0) {
      order = all;
    } else if (th.classList.contains("num")) {
      order = rows.slice().sort(function (a, b) {
        return Number(b.cells[i].textContent) - Number(a.cells[i].textContent) || position.get(a) - position.get(b);
      });
    } else {
      order = rows.slice().sort(function (a, b) { return rank(a, i) - rank(b, i) || position.get(a) - position.get(b); });
    }
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", i === 0 ? "ascending" : "descending");
    body.classList.toggle("sorted", i !== 0);
    var frag = document.createDocumentFragment();
    order.forEach(function (r) { frag.appendChild(r); });
    body.appendChild(frag);
  }

  var pending = 0;   // typing in the host box re-filters once typing pauses: a 500-host table is slow to lay out
  form.addEventListener("input", function () { clearTimeout(pending); pending = setTimeout(apply, 250); });
  form.addEventListener("change", function () { clearTimeout(pending); apply(); });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  table.tHead.rows[1].addEventListener("click", function (e) {
    var th = e.target.closest("th");
    if (th && th.classList.contains("s")) { sortBy(heads.indexOf(th)); }
  });
  apply();
}());
