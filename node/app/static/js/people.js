// Who is who: this node's agent and the local petnames (GET/POST /v1/names).
// Every agent id on screen goes through `agentEl`, so a name given anywhere
// shows everywhere.

import {h} from "./dom.js";
import * as api from "./api.js";

export const people = {me: null, names: {}};

export async function loadPeople() {
  const [me, names] = await Promise.all([api.get("/v1/id"), api.get("/v1/names")]);
  people.me = me;
  people.names = names;
}

export function agentLabel(id) {
  if (!id) return "–";
  const name = people.names[id];
  if (id === people.me?.agent_id) return name ? `${name} (you)` : "you";
  return name || `…${id.slice(-8)}`;
}

/** A link to the agent's trust page, its petname shown and its id in the title. */
export function agentEl(id) {
  if (!id) return document.createTextNode("–");
  return h("a", {href: `#/trust/${encodeURIComponent(id)}`, class: "agent", title: id,
                 dataset: {key: `agent-${id}`}}, agentLabel(id));
}

/** An agent id from what the user typed: a petname, or the id itself. */
export function resolveAgent(text) {
  const t = text.trim();
  if (!t) return null;
  const named = Object.entries(people.names).find(([, n]) => n === t);
  return named ? named[0] : t;
}

/** A <datalist> of every named agent, for agent inputs (type a name or an id). */
export function agentList(id, extra = []) {
  const ids = new Set([...Object.keys(people.names), ...extra]);
  ids.delete(people.me?.agent_id);
  return h("datalist", {id}, [...ids].map((a) => h("option",
    {value: people.names[a] || a}, people.names[a] ? a : "")));
}

export async function setName(agent, name) {
  people.names = await api.post("/v1/names", {agent, name: name || null});
}
