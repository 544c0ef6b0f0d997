// Building DOM nodes without HTML strings: text is always text (no injection).

/** h("a", {href: "#/x", class: "c"}, "text", child, [more]) -> Element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") Object.assign(el.style, v);  // (CSSOM: allowed by the CSP)
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** A table with a caption, header cells and one row per item. */
export function table(caption, head, items, cells, empty = "none yet") {
  if (!items.length) return h("p", {class: "muted"}, `${caption}: ${empty}.`);
  return h("table", {},
    h("caption", {class: "muted"}, caption),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {scope: "col"}, c)))),
    h("tbody", {}, items.map((it) => h("tr", {}, cells(it).map((c) => h("td", {}, c))))));
}

/**
 * Replace `region`'s content with `node`, keeping the keyboard focus: the
 * element that had it is found again by its `data-key` and focused.
 */
export function replaceKeepingFocus(region, node) {
  const active = document.activeElement;
  const key = active && region.contains(active) ? active.dataset.key : null;
  region.replaceChildren(node);
  if (key) {
    const again = region.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) {
      if ("value" in active && again.tagName === active.tagName) again.value = active.value;
      again.focus();
    }
  }
}

/** A form's status line: success text, or the API's error. */
export function statusLine() {
  const el = h("p", {role: "status", "aria-live": "polite"});
  return {
    el,
    ok(text) { el.className = "status"; el.textContent = text; },
    fail(err) { el.className = "error"; el.textContent = String(err.message || err); },
    clear() { el.className = ""; el.textContent = ""; },
  };
}

let nextId = 0;
/** A labelled form field: [label, control, hint?]. */
export function field(label, control, hint) {
  const id = control.id || `f${++nextId}`;
  control.id = id;
  const hintEl = hint ? h("p", {class: "hint", id: `${id}-hint`}, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return [h("label", {for: id}, label), control, hintEl];
}

/** Tell the shell that an action changed something (it refreshes the view). */
export function changed() {
  document.dispatchEvent(new Event("troth-changed"));
}

/**
 * Run `act` when `form` is submitted: its answer (text) goes to the status
 * line and the view refreshes; a refusal (or a cancelled token dialog) goes
 * to the status line and changes nothing.
 */
export function onAction(form, status, act) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.clear();
    try {
      status.ok(await act());
      changed();
    } catch (err) {
      status.fail(err);
    }
  });
}
