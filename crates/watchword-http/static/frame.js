// The page frame: the menu (sent open, for browsers without script) stays open where the screen
// is wide enough to show it and folds into one "Menu" button on a phone; every <time> shows the
// exact time in the reader's own time zone on hover (pages are rendered in UTC); a table that
// scrolls sideways can be reached with the keyboard.
(function () {
  var menu = document.getElementById("menu");
  var wide = window.matchMedia("(min-width: 48rem)");
  // A table wider than the screen scrolls inside its box: keyboard users reach it with Tab.
  function scrollers() {
    document.querySelectorAll("table").forEach(function (t) {
      if (t.scrollWidth > t.clientWidth + 1) { t.tabIndex = 0; } else { t.removeAttribute("tabindex"); }
    });
  }
  function fit() { if (menu) { menu.open = wide.matches; } scrollers(); }
  fit();
  if (wide.addEventListener) { wide.addEventListener("change", fit); }
  var format = { dateStyle: "medium", timeStyle: "short" };
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.title = d.toLocaleString(undefined, format); }
  });
})();
