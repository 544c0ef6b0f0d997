// The node's HTTP API, as the CLI uses it, with this tab's tokens.
//
// Two tokens (docs/decisions/0014-web-app.md): the read token arrives in the
// URL fragment (#read=TOKEN, never sent to the server) and reads; the write
// token is asked for when an action needs it. Both live in sessionStorage
// (this tab only) and travel only in the Authorization header, never in a URL.

const READ_KEY = "troth-read-token";
const WRITE_KEY = "troth-write-token";

export class ApiError extends Error {
  constructor(status, error, detail) {
    super(`${status} ${error}: ${detail}`);
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

export const session = {
  get read() { return sessionStorage.getItem(READ_KEY); },
  get write() { return sessionStorage.getItem(WRITE_KEY); },
  setRead(token) { sessionStorage.setItem(READ_KEY, token); },
  setWrite(token) { sessionStorage.setItem(WRITE_KEY, token); onSessionChange(); },
  forgetWrite() { sessionStorage.removeItem(WRITE_KEY); onSessionChange(); },
  /** Take the read token out of the URL fragment (and out of the address bar). */
  takeFragment() {
    const frag = new URLSearchParams(location.hash.slice(1));
    const read = frag.get("read");
    if (read) {
      this.setRead(read);
      history.replaceState(null, "", `${location.pathname}#/overview`);
    }
  },
};

let sessionListener = () => {};
export function onSession(fn) { sessionListener = fn; }
function onSessionChange() { sessionListener(); }

/** The token a read uses: the read token, else the write token. */
export function readToken() {
  return session.read || session.write;
}

async function failure(r) {
  let body = {};
  try { body = await r.json(); } catch { body = {error: "refused", detail: r.statusText}; }
  return new ApiError(r.status, body.error || "refused", body.detail || "");
}

export async function get(path, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v != null));
  const url = q.size ? `${path}?${q}` : path;
  const r = await fetch(url, {headers: {Authorization: `Bearer ${readToken() || ""}`}});
  if (!r.ok) throw await failure(r);
  return path.endsWith(".svg") ? r.text() : r.json();
}

/**
 * POST as this node's agent: asks for the write token first if this tab has
 * none. One call is one user action, with its own Idempotency-Key: should the
 * node see the request twice (a proxy's or the browser's retry), it signs once
 * and answers the second with the first answer (node/app/idempotency.py).
 */
export async function post(path, body) {
  const key = crypto.randomUUID();
  let token = session.write;
  if (!token) {
    token = await askWriteToken();
    if (!token) throw new ApiError(0, "cancelled", "no write token given: nothing was signed");
  }
  const r = await fetch(path, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      "Idempotency-Key": key,
    },
    body: JSON.stringify(body),
  });
  if (r.status === 401 || r.status === 403) session.forgetWrite();
  if (!r.ok) throw await failure(r);
  return r.json();
}

/** The write-token dialog (index.html): resolves to the token, or null if cancelled. */
export function askWriteToken() {
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const cancel = document.getElementById("token-cancel");
  input.value = "";
  return new Promise((resolve) => {
    const done = (token) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      if (token) session.setWrite(token);
      resolve(token);
    };
    const onSubmit = (e) => { e.preventDefault(); done(input.value.trim() || null); };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
}
