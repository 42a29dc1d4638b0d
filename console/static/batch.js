// The batch page's live progress: polls the progress API every 2 s and
// updates the counts, the bar and the chart in place. The page is complete
// without it; the chart geometry matches console/pages/svg.go.
"use strict";
(function () {
  var root = document.getElementById("progress");
  if (!root || root.getAttribute("data-live") !== "true") {
    return;
  }
  var id = root.getAttribute("data-batch");
  var W = 600, H = 140, P = 28;
  var terminal = { completed: true, cancelled: true, rejected: true };
  var status = null;

  function set(sel, text) {
    var els = root.querySelectorAll(sel);
    for (var i = 0; i < els.length; i++) {
      els[i].textContent = text;
    }
  }
  function yuan(fen) {
    var neg = fen < 0;
    fen = Math.abs(fen);
    var s = Math.floor(fen / 100) + "." + ("0" + (fen % 100)).slice(-2);
    return neg ? "-" + s : s;
  }
  function segments(p) {
    // The parts partition the rows, as the page's table and bar do.
    return (p.parts || []).map(function (pt) { return [pt.key, pt.count]; });
  }
  function drawBar(segs) {
    var total = 0, x = 0;
    segs.forEach(function (s) { total += s[1]; });
    segs.forEach(function (s) {
      set('[data-seg-count="' + s[0] + '"]', String(s[1]));
      var rect = root.querySelector('svg.pbar [data-seg="' + s[0] + '"]');
      if (!rect || total === 0) {
        return;
      }
      var w = s[1] * 1000 / total;
      rect.setAttribute("x", x.toFixed(2));
      rect.setAttribute("width", w.toFixed(2));
      x += w;
    });
  }
  function drawChart(series) {
    var line = root.querySelector("#rate-chart polyline");
    var peakText = root.querySelector("#rate-chart text.peak");
    if (!line) {
      return;
    }
    var peak = 0;
    series.forEach(function (pt) { peak = Math.max(peak, pt.rate); });
    var pts = series.map(function (pt, i) {
      var x = P + (series.length > 1 ? i * (W - P) / (series.length - 1) : 0);
      var y = H - 4 - (peak > 0 ? pt.rate / peak * (H - 18) : 0);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    line.setAttribute("points", pts.join(" "));
    if (peakText) {
      peakText.textContent = peak.toFixed(1) + "/s";
    }
  }
  function update(p) {
    var b = p.batch;
    if (status !== null && b.status !== status) {
      // The actions a status allows change with it; the notice of the
      // last action is old news.
      window.location.replace(window.location.pathname);
      return false;
    }
    status = b.status;
    (p.parts || []).forEach(function (pt) {
      set('[data-count="' + pt.key + '"]', String(pt.count));
      set('[data-money="' + pt.key + '"]', yuan(pt.fen));
    });
    set('[data-field="total"]', String(p.total));
    set('[data-field="total_yuan"]', yuan(p.money.total_fen));
    set('[data-field="remaining"]', String(p.remaining));
    set('[data-field="rate"]', p.sends_per_second.toFixed(1));
    set('[data-field="eta"]', p.eta_text);
    drawBar(segments(p));
    drawChart(p.series || []);
    return !(terminal[b.status] && p.remaining === 0);
  }
  function poll() {
    fetch("/api/v1/batches/" + encodeURIComponent(id) + "/progress", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (p && update(p)) {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  poll();
})();
