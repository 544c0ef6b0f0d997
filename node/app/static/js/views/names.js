// Names: local petnames for agent ids (`troth name AGENT NAME` does the
// same through the same route). They never leave this node.

import * as api from "../api.js";
import {field, h, onAction, replaceKeepingFocus, statusLine} from "../dom.js";
import {people, setName} from "../people.js";

export function mount(main) {
  const region = h("div");
  const agent = h("input", {type: "text", name: "agent", required: true, autocomplete: "off"});
  const name = h("input", {type: "text", name: "name", required: true, maxlength: 64});
  const status = statusLine();
  const add = h("form", {class: "card", "aria-labelledby": "add-title"},
    h("h2", {id: "add-title"}, "Name an agent"),
    ...field("Agent id", agent), ...field("Name", name),
    h("button", {type: "submit"}, "Save name"), status.el);
  onAction(add, status, async () => {
    await setName(agent.value.trim(), name.value.trim());
    add.reset();
    return "Saved.";
  });
  // (outside the table, which a refresh replaces: the answer stays readable)
  const saved = statusLine();
  main.append(h("h1", {tabindex: "-1"}, "Names"),
    h("p", {}, "Your own names for agents, shown instead of their ids everywhere in this " +
      "app. They are kept in this node's home and never leave it."), saved.el, region, add);
  return {
    async refresh() {
      const [peers, trust] = await Promise.all([api.get("/v1/peers"), api.get("/v1/trust")]);
      const ids = [...new Set([people.me.agent_id, ...Object.keys(people.names),
        ...peers.map((p) => p.peer), ...trust.map((t) => t.agent)])];
      replaceKeepingFocus(region, h("table", {},
        h("caption", {class: "muted"}, "Every agent this node knows"),
        h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "agent id"),
          h("th", {scope: "col"}, "name"))),
        h("tbody", {}, ids.map((id, i) => row(id, i, saved)))));
    },
  };
}

function row(id, i, status) {
  const input = h("input", {type: "text", value: people.names[id] || "", maxlength: 64,
                            id: `name-${i}`, dataset: {key: `name-${id}`},
                            "aria-label": `Name for ${id}`});
  const form = h("form", {class: "inline-form"}, input,
    h("button", {type: "submit", class: "small", dataset: {key: `save-${id}`}}, "Save"));
  onAction(form, status, async () => {
    await setName(id, input.value.trim());
    return input.value.trim() ? `Named ${id} “${input.value.trim()}”.` : `Forgot ${id}'s name.`;
  });
  return h("tr", {}, h("td", {}, h("code", {}, id),
    id === people.me.agent_id ? " (this node)" : ""), h("td", {}, form));
}
