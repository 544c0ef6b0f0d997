// Promises: make one; each promise with this node's verdict (state, basis,
// confidence, evidence) and how others' assessments stand; fulfil (with
// evidence and artifacts), assess, retract. Every action is the CLI's route.

import * as api from "../api.js";
import {base64, cidOf, readFiles} from "../cid.js";
import {field, h, onAction, replaceKeepingFocus, statusLine, table} from "../dom.js";
import {BASIS, percent, shortCid, timeEl} from "../format.js";
import {agentEl, agentList, agentLabel, people, resolveAgent} from "../people.js";

export function mount(main, cid) {
  return cid ? mountOne(main, cid) : mountList(main);
}

export function verdictEl(v) {
  return h("span", {}, h("span", {class: `badge ${v.state}`}, v.state), " ",
    h("span", {class: "muted"}, BASIS[v.basis] || v.basis,
      v.confidence ? `, confidence ${percent(v.confidence)}` : ""));
}

function mountList(main) {
  const list = h("div");
  const form = makeForm();
  // (scrollable, so it takes the focus: keyboard users scroll it with the arrows)
  const graph = h("div", {class: "graph", tabindex: "0", role: "region",
                          "aria-label": "Promise graph"});
  main.append(h("h1", {tabindex: "-1"}, "Promises"),
    h("div", {class: "split"}, h("div", {}, h("h2", {}, "All promises"), list), form.el),
    h("h2", {}, "Promise graph"),
    h("p", {class: "hint"}, "A column per agent, a row per token; promises outlined by this " +
      "node's verdict (green kept, red broken); solid arrows: builds on; dashed: about."),
    graph);
  return {
    async refresh() {
      const [verdicts, communities, svg] = await Promise.all([
        api.get("/v1/verdicts"), api.get("/v1/communities"), api.get("/v1/graph.svg")]);
      graph.replaceChildren(svgNode(svg, `Promise graph of ${verdicts.length} promises`));
      form.update(verdicts, communities);
      verdicts.sort((a, b) => b.iat - a.iat);
      replaceKeepingFocus(list, table("Promises, newest first, with this node's verdict",
        ["promise", "by", "to", "due", "verdict"], verdicts,
        (v) => [h("a", {href: `#/promises/${v.cid}`, dataset: {key: v.cid}}, v.text || v.cid),
          agentEl(v.issuer), v.to ? agentEl(v.to) : "–", timeEl(v.due), verdictEl(v)]));
    },
  };
}

/** The server's SVG picture as a node (parsed as XML: no script runs, text stays text). */
function svgNode(text, label) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  return svg;
}

function makeForm() {
  const text = h("textarea", {name: "text", required: true, maxlength: 4096});
  const due = h("input", {type: "datetime-local", name: "due", step: 1});
  const to = h("input", {type: "text", name: "to", list: "promisee-list", autocomplete: "off"});
  const deps = h("select", {name: "deps", multiple: true, size: 4});
  const scope = h("select", {name: "scope"});
  const slot = h("input", {type: "text", name: "slot"});
  const out = h("input", {type: "file", name: "out", multiple: true});
  const status = statusLine();
  const listHolder = h("div");
  const el = h("form", {class: "card", "aria-labelledby": "make-title"},
    h("h2", {id: "make-title"}, "Make a promise"),
    ...field("What you promise", text),
    ...field("Due (your local time)", due, "Leave empty for no deadline."),
    ...field("Promisee", to, "Who the promise is to: a name from Names, or an agent id."),
    listHolder,
    ...field("Builds on", deps, "Promises this one accepts (deps); pick any number."),
    ...field("Community", scope),
    ...field("Slot", slot, "Claim a slot: rival claims in one community form a conflict set."),
    ...field("Artifacts you will deliver", out,
      "Their content ids go in the promise (out); fulfil with the same files and any " +
      "node can check the delivery."),
    h("button", {type: "submit"}, "Promise"), status.el);
  onAction(el, status, async () => {
    const body = {text: text.value, deps: [...deps.selectedOptions].map((o) => o.value)};
    if (due.value) body.due = Math.floor(new Date(due.value).getTime() / 1000);
    const promisee = resolveAgent(to.value);
    if (promisee) body.to = promisee;
    if (scope.value) body.scope = scope.value;
    if (slot.value.trim()) body.slot = slot.value.trim();
    if (out.files.length) body.out = await Promise.all((await readFiles(out)).map(cidOf));
    const tok = await api.post("/v1/promises", body);
    el.reset();
    return `Promised (${shortCid(tok.cid)}).`;
  });
  return {
    el,
    update(verdicts, communities) {
      listHolder.replaceChildren(agentList("promisee-list", verdicts.map((v) => v.issuer)));
      refill(deps, verdicts.map((v) => [v.cid, `${v.text || v.cid} (${agentLabel(v.issuer)})`]));
      refill(scope, [["", "none (network-wide)"], ...communities.map((c) => [c.cid, c.name])]);
    },
  };
}

/** Replace a select's options, keeping what was selected. */
function refill(select, pairs) {
  const chosen = new Set([...select.selectedOptions].map((o) => o.value));
  select.replaceChildren(...pairs.map(([value, label]) =>
    h("option", {value, selected: chosen.has(value)}, label)));
}

