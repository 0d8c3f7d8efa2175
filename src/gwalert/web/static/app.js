// gwalert dashboard: keeps the event list current without reloading the page.
// Polls /api/version every 2 s; when the store changed, fetches the rows for the filters now
// set and swaps them in (the form, the scroll position and the URL stay as they are).
// Filter changes apply at once and are kept in the address bar.
"use strict";
(function () {
  var POLL_MS = 2000;
  var live = document.getElementById("live");

  function setLive(state, title) {
    if (!live) return;
    live.setAttribute("data-state", state);
    if (title) live.title = title;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      return r.json();
    });
  }

  var results = document.getElementById("results");
  var form = document.getElementById("filters");
  var watch = document.getElementById("watch");
  var el = results || watch;
  if (!el) return;
  var version = el.getAttribute("data-version");
  var pending = null;

  function query() {
    if (!form) return "";
    var params = new URLSearchParams(new FormData(form));
    var keep = new URLSearchParams();
    params.forEach(function (value, key) { if (value) keep.append(key, value); });
    return keep.toString();
  }

  function refresh() {
    var q = query();
    var url = results.getAttribute("data-poll") + (q ? "?" + q : "");
    var mine = {};
    pending = mine;
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      return r.text();
    }).then(function (html) {
      if (pending !== mine) return;  // a newer request (the user typed again) wins
      // The fragment is rendered and escaped by the server's templates.
      var doc = new DOMParser().parseFromString(html, "text/html");
      results.replaceChildren.apply(results, Array.prototype.slice.call(doc.body.childNodes));
      results.setAttribute("data-updated", String(Date.now()));
    });
  }

  function poll() {
    getJSON("/api/version").then(function (data) {
      setLive("ok", "connected: updates itself when a notice arrives");
      if (data.version !== version) {
        version = data.version;
        if (results) return refresh();
        var stale = document.getElementById("stale");
        if (stale) stale.hidden = false;
      }
    }).catch(function (err) {
      setLive("down", "cannot reach the server: " + err.message);
    }).then(function () { setTimeout(poll, POLL_MS); });
  }

  if (form && results) {
    var timer = null;
    var apply = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = query();
        history.replaceState(null, "", q ? "?" + q : location.pathname);
        refresh().catch(function (err) { setLive("down", err.message); });
      }, 200);
    };
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(); });
  }
  setTimeout(poll, 300);
})();
