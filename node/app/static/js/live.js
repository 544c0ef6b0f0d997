// The node's live event stream (GET /v1/events, Server-Sent Events).
//
// EventSource cannot send an Authorization header, and the token must not go
// in a URL, so the stream is read with fetch() and a streaming body reader;
// the SSE framing (blank-line separated `event:` / `data:` lines, `:` comments)
// is parsed here. On a dropped stream it reconnects with a growing pause.

import {readToken} from "./api.js";

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15000;

/** Follow the stream until the page goes: onEvent(obj) per event, onState(text). */
export async function follow(onEvent, onState) {
  let pause = RETRY_MIN_MS;
  for (;;) {
    try {
      const r = await fetch("/v1/events", {
        headers: {Authorization: `Bearer ${readToken() || ""}`, Accept: "text/event-stream"},
        cache: "no-store",
      });
      if (r.status === 401) { onState("no token"); return; }
      if (!r.ok) throw new Error(`events: ${r.status}`);
      onState("live");
      pause = RETRY_MIN_MS;
      await read(r.body, onEvent);
    } catch {
      // (a network error or the node stopping: retry below)
    }
    onState("reconnecting");
    await new Promise((ok) => setTimeout(ok, pause));
    pause = Math.min(pause * 2, RETRY_MAX_MS);
  }
}

async function read(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trim()).join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}
