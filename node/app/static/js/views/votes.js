// Communities and votes: found a community, propose (single, approval,
// ranked), vote with a control that fits the method, the live count, the
// outcome as this node sees it, each member's published tally, and "was my
// vote counted?" explained from the cuts (docs/governance.md).

import * as api from "../api.js";
import {field, h, onAction, replaceKeepingFocus, statusLine, table} from "../dom.js";
import {shortCid, timeEl} from "../format.js";
import {agentEl, agentLabel, people, resolveAgent} from "../people.js";

export function mount(main, cid) {
  if (!cid) return mountAll(main);
  const region = h("div");
  main.append(h("p", {}, h("a", {href: "#/votes"}, "All communities")),
    h("h1", {tabindex: "-1"}, "…"), region);
  let inner = null;  // (a promise: two refreshes at once must not mount twice)
  return {
    async refresh() {
      inner ||= api.get("/v1/communities").then((communities) => {
        const c = communities.find((x) => x.cid === cid);
        return c ? mountCommunity(main, region, c) : mountProposal(main, region, cid);
      });
      await (await inner).refresh();
    },
  };
}

function mountAll(main) {
  const list = h("div");
  const found = foundForm();
  const propose = proposeForm(null);
  main.append(h("h1", {tabindex: "-1"}, "Communities and votes"),
    h("div", {class: "split"}, list, h("div", {}, propose.el, found.el)));
  return {
    async refresh() {
      const [communities, proposals, peers] = await Promise.all([
        api.get("/v1/communities"), api.get("/v1/proposals"), api.get("/v1/peers")]);
      found.update([...Object.keys(people.names), ...peers.map((p) => p.peer)]);
      propose.update(communities);
      replaceKeepingFocus(list, h("div", {},
        table("Communities", ["community", "members", "epoch", "methods"], communities,
          (c) => [h("a", {href: `#/votes/${c.cid}`, dataset: {key: c.cid}}, c.name),
            c.members.map((m) => [agentEl(m), " "]), String(c.epoch ?? "–"), c.methods.join(", ")],
          "none yet: found one below"),
        proposalTable(proposals, communities)));
    },
  };
}

function proposalTable(proposals, communities) {
  const names = Object.fromEntries(communities.map((c) => [c.cid, c.name]));
  const sorted = proposals.slice().sort((a, b) => b.closes - a.closes);
  return table("Proposals, latest closing first", ["proposal", "community", "method", "closes",
    "outcome here"], sorted,
  (p) => [h("a", {href: `#/votes/${p.cid}`, dataset: {key: p.cid}}, p.title),
    names[p.scope] || "–", p.method, timeEl(p.closes),
    [h("span", {class: `badge ${p.state}`}, p.state), p.result ? ` → ${p.result}` : ""]],
  "no proposals yet");
}

function mountCommunity(main, region, c) {
  main.querySelector("h1").textContent = `Community: ${c.name}`;
  const facts = h("div");
  const propose = proposeForm(c.cid);
  region.append(facts, propose.el);
  return {
    async refresh() {
      const [communities, proposals] = await Promise.all([
        api.get("/v1/communities"), api.get("/v1/proposals", {scope: c.cid})]);
      const now = communities.find((x) => x.cid === c.cid) || c;
      propose.update(communities);
      replaceKeepingFocus(facts, h("div", {},
        h("dl", {class: "facts"},
          h("dt", {}, "Founded by"), h("dd", {}, agentEl(now.founder)),
          h("dt", {}, "Members"), h("dd", {}, now.members.map((m) => [agentEl(m), " "])),
          h("dt", {}, "Membership epoch"), h("dd", {}, String(now.epoch ?? "–")),
          h("dt", {}, "Methods"), h("dd", {}, now.methods.join(", ")),
          h("dt", {}, "Content id"), h("dd", {}, h("code", {}, now.cid))),
        proposalTable(proposals, communities)));
    },
  };
}

function foundForm() {
  const name = h("input", {type: "text", name: "name", required: true});
  const known = h("div");
  const others = h("textarea", {name: "others"});
  const quorum = h("input", {type: "text", name: "quorum", placeholder: "1/2"});
  const threshold = h("input", {type: "text", name: "threshold", placeholder: "2/3"});
  const methods = ["single", "approval", "ranked"].map((m) => [
    h("input", {type: "checkbox", name: "methods", value: m, id: `method-${m}`, checked: true}),
    h("label", {class: "inline", for: `method-${m}`}, m)]);
  const status = statusLine();
  const el = h("form", {class: "card", "aria-labelledby": "found-title"},
    h("h2", {id: "found-title"}, "Found a community"),
    ...field("Name", name),
    h("fieldset", {}, h("legend", {}, "Members (you are one anyway)"), known,
      ...field("Other members", others, "Agent ids or names, one per line.")),
    ...field("Quorum", quorum, "Share of members that must vote (default 1/2)."),
    ...field("Threshold", threshold, "Share of members' tallies that decides (default 2/3)."),
    h("fieldset", {}, h("legend", {}, "Voting methods allowed"), methods),
    h("button", {type: "submit"}, "Found"), status.el);
  onAction(el, status, async () => {
    const body = {name: name.value,
      members: [...new FormData(el).getAll("member"),
        ...others.value.split("\n").map(resolveAgent).filter(Boolean)],
      methods: new FormData(el).getAll("methods")};
    if (quorum.value.trim()) body.quorum = quorum.value.trim();
    if (threshold.value.trim()) body.threshold = threshold.value.trim();
    const tok = await api.post("/v1/charters", body);
    el.reset();
    return `Founded ${body.name} (${shortCid(tok.cid)}).` +
      (tok.warnings ? ` Note: ${tok.warnings.join(" ")}` : "");
  });
  return {
    el,
    update(agents) {
      const chosen = new Set(new FormData(el).getAll("member"));
      const ids = [...new Set(agents)].filter((a) => a !== people.me?.agent_id);
      known.replaceChildren(...ids.map((a, i) => h("div", {},
        h("input", {type: "checkbox", name: "member", value: a, id: `member-${i}`,
                    checked: chosen.has(a)}),
        h("label", {class: "inline", for: `member-${i}`, title: a}, agentLabel(a)))));
    },
  };
}

