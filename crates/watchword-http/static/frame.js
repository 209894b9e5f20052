// The page frame: the menu (sent open, for browsers without script) stays open where the screen
// is wide enough to show it and folds into one "Menu" button on a phone; every <time> shows the
// exact time in the reader's own time zone on hover (pages are rendered in UTC).
(function () {
  var menu = document.getElementById("menu");
  var wide = window.matchMedia("(min-width: 48rem)");
  function fit() { if (menu) { menu.open = wide.matches; } }
  fit();
  if (wide.addEventListener) { wide.addEventListener("change", fit); }
  var format = { dateStyle: "medium", timeStyle: "short" };
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.title = d.toLocaleString(undefined, format); }
  });
})();
