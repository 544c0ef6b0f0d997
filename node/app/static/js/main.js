// The app shell: session, navigation (#/view/param), live updates.
//
// Each view module exports `mount(container, param)` which builds the view's
// forms once and returns `{refresh}`; refresh re-reads the API and replaces
// only the data regions, so a live update never wipes what the user is typing.

import * as api from "./api.js";
import {h} from "./dom.js";
import {retime} from "./format.js";
import {follow} from "./live.js";
import {agentLabel, loadPeople, people} from "./people.js";
import * as overview from "./views/overview.js";
import * as promises from "./views/promises.js";
import * as trustView from "./views/trust.js";
import * as conflicts from "./views/conflicts.js";
import * as votes from "./views/votes.js";
import * as names from "./views/names.js";

const VIEWS = {overview, promises, trust: trustView, conflicts, votes, names};
// Events arrive in bursts (a sync round applies many tokens): one refresh per burst.
const REFRESH_DEBOUNCE_MS = 250;
// Peer liveness and relative times change without events.
const POLL_MS = 15000;

let current = null;

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = VIEWS[name] ? name : "overview";
  return {view, param: rest.length ? decodeURIComponent(rest.join("/")) : null};
}

async function show() {
  const {view, param} = route();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${view}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  main.replaceChildren();
  current = VIEWS[view].mount(main, param);
  document.title = `${main.querySelector("h1")?.textContent || view} · troth`;
  // Focus the new view's heading now, before its data arrives: focusing it
  // later could pull the focus out of a field the user already moved to.
  main.querySelector("h1")?.focus();
  await refresh();
}

// One refresh at a time (a slow answer must not overwrite a newer one); a
// request for another while one runs makes one more run after it.
let running = null;
let again = false;

async function refresh() {
  if (running) {
    again = true;
    return running;
  }
  const main = document.getElementById("main");
  main.setAttribute("aria-busy", "true");
  running = (async () => {
    do {
      again = false;
      await refreshOnce();
    } while (again);
  })();
  try {
    await running;
  } finally {
    running = null;
    main.setAttribute("aria-busy", "false");
  }
}

async function refreshOnce() {
  const mounted = current;
  try {
    await loadPeople();
    showMe();
    if (mounted) await mounted.refresh();
  } catch (err) {
    const main = document.getElementById("main");
    let box = main.querySelector("#view-error");
    if (!box) {
      box = h("p", {id: "view-error", class: "error", role: "alert"});
      main.prepend(box);
    }
    box.textContent = err.status === 401
      ? "This page has no valid token: open it with `troth web`, or with #read=TOKEN."
      : String(err.message || err);
    return;
  }
  document.getElementById("view-error")?.remove();
}

let pending = null;
function refreshSoon() {
  clearTimeout(pending);
  pending = setTimeout(refresh, REFRESH_DEBOUNCE_MS);
}

function showMe() {
  const id = people.me?.agent_id;
  if (id) {
    document.getElementById("me").replaceChildren(
      agentLabel(id), " ", h("code", {title: "this node's agent id"}, id));
  }
  const mode = document.getElementById("mode");
  const signout = document.getElementById("signout");
  mode.textContent = api.session.write ? "can act (write token given)" : "read-only";
  signout.hidden = !api.session.write;
}

async function start() {
  api.session.takeFragment();
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/overview");
  api.onSession(showMe);
  document.getElementById("signout").addEventListener("click", () => api.session.forgetWrite());
  window.addEventListener("hashchange", show);
  document.addEventListener("troth-changed", refreshSoon);  // (after an action)
  const live = document.getElementById("live");
  follow((event) => {
    document.dispatchEvent(new CustomEvent("troth-event", {detail: event}));
    refreshSoon();
  }, (state) => {
    live.textContent = state;
    live.classList.toggle("on", state === "live");
    if (state === "live") refreshSoon();  // (what happened while the stream was down)
  });
  setInterval(() => { retime(); refreshSoon(); }, POLL_MS);
  await show();
}

start();