function proposeForm(scopeCid) {
  const scope = h("select", {name: "scope", required: true});
  const title = h("input", {type: "text", name: "title", required: true});
  const options = h("textarea", {name: "options", required: true});
  options.value = "yes\nno";
  const method = h("select", {name: "method"},
    ["single", "approval", "ranked"].map((m) => h("option", {value: m}, m)));
  const closes = h("input", {type: "datetime-local", name: "closes", step: 1});
  const status = statusLine();
  const el = h("form", {class: "card", "aria-labelledby": "propose-title"},
    h("h2", {id: "propose-title"}, "Propose"),
    ...field("Community", scope),
    ...field("Title", title),
    ...field("Options", options, "One per line."),
    ...field("Method", method, "single: one choice; approval: any number; ranked: an " +
      "order of preference (Schulze)."),
    ...field("Closes (your local time)", closes, "Default: in one hour."),
    h("button", {type: "submit"}, "Propose"), status.el);
  onAction(el, status, async () => {
    const body = {scope: scope.value, title: title.value, method: method.value,
      options: options.value.split("\n").map((o) => o.trim()).filter(Boolean)};
    if (closes.value) body.closes = Math.floor(new Date(closes.value).getTime() / 1000);
    const tok = await api.post("/v1/proposals", body);
    el.reset();
    options.value = "yes\nno";
    return `Proposed (${shortCid(tok.cid)}).`;
  });
  return {
    el,
    update(communities) {
      const chosen = scope.value || scopeCid;
      scope.replaceChildren(...communities.map((c) =>
        h("option", {value: c.cid, selected: c.cid === chosen}, c.name)));
    },
  };
}

function mountProposal(main, region, cid) {
  const facts = h("div");
  const vote = h("div");
  const outcome = h("div");
  const mine = h("section", {"aria-labelledby": "mine-title"});
  region.append(facts, vote, outcome, mine);
  let voteBuilt = false;
  return {
    async refresh() {
      const [t, communities] = await Promise.all([
        api.get(`/v1/proposals/${encodeURIComponent(cid)}`, {explain: true}),
        api.get("/v1/communities")]);
      const p = t.proposal;
      const o = t.outcome;
      main.querySelector("h1").textContent = `Vote: ${p.title}`;
      const community = communities.find((c) => c.cid === p.scope);
      replaceKeepingFocus(facts, h("dl", {class: "facts"},
        h("dt", {}, "Community"), h("dd", {}, community
          ? h("a", {href: `#/votes/${community.cid}`}, community.name) : "–"),
        h("dt", {}, "Proposed by"), h("dd", {}, agentEl(p.issuer)),
        h("dt", {}, "Method"), h("dd", {}, p.method),
        h("dt", {}, "Options"), h("dd", {}, p.options.join(", ")),
        h("dt", {}, "Closes"), h("dd", {}, timeEl(p.closes)),
        h("dt", {}, "Outcome here"), h("dd", {id: "outcome"},
          h("span", {class: `badge ${o.state}`}, o.state), o.result ? ` → ${o.result}` : "",
          h("span", {class: "muted"}, ` (${o.reason})`))));
      if (!voteBuilt) {
        voteBuilt = true;
        vote.append(voteForm(p));
      }
      replaceKeepingFocus(outcome, outcomeEl(p, o));
      replaceKeepingFocus(mine, explainEl(t.explanation));
    },
  };
}

