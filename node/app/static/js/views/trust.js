// Trust: this node's opinion of each agent as a belief / disbelief /
// uncertainty bar (subjective logic, docs/trust.md), how it moved, and why:
// the verdicts on the agent's promises.

import * as api from "../api.js";
import {h, replaceKeepingFocus, table} from "../dom.js";
import {local, percent, timeEl} from "../format.js";
import {agentEl, agentLabel} from "../people.js";
import {verdictEl} from "./promises.js";

export function mount(main, agent) {
  return agent ? mountOne(main, agent) : mountAll(main);
}

export function bar(o, wide = false) {
  const words = `belief ${percent(o.belief)}, disbelief ${percent(o.disbelief)}, ` +
    `uncertainty ${percent(o.uncertainty)}`;
  return h("div", {class: wide ? "bar wide" : "bar", role: "img", "aria-label": words,
                   title: words},
    h("span", {class: "b", style: {width: `${o.belief * 100}%`}}),
    h("span", {class: "d", style: {width: `${o.disbelief * 100}%`}}),
    h("span", {class: "u", style: {width: `${o.uncertainty * 100}%`}}));
}

function legend() {
  return h("p", {class: "legend"}, "Bars:", h("i", {class: "b"}), "belief",
    h("i", {class: "d"}), "disbelief", h("i", {class: "u"}), "uncertainty");
}

function mountAll(main) {
  const region = h("div");
  main.append(h("h1", {tabindex: "-1"}, "Trust"),
    h("p", {}, "This node's opinion of each agent it has seen, from the promises it judged " +
      "and others' reports, weighed by its trust in them. Expectation = belief + half the " +
      "uncertainty."), legend(), region);
  return {
    async refresh() {
      const rows = await api.get("/v1/trust");
      rows.sort((a, b) => b.expectation - a.expectation);
      replaceKeepingFocus(region, table("Trust in each agent, most trusted first",
        ["agent", "opinion", "expectation"], rows,
        (t) => [agentEl(t.agent), bar(t), percent(t.expectation)], "no agents seen yet"));
    },
  };
}

function mountOne(main, agent) {
  const region = h("div");
  main.append(h("p", {}, h("a", {href: "#/trust"}, "All agents")),
    h("h1", {tabindex: "-1"}, `Trust in ${agentLabel(agent)}`), region);
  return {
    async refresh() {
      const [[now], history, verdicts] = await Promise.all([
        api.get("/v1/trust", {agent}), api.get("/v1/trust/history", {agent}),
        api.get("/v1/verdicts", {agent})]);
      replaceKeepingFocus(region, h("div", {},
        h("p", {}, h("code", {}, agent), " ", h("a", {href: "#/names"}, "name this agent")),
        legend(), bar(now, true),
        h("p", {}, `Expectation ${percent(now.expectation)}: belief ${percent(now.belief)}, ` +
          `disbelief ${percent(now.disbelief)}, uncertainty ${percent(now.uncertainty)}.`),
        h("h2", {}, "History"),
        spark(history),
        table("How the opinion moved while this node ran",
          ["when", "opinion", "expectation"], history.slice().reverse(),
          (p) => [timeEl(p.at), bar(p), percent(p.expectation)]),
        h("h2", {}, "Why: the verdicts behind it"),
        table(`This node's verdicts on ${agentLabel(agent)}'s promises`,
          ["promise", "verdict", "why"], verdicts,
          (v) => [h("a", {href: `#/promises/${v.cid}`, dataset: {key: v.cid}}, v.text || v.cid),
            verdictEl(v), v.reason], "no promises by this agent")));
    },
  };
}

/** A sparkline of expectation over time (the table below says the same in words). */
function spark(points) {
  const w = 320, hgt = 60;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", w);
  svg.setAttribute("height", hgt);
  svg.setAttribute("role", "img");
  const first = points[0], last = points[points.length - 1];
  svg.setAttribute("aria-label", points.length > 1
    ? `expectation from ${percent(first.expectation)} (${local(first.at)}) to ` +
      `${percent(last.expectation)} (${local(last.at)})`
    : "one point so far");
  if (points.length) {
    const t0 = first.at, span = Math.max(last.at - t0, 1);
    const xy = points.map((p) => [4 + (w - 8) * (points.length > 1 ? (p.at - t0) / span : 1),
      hgt - 4 - (hgt - 8) * p.expectation]);
    const line = document.createElementNS(svg.namespaceURI, "polyline");
    line.setAttribute("points", xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#0b57d0");
    line.setAttribute("stroke-width", "2");
    svg.append(line);
    for (const [x, y] of xy) {  // (a lone point shows too)
      const dot = document.createElementNS(svg.namespaceURI, "circle");
      dot.setAttribute("cx", x.toFixed(1));
      dot.setAttribute("cy", y.toFixed(1));
      dot.setAttribute("r", "3");
      dot.setAttribute("fill", "#0b57d0");
      svg.append(dot);
    }
  }
  return svg;
}
