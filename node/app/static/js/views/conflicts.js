// Conflicts: each conflict set (rival claims of one slot in a community, or
// one issuer's equivocated chain position) with its leader, state, and each
// rival's support and who builds on it (docs/design.md, Consensus).

import * as api from "../api.js";
import {h, replaceKeepingFocus, table} from "../dom.js";
import {percent, shortCid} from "../format.js";
import {agentEl, agentLabel} from "../people.js";

export function mount(main) {
  const region = h("div");
  main.append(h("h1", {tabindex: "-1"}, "Conflicts"),
    h("p", {}, "Tokens that compete for one place. Support is the share of the electorate " +
      "that builds on a rival and on no other; the leader is settled once its support " +
      "reaches the threshold."), region);
  return {
    async refresh() {
      const [sets, communities] = await Promise.all([
        api.get("/v1/conflicts"), api.get("/v1/communities")]);
      const names = Object.fromEntries(communities.map((c) => [c.cid, c.name]));
      replaceKeepingFocus(region, sets.length
        ? h("div", {}, sets.map((c, i) => conflictSet(c, i, names)))
        : h("p", {class: "muted"}, "No conflict sets: nobody claims the same slot, nobody " +
          "equivocated."));
    },
  };
}

function title(key, names) {
  if (key.kind === "slot") {
    const where = names[key.scope] || (key.scope ? shortCid(key.scope) : "network-wide");
    return `Slot “${key.slot}” in ${where}`;
  }
  return `Equivocation: ${agentLabel(key.issuer)} signed two tokens at #${key.seq}`;
}

function conflictSet(c, i, names) {
  const id = `conflict-${i}`;
  return h("section", {class: "card", "aria-labelledby": id},
    h("h2", {id}, title(c.key, names)),
    h("p", {}, h("span", {class: `badge ${c.state}`}, c.state), " leader: ",
      c.leader ? h("a", {href: `#/promises/${c.leader}`}, textOf(c, c.leader)) : "none",
      ` · support ${percent(c.support)} of the ${percent(c.threshold)} needed`),
    table("Rivals", ["claim", "by", "support", "built on by"], c.rivals,
      (r) => [h("a", {href: `#/promises/${r.cid}`, dataset: {key: r.cid}}, r.text || shortCid(r.cid)),
        agentEl(r.issuer), percent(r.support),
        r.accepted_by.length ? r.accepted_by.map((a) => [agentEl(a), " "]) : "nobody"]));
}

function textOf(c, cid) {
  return c.rivals.find((r) => r.cid === cid)?.text || shortCid(cid);
}
