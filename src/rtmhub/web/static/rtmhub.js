/* rtmhub: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  // Calling fields appear only when a calling package is chosen.
  function toggleCalling() {
    document.querySelectorAll("select.pkg").forEach(function (sel) {
      var opt = sel.options[sel.selectedIndex];
      var box = document.querySelector('[data-calling-for="' + sel.dataset.row + '"]');
      if (box) box.hidden = !(opt && opt.dataset.calling);
    });
    var radios = document.querySelectorAll('input[type=radio].pkg');
    if (radios.length) {
      var box = document.querySelector('[data-calling-for="package"]');
      var checked = document.querySelector('input[type=radio].pkg:checked');
      if (box) box.hidden = !(checked && checked.dataset.calling);
    }
  }
  document.addEventListener("change", function (e) {
    if (e.target.classList && e.target.classList.contains("pkg")) toggleCalling();
  });
  toggleCalling();

  // A form that came back with errors: focus moves to its summary (role=alert, tabindex=-1), so a screen
  // reader reads it first and the next Tab goes on to the form's first field.
  // A form posted from "page#main" (after the skip link) comes back with that fragment, whose scrolling would take
  // the focus to <main> once the page has loaded: drop the fragment and focus the summary again on load.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    if (window.location.hash) history.replaceState(null, "", window.location.pathname + window.location.search);
    summary.focus();
    window.addEventListener("load", function () { if (document.activeElement !== summary) summary.focus(); });
  }

  // Live task progress: poll the task while it runs, reload the page when it has finished.
  var task = document.getElementById("task");
  if (task && task.dataset.running === "1") {
    var bar = document.getElementById("task-progress");
    var count = document.getElementById("task-count");
    var status = document.getElementById("task-status");
    var poll = function () {
      fetch("/tasks/" + task.dataset.task + "/progress", {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (p) {
          bar.value = p.percent;
          count.textContent = p.rowsDone + (p.totalRows ? " / " + p.totalRows : "");
          status.textContent = p.label;
          if (p.finished) { window.location.reload(); } else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 700);
  }
})();
