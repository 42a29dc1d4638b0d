// Small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("submit", function (e) {
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
document.addEventListener("click", function (e) {
  var id = e.target.getAttribute && e.target.getAttribute("data-copy");
  var el = id && document.getElementById(id);
  if (el && navigator.clipboard) {
    navigator.clipboard.writeText(el.textContent);
  }
});
// The batch list's "select all" box ticks every batch of the page.
document.addEventListener("change", function (e) {
  if (e.target.id !== "bulk-all") {
    return;
  }
  document.querySelectorAll("input.bulk-id").forEach(function (c) {
    c.checked = e.target.checked;
  });
});
// Pages that wait for something built in the background look again.
if (document.querySelector("[data-reload]")) {
  window.setTimeout(function () {
    window.location.reload();
  }, 2000);
}
