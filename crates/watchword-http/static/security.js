// Settings > Security: live search of Security Contact candidates as you type.
// Without this script the search box works as a plain form.
(function () {
  "use strict";
  var input = document.getElementById("contact-search");
  var list = document.getElementById("candidates");
  if (!input || !list) { return; }
  var url = list.getAttribute("data-url");
  var seq = 0;

  function render(c) {
    var li = document.createElement("li");
    var radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "member_id";
    radio.value = c.member_id;
    radio.id = "cand-" + c.member_id;
    radio.disabled = !c.eligible;
    var label = document.createElement("label");
    label.htmlFor = radio.id;
    label.className = "inline";
    label.textContent = (c.name || c.email) + " <" + c.email + "> · " + c.role.name;
    li.appendChild(radio);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(label);
    if (!c.eligible) {
      li.className = "ineligible";
      var why = document.createElement("span");
      why.className = "reason";
      why.textContent = " — " + c.reasons.map(function (r) { return r.message; }).join("; ");
      li.appendChild(why);
    }
    return li;
  }

  input.addEventListener("input", function () {
    var mine = ++seq;
    fetch(url + "?q=" + encodeURIComponent(input.value), { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (items) {
        if (!items || mine !== seq) { return; }
        list.replaceChildren.apply(list, items.map(render));
        list.setAttribute("aria-busy", "false");
        var status = document.getElementById("candidates-status");
        if (status) { status.textContent = items.length + " member(s) found"; }
      });
  });
})();