function mountOne(main, cid) {
  const facts = h("div");
  const actions = h("div");
  const title = h("h1", {tabindex: "-1"}, "Promise");
  main.append(h("p", {}, h("a", {href: "#/promises"}, "All promises")), title, facts, actions);
  let built = false;
  return {
    async refresh() {
      const t = await api.get(`/v1/tokens/${encodeURIComponent(cid)}`);
      title.textContent = `Promise: ${t.body.text || cid}`;
      replaceKeepingFocus(facts, details(t));
      if (!built) {
        built = true;
        actions.append(...actionForms(t));
      }
    },
  };
}

function details(t) {
  const v = t.verdict;
  const d = t.delivery || {out: [], delivered: [], missing: []};
  return h("div", {},
    h("dl", {class: "facts"},
      h("dt", {}, "Promiser"), h("dd", {}, agentEl(t.issuer)),
      h("dt", {}, "Promisee"), h("dd", {}, t.body.to ? agentEl(t.body.to) : "–"),
      h("dt", {}, "Made"), h("dd", {}, timeEl(t.iat)),
      h("dt", {}, "Due"), h("dd", {}, timeEl(t.body.due)),
      h("dt", {}, "Slot"), h("dd", {}, t.body.slot || "–"),
      h("dt", {}, "Content id"), h("dd", {}, h("code", {}, t.cid))),
    h("h2", {}, "This node's verdict"),
    v ? h("div", {id: "verdict"},
      h("p", {}, verdictEl(v)),
      h("p", {}, "Why: ", v.reason),
      v.evidence.length ? h("p", {}, "Evidence: ",
        v.evidence.map((c) => h("code", {title: c}, shortCid(c), " "))) : null) : null,
    d.out.length ? h("div", {},
      h("h3", {}, "Delivery"),
      h("p", {}, `Promised ${d.out.length} artifact(s); missing ${d.missing.length}.`),
      h("ul", {}, d.out.map((c) => h("li", {}, h("code", {}, c),
        d.missing.includes(c) ? " – not delivered" : " – delivered")))) : null,
    h("h2", {}, "Assessments"),
    table("How others' assessments stand (latest per assessor)",
      ["assessor", "verdict", "reason", "when"], t.assessments || [],
      (a) => [agentEl(a.assessor), h("span", {class: `badge ${a.verdict}`}, a.verdict),
        a.reason || "–", timeEl(a.iat)], "no assessments"),
    h("h2", {}, "Built on by"),
    t.accepted_by.length ? h("ul", {}, t.accepted_by.map((a) => h("li", {}, agentEl(a))))
      : h("p", {class: "muted"}, "Nobody builds on it yet."));
}

function actionForms(t) {
  const forms = [];
  const mine = t.issuer === people.me?.agent_id;
  if (mine) forms.push(fulfilForm(t), retractForm(t));
  forms.push(assessForm(t));
  return forms;
}

function fulfilForm(t) {
  const evidence = h("textarea", {name: "evidence"});
  const files = h("input", {type: "file", name: "artifacts", multiple: true});
  const status = statusLine();
  const el = h("form", {class: "card", "aria-labelledby": "fulfil-title"},
    h("h2", {id: "fulfil-title"}, "Fulfil"),
    ...field("Evidence", evidence, "What shows you kept it (optional)."),
    ...field("Artifacts", files, "The files you promised: anyone can check them against " +
      "the promise. All together at most 256 KiB."),
    h("button", {type: "submit"}, "Fulfil"), status.el);
  onAction(el, status, async () => {
    const body = {cid: t.cid};
    if (evidence.value.trim()) body.evidence = evidence.value;
    if (files.files.length) body.artifacts = (await readFiles(files)).map(base64);
    const tok = await api.post("/v1/fulfil", body);
    el.reset();
    return `Fulfilled (${shortCid(tok.cid)}).`;
  });
  return el;
}

function retractForm(t) {
  const status = statusLine();
  const sure = h("input", {type: "checkbox", name: "sure", required: true});
  const el = h("form", {class: "card", "aria-labelledby": "retract-title"},
    h("h2", {id: "retract-title"}, "Retract"),
    h("p", {}, "Withdraw this promise: it counts as broken, and cannot be undone."),
    h("p", {}, sure, h("label", {class: "inline", for: "retract-sure"}, "I withdraw it")),
    h("button", {type: "submit"}, "Retract"), status.el);
  sure.id = "retract-sure";
  onAction(el, status, async () => {
    const tok = await api.post("/v1/retract", {cid: t.cid});
    return `Retracted (${shortCid(tok.cid)}).`;
  });
  return el;
}

function assessForm(t) {
  const status = statusLine();
  const reason = h("input", {type: "text", name: "reason"});
  const choice = (value, label) => [
    h("input", {type: "radio", name: "verdict", value, id: `assess-${value}`, required: true}),
    h("label", {class: "inline", for: `assess-${value}`}, label)];
  const el = h("form", {class: "card", "aria-labelledby": "assess-title"},
    h("h2", {id: "assess-title"}, "Assess"),
    h("fieldset", {}, h("legend", {}, "Your verdict (a promise about your own judgement)"),
      choice("kept", "kept"), choice("broken", "broken")),
    ...field("Reason", reason),
    h("button", {type: "submit"}, "Assess"), status.el);
  onAction(el, status, async () => {
    const body = {cid: t.cid, verdict: new FormData(el).get("verdict")};
    if (reason.value.trim()) body.reason = reason.value;
    const tok = await api.post("/v1/assess", body);
    el.reset();
    return `Assessed (${shortCid(tok.cid)}).`;
  });
  return el;
}
