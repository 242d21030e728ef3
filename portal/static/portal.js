// opennimble studio portal: live regions. Every element with data-live is
// refreshed from its URL every two seconds without reloading the page; the
// focused control is found again after a refresh, so keyboard users keep
// their place. An element with data-go (a stream that became ready) is
// followed. A message about a transition of the session shown (data-while,
// the state it holds in) is dropped once the session's live state
// (#session-state's data-state) has moved on. Without JavaScript the pages
// still work: reload to refresh.
(function () {
  "use strict";
  var PERIOD = 2000;

  function focusKey(el) {
    if (!el) return null;
    if (el.id) return "#" + el.id;
    var form = el.form ? el.form.getAttribute("action") : "";
    return form + "|" + (el.getAttribute("aria-label") || el.textContent);
  }

  function findKey(root, key) {
    if (!key) return null;
    if (key.charAt(0) === "#") return document.getElementById(key.slice(1));
    var all = root.querySelectorAll("button, a, input, select");
    for (var i = 0; i < all.length; i++) {
      if (focusKey(all[i]) === key) return all[i];
    }
    return null;
  }

  function follow(root) {
    var go = root.querySelector("[data-go]");
    if (go) window.location.assign(go.getAttribute("data-go"));
  }

  function settle() {
    var st = document.getElementById("session-state");
    if (!st) return;
    var state = st.getAttribute("data-state");
    var stale = document.querySelectorAll(".flash[data-while]");
    for (var i = 0; i < stale.length; i++) {
      if (stale[i].getAttribute("data-while") !== state) stale[i].remove();
    }
  }

  function watch(region) {
    var url = region.getAttribute("data-live");
    var last = region.innerHTML;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined && html !== last) {
            var active = document.activeElement;
            var key = region.contains(active) ? focusKey(active) : null;
            region.innerHTML = html;
            last = region.innerHTML;
            var again = findKey(region, key);
            if (again) again.focus();
            settle();
            follow(region);
          }
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { window.setTimeout(tick, PERIOD); });
    }
    follow(region);
    window.setTimeout(tick, PERIOD);
  }

  document.addEventListener("DOMContentLoaded", function () {
    settle();
    var regions = document.querySelectorAll("[data-live]");
    for (var i = 0; i < regions.length; i++) watch(regions[i]);
  });
})();
