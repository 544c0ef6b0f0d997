// How values read: agents by their petnames, times local and relative.

const rtf = new Intl.RelativeTimeFormat(undefined, {numeric: "auto", style: "short"});
const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

/** "in 2 hr", "5 min ago" for an epoch second, against `now` (ms). */
export function relative(epochS, nowMs = Date.now()) {
  const delta = epochS - nowMs / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(delta) >= size || unit === "second") {
      return rtf.format(Math.round(delta / size), unit);
    }
  }
  return "";
}

/** The browser's local date and time of an epoch second. */
export function local(epochS) {
  return new Date(epochS * 1000).toLocaleString(undefined,
    {dateStyle: "medium", timeStyle: "short"});
}

/** <time> showing the relative time, with the local time beside it. */
export function timeEl(epochS) {
  if (epochS === null || epochS === undefined) return document.createTextNode("–");
  const el = document.createElement("time");
  el.dateTime = new Date(epochS * 1000).toISOString();
  el.dataset.epoch = String(epochS);
  el.title = local(epochS);
  el.textContent = `${relative(epochS)} (${local(epochS)})`;
  return el;
}

/** Refresh every <time data-epoch> (relative times go stale). */
export function retime(root = document) {
  for (const el of root.querySelectorAll("time[data-epoch]")) {
    const s = Number(el.dataset.epoch);
    el.textContent = `${relative(s)} (${local(s)})`;
  }
}

export function percent(x) {
  return `${Math.round(x * 100)}%`;
}

export function shortCid(cid) {
  return cid ? `${cid.slice(0, 10)}…${cid.slice(-6)}` : "–";
}

/** Words for a verdict's basis (docs/design.md, Verdicts). */
export const BASIS = {
  own: "your own assessment",
  verified: "verified: delivered artifacts checked",
  witnessed: "witnessed: others' reports",
  claimed: "claimed by the promiser",
  deadline: "deadline passed",
  retracted: "retracted by the promiser",
  equivocation: "the promiser equivocated",
  none: "no evidence yet",
};
