// The review queue tells the reader when items arrive, and never reloads by itself: the page
// under the reader's thumb stays as it is until they tap the notice (docs/review.md).
//
// The page gives, on #queue-updates: data-url (/queue/count with the page's filters),
// data-known (the count the page was rendered with) and data-poll-s (seconds between asks).
// Without JavaScript the notice stays hidden and the queue is a plain page. Served from /static
// under the console's CSP (script-src 'self', connect-src 'self'): no inline code, no eval.
(function () {
  "use strict";

  var MAX_WAIT_S = 300; // after failures the wait doubles up to this

  function start() {
    var box = document.getElementById("queue-updates");
    var link = box && box.querySelector("a");
    if (!link || !window.fetch) {
      return;
    }
    var url = box.getAttribute("data-url");
    var known = Number(box.getAttribute("data-known"));
    var every = Math.max(1, Number(box.getAttribute("data-poll-s")) || 30);
    var wait = every;
    var timer = null;
    var ended = false;

    function show(text) {
      link.hidden = false;
      link.textContent = text;
    }

    function schedule(seconds) {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, seconds * 1000);
    }

    function ask() {
      if (document.hidden) {
        return; // asked again when the page is shown (visibilitychange)
      }
      fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (response.status === 401) {
            ended = true;
            show("Your session has ended: log in again");
            return null;
          }
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json().then(function (body) {
            var arrived = typeof body.total === "number" ? body.total - known : 0;
            if (arrived > 0) {
              show(arrived + (arrived === 1 ? " new item" : " new items") + " \u2014 show");
            }
            wait = every;
            schedule(wait);
          });
        })
        .catch(function () {
          wait = Math.min(wait * 2, MAX_WAIT_S); // the store or the network is down: ask less often
          schedule(wait);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !ended) {
        schedule(0);
      }
    });
    schedule(every);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
