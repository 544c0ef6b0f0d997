// Overview: this node, its peers and their liveness, communities, votes
// closing soon, promises due soon.

import * as api from "../api.js";
import {h, replaceKeepingFocus, table} from "../dom.js";
import {timeEl} from "../format.js";
import {agentEl} from "../people.js";

// How many items each "soon" list shows.
const SOON_MAX = 8;

export function mount(main) {
  const region = h("div");
  main.append(h("h1", {tabindex: "-1"}, "Overview"), region);
  return {
    async refresh() {
      const [me, peers, communities, proposals, verdicts] = await Promise.all([
        api.get("/v1/id"), api.get("/v1/peers"), api.get("/v1/communities"),
        api.get("/v1/proposals"), api.get("/v1/verdicts")]);
      const now = Date.now() / 1000;
      const open = proposals.filter((p) => p.state === "open" || p.state === "counting")
        .sort((a, b) => a.closes - b.closes).slice(0, SOON_MAX);
      const due = verdicts.filter((v) => v.state === "pending" && v.due != null)
        .sort((a, b) => a.due - b.due).slice(0, SOON_MAX);
      const communityName = Object.fromEntries(communities.map((c) => [c.cid, c.name]));
      replaceKeepingFocus(region, h("div", {},
        h("h2", {}, "This node"),
        h("dl", {class: "facts"},
          h("dt", {}, "Agent"), h("dd", {}, agentEl(me.agent_id), " ", h("code", {}, me.agent_id)),
          h("dt", {}, "Tokens held"), h("dd", {}, String(me.tokens)),
          h("dt", {}, "Own tokens signed"), h("dd", {}, String(me.own_seq)),
          h("dt", {}, "Listening on"), h("dd", {}, me.listen.map((a) => h("code", {}, a, " ")))),
        h("h2", {}, "Peers"),
        table("Peers and their liveness", ["peer", "state", "suspicion (phi)", "connected"],
          peers, (p) => [agentEl(p.peer), h("span", {class: `badge ${p.state}`}, p.state),
            p.phi == null ? "–" : String(p.phi), p.connected ? "yes" : "no"], "no peers"),
        h("h2", {}, "Communities"),
        table("Communities this node holds", ["community", "members", "founded by"],
          communities, (c) => [h("a", {href: `#/votes/${c.cid}`, dataset: {key: c.cid}}, c.name),
            String(c.members.length), agentEl(c.founder)]),
        h("h2", {}, "Votes closing soon"),
        table("Open proposals, soonest first", ["proposal", "community", "closes", "state"],
          open, (p) => [h("a", {href: `#/votes/${p.cid}`, dataset: {key: p.cid}}, p.title),
            communityName[p.scope] || "–", timeEl(p.closes),
            h("span", {class: `badge ${p.state}`}, p.state)], "none open"),
        h("h2", {}, "Promises due soon"),
        table("Pending promises with a due time, soonest first",
          ["promise", "by", "due"], due,
          (v) => [h("a", {href: `#/promises/${v.cid}`, dataset: {key: v.cid}}, v.text || v.cid),
            agentEl(v.issuer), [timeEl(v.due), v.due < now ? " (overdue)" : ""]],
          "none pending"),
      ));
    },
  };
}
