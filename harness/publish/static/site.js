/* Filters of the matrix on index.html: plain DOM over data-* attributes and no network, so
   the site works from file:// (and under the pages' Content-Security-Policy, which allows
   no inline script or style). Hidden columns get the `hidden` attribute; cells of unchecked
   levels get the class `off`. */
(function () {
  "use strict";
  var table = document.getElementById("matrix");
  var form = document.getElementById("filters");
  if (!table || !form) return;
  var columns = Array.prototype.slice.call(table.querySelectorAll("thead th[data-values]"));
  var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-axis]"));
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[data-level-filter]"));
  var shown = document.getElementById("shown");
  var width = columns.length + 1; // the feature names, then one cell per combination
  var rows = Array.prototype.filter.call(table.rows, function (row) {
    return row.cells.length === width;
  });

  function apply() {
    var wanted = selects
      .filter(function (select) { return select.value !== ""; })
      .map(function (select) { return select.getAttribute("data-axis") + "=" + select.value; });
    var visible = columns.map(function (th) {
      var tokens = th.getAttribute("data-values").split(" ");
      return wanted.every(function (token) { return tokens.indexOf(token) >= 0; });
    });
    var off = {};
    boxes.forEach(function (box) { off[box.getAttribute("data-level-filter")] = !box.checked; });
    rows.forEach(function (row) {
      for (var k = 1; k < width; k += 1) {
        var cell = row.cells[k];
        cell.hidden = !visible[k - 1];
        var level = cell.getAttribute("data-level");
        if (level !== null) cell.classList.toggle("off", off[level] === true);
      }
    });
    if (shown) {
      var count = visible.filter(Boolean).length;
      shown.textContent = count + " of " + columns.length + " combinations shown";
    }
  }

  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  apply();
})();
