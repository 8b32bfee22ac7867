// The item page: "More" in the bar of one-tap actions opens the panel of the other actions as
// it scrolls to it. Without JavaScript the link still scrolls there and the panel opens with a
// tap on its title. Served from /static under the console's CSP: no inline code.
(function () {
  "use strict";

  function openPanel() {
    var panel = document.getElementById("more-actions");
    if (panel && location.hash === "#more-actions") {
      panel.open = true;
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.more-link");
    var panel = document.getElementById("more-actions");
    if (link && panel) {
      panel.open = true;
    }
  });
  window.addEventListener("hashchange", openPanel);
  openPanel();
}());