function voteForm(p) {
  const status = statusLine();
  let control;
  let choices;
  if (p.method === "ranked") {
    const order = p.options.slice();
    const list = h("ol", {class: "ranking", id: "ranking"});
    const draw = (focusKey) => {
      list.replaceChildren(...order.map((opt, i) => h("li", {},
        h("span", {}, opt), " ",
        h("button", {type: "button", class: "small secondary", disabled: i === 0,
                     "aria-label": `Move ${opt} up`, dataset: {key: `up-${opt}`},
                     onclick: () => move(i, -1, `up-${opt}`)}, "↑"),
        h("button", {type: "button", class: "small secondary",
                     disabled: i === order.length - 1, "aria-label": `Move ${opt} down`,
                     dataset: {key: `down-${opt}`}, onclick: () => move(i, 1, `down-${opt}`)},
          "↓"))));
      if (focusKey) {
        const again = list.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
        (again && !again.disabled ? again : list.querySelector("button:not([disabled])"))
          ?.focus();
      }
    };
    const move = (i, by, key) => {
      const j = i + by;
      [order[i], order[j]] = [order[j], order[i]];
      draw(key);
    };
    draw(null);
    control = h("fieldset", {}, h("legend", {}, "Your order of preference, best first"), list);
    choices = () => order.slice();
  } else {
    const type = p.method === "single" ? "radio" : "checkbox";
    control = h("fieldset", {}, h("legend", {}, p.method === "single"
      ? "Your choice" : "Every option you approve of"),
    p.options.map((opt, i) => h("div", {},
      h("input", {type, name: "choice", value: opt, id: `choice-${i}`}),
      h("label", {class: "inline", for: `choice-${i}`}, opt))));
    choices = () => [...control.querySelectorAll("input:checked")].map((x) => x.value);
  }
  const el = h("form", {class: "card", "aria-labelledby": "vote-title"},
    h("h2", {id: "vote-title"}, "Vote"),
    h("p", {class: "hint"}, "A later vote replaces your earlier one."),
    control, h("button", {type: "submit"}, "Vote"), status.el);
  onAction(el, status, async () => {
    const tok = await api.post("/v1/ballots", {proposal: p.cid, choices: choices()});
    return `Voted ${choices().join(" > ")} (${shortCid(tok.cid)}).` +
      (tok.warnings ? ` Note: ${tok.warnings.join(" ")}` : "");
  });
  return el;
}

function outcomeEl(p, o) {
  const own = o.own;
  let count = h("p", {class: "muted"}, "This node does not count this vote (it is not valid here).");
  if (own && p.method === "ranked") {
    const k = p.options.length;
    count = h("table", {},
      h("caption", {class: "muted"}, `Voters preferring the row's option to the column's ` +
        `(${own.ballots} ballots counted)`),
      h("thead", {}, h("tr", {}, h("td", {}), p.options.map((x) => h("th", {scope: "col"}, x)))),
      h("tbody", {}, p.options.map((row, i) => h("tr", {}, h("th", {scope: "row"}, row),
        p.options.map((_, j) => h("td", {}, i === j ? "–" : String(own.counts[i * k + j])))))));
  } else if (own) {
    count = table(`Votes per option (${own.ballots} ballots counted)`, ["option", "votes"],
      p.options.map((x, i) => [x, own.counts[i]]), ([x, n]) => [x, String(n)]);
  }
  return h("section", {"aria-labelledby": "count-title"},
    h("h2", {id: "count-title"}, "Live count at this node"),
    own ? h("p", {}, "Leading: ", h("strong", {id: "own-result"}, own.result ?? "none"),
      own.quorum_met ? "" : " (quorum not met yet)", own.tied.length > 1
        ? ` (tied: ${own.tied.join(", ")})` : "") : null,
    count,
    h("h2", {}, "Members' published tallies"),
    h("p", {}, `${o.needed} of ${o.electorate} members' tallies must agree to decide.`),
    table("Each member's latest tally, as this node checks it",
      ["member", "result", "ballots", "status", "why"], o.tallies,
      (t) => [agentEl(t.issuer), t.result ?? "none", String(t.ballots),
        h("span", {class: `badge ${t.status}`}, t.status), t.reason],
      "none yet: members publish theirs when the vote closes"));
}

function explainEl(e) {
  if (!e) return h("p", {}, "–");
  const counted = e.counted;
  const said = (ballot) => !ballot ? "did not count it"
    : ballot === counted ? "counted it" : "counted another of your ballots";
  return h("div", {},
    h("h2", {id: "mine-title"}, "Was my vote counted?"),
    h("p", {id: "my-vote"}, counted
      ? `Yes: this node counts your ballot ${shortCid(counted)}.`
      : e.ballots.length ? "No: this node counts none of your ballots (see why below)."
        : "You have not voted."),
    table("Your ballots, in the order you signed them", ["ballot", "choice", "state", "why"],
      e.ballots, (b) => [`#${b.seq} ${shortCid(b.cid)}`, b.choice.join(" > "),
        h("span", {class: `badge ${b.state}`}, b.state), b.reason], "none"),
    table("What each member's tally did with your vote (from its cut)", ["tally by", "your vote"],
      e.attestations, ([issuer, ballot]) => [agentEl(issuer), said(ballot)],
      "no tallies yet"),
    e.differences.length ? h("ul", {}, e.differences.map((d) => h("li", {},
      `Tallies by ${d.issuers.map(agentLabel).join(", ")}: `,
      d.missing.length || d.extra.length
        ? `their cut lacks ${d.missing.length} ballot(s) this node counts and has ` +
          `${d.extra.length} it does not.`
        : "the same cut as this node.")))
      : null);
}
