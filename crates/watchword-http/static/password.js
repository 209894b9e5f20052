// Password fields. Each gets a "Show" button that reveals what was typed and hides it again.
// A field for a new password (autocomplete="new-password") also gets the policy's rules, ticked
// off while typing, and a meter of how many are met. The server checks the same rules — and
// that the password is not common or easy to guess — when the form is sent; without script the
// rules are listed under the field and the server's answer names any it breaks.
const RULES = [
  ["At least 12 characters", (pw) => [...pw].length >= 12],
  ["A letter", (pw) => /\p{L}/u.test(pw)],
  ["A number", (pw) => /\p{N}/u.test(pw)],
  ["A symbol", (pw) => /[^\p{L}\p{N}\s]/u.test(pw)],
  ["Not your name or email", (pw, form) => {
    const lower = pw.toLowerCase();
    return pw.length > 0 && !personal(form).some((p) => p.length >= 3 && lower.includes(p));
  }],
];

// What the form holds of the person (the server also knows the name and email it has on file).
function personal(form) {
  const out = [];
  const email = form && form.querySelector("input[type=email]");
  if (email && email.value) {
    const e = email.value.toLowerCase();
    out.push(e, e.split("@")[0]);
  }
  const name = form && form.querySelector("input[name=name]");
  if (name && name.value) {
    const n = name.value.toLowerCase();
    out.push(...n.split(/\s+/), n.replace(/\s+/g, ""));
  }
  return out;
}

for (const input of document.querySelectorAll("input[type=password]")) {
  const show = document.createElement("button");
  show.type = "button";
  show.className = "show-password";
  show.textContent = "Show";
  show.setAttribute("aria-pressed", "false");
  if (input.id) show.setAttribute("aria-controls", input.id);
  show.addEventListener("click", () => {
    const shown = input.type === "text";
    input.type = shown ? "password" : "text";
    show.textContent = shown ? "Show" : "Hide";
    show.setAttribute("aria-pressed", String(!shown));
  });
  input.after(show);
  if (input.autocomplete !== "new-password") continue;

  const meter = document.createElement("meter");
  meter.className = "password-meter";
  meter.min = 0;
  meter.max = RULES.length;
  meter.low = RULES.length - 1;
  meter.optimum = RULES.length;
  meter.setAttribute("aria-label", "Password rules met");
  const list = document.createElement("ul");
  list.className = "password-rules";
  list.setAttribute("aria-live", "polite");
  const items = RULES.map(() => list.appendChild(document.createElement("li")));
  show.after(meter, list);
  const update = () => {
    let met = 0;
    RULES.forEach(([label, test], i) => {
      const ok = test(input.value, input.form);
      items[i].className = ok ? "met" : "unmet";
      items[i].textContent = (ok ? "✓ " : "✗ ") + label;
      met += ok ? 1 : 0;
    });
    meter.value = met;
  };
  (input.form || document).addEventListener("input", update);
  update();
}
