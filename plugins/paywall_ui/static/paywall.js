// The page's only script (CSP: script-src 'self', nothing inline). Links to Airflow's own
// pages -- a DAG run in the grid -- must open in the UI, but the UI shows this page in a
// frame that may not navigate the top window (no allow-top-navigation). So such a link asks
// the UI's router to go there instead. Without it (or outside the UI) the link still works.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    var link = target && target.closest ? target.closest("a[data-airflow-link]") : null;
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    var top;
    try {
      top = window.top;
      if (top === window || top.location.origin !== window.location.origin) return;
    } catch (error) {
      return; // another origin: let the browser follow the link
    }
    var url = new URL(link.getAttribute("href"), window.location.href);
    if (url.origin !== window.location.origin) return;
    event.preventDefault();
    top.history.pushState({}, "", url.pathname + url.search + url.hash);
    top.dispatchEvent(new PopStateEvent("popstate", { state: {} }));
  });
})();
