"""Stories of community members using the web app in a real browser, against
two real `troth run` nodes, A and B (tests/web/conftest.py).

Every action goes through the app's forms, which call the same API routes as
the CLI; the checks read the other node's app (live, without a reload) or its
API.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect

import wire
from tests.harness import wait_for
from tests.web.conftest import SKEW_S, Console, WebNode, open_app, run_axe, write_token_dialog

pytestmark = pytest.mark.slow

# How long the app may take to show what another node did (gossip, then the
# event stream): generous for a loaded machine, usually well under a second.
LIVE_S = 20.0
MINUTES = b"Minutes of the garden meeting: compost bins on Saturday.\n"


def picker(epoch_s: float) -> str:
    """A datetime-local value (the browser runs in UTC: conftest.TIMEZONE)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s))


def name_each_other(a: WebNode, b: WebNode) -> None:
    """Petnames set through the API (the CLI's `troth name`); the apps show them."""
    for node, other, name in ((a, b, "Bob"), (b, a, "Alice")):
        node.http.post("/v1/names", json={"agent": other.agent, "name": name}).raise_for_status()


def stays(page: Page) -> None:
    """Mark the page: `assert_not_reloaded` fails if it was loaded again since."""
    page.evaluate("window.__stayed = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__stayed === true"), "the page was reloaded"


def test_a_promise_made_at_a_appears_with_its_verdict_at_b_live(
        nodes: tuple[WebNode, WebNode], context: BrowserContext, artifacts: Path) -> None:
    a, b = nodes
    name_each_other(a, b)
    at_b = open_app(context, b, "promises")
    stays(at_b)

    # -- at A: a promise to Bob, due next week, delivering the minutes (a file)
    at_a = open_app(context, a, "promises")
    posts: list[Request] = []
    at_a.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    form = at_a.locator("form", has=at_a.get_by_role("heading", name="Make a promise"))
    form.get_by_label("What you promise").fill("Send the minutes")
    form.get_by_label("Due (your local time)").fill(picker(time.time() + 7 * 86400))
    form.get_by_label("Promisee").fill("Bob")  # the petname: the app sends Bob's id
    form.get_by_label("Artifacts you will deliver").set_input_files(
        files=[{"name": "minutes.txt", "mimeType": "text/plain", "buffer": MINUTES}])
    form.get_by_role("button", name="Promise").click()
    write_token_dialog(at_a, a.write_token)
    expect(form.get_by_role("status")).to_contain_text("Promised")
    [made] = [v for v in a.http.get("/v1/verdicts").json() if v["text"] == "Send the minutes"]
    assert made["to"] == b.agent
    shown = a.http.get(f"/v1/tokens/{made['cid']}").json()
    assert shown["body"]["out"] == [wire.cid_of(MINUTES)]  # the browser's cid is troth's
    # the action carried its own Idempotency-Key: the same request again signs nothing
    [sent] = posts
    again = a.http.post(sent.url, content=sent.post_data, headers={
        "Content-Type": "application/json",
        "Idempotency-Key": sent.headers["idempotency-key"]})
    assert again.headers.get("idempotent-replayed") == "true", again.text
    assert again.json()["cid"] == made["cid"]

    # -- at B, without a reload: the promise, by Alice, to "Bob (you)", pending
    row = at_b.get_by_role("row", name="Send the minutes")
    expect(row).to_contain_text("pending", timeout=LIVE_S * 1000)
    expect(row).to_contain_text("Alice")
    expect(row.locator("time")).to_contain_text("in 7 days")  # relative, then local time
    expect(row.get_by_role("link", name="you", exact=True)).to_be_visible()  # the promisee

    # -- A's overview lists it among the promises due soon
    at_a.get_by_role("link", name="Overview").click()
    due_soon = at_a.get_by_role("table", name="Pending promises with a due time")
    expect(due_soon.get_by_role("row", name="Send the minutes")).to_contain_text("in 7 days")

    # -- at A: fulfil with the very file
    due_soon.get_by_role("link", name="Send the minutes").click()
    fulfil = at_a.locator("form", has=at_a.get_by_role("heading", name="Fulfil"))
    fulfil.get_by_label("Evidence").fill("sent to the list")
    fulfil.get_by_label("Artifacts").set_input_files(
        files=[{"name": "minutes.txt", "mimeType": "text/plain", "buffer": MINUTES}])
    fulfil.get_by_role("button", name="Fulfil").click()
    expect(fulfil.get_by_role("status")).to_contain_text("Fulfilled")
    keys = [r.headers["idempotency-key"] for r in posts]
    assert len(keys) == 2 and len(set(keys)) == 2  # a fresh key per action

    # -- at B, live: kept, verified (B hashed the delivered bytes itself)
    expect(row).to_contain_text("kept", timeout=LIVE_S * 1000)
    expect(row).to_contain_text("verified")
    assert_not_reloaded(at_b)
    row.get_by_role("link", name="Send the minutes").click()
    expect(at_b.locator("#verdict")).to_contain_text("verified: delivered artifacts checked")
    expect(at_b.locator("#verdict")).to_contain_text("confidence 100%")
    at_b.screenshot(path=artifacts / "promise-at-b.png", full_page=True)

    # -- B's trust in Alice: a bar, its history, and this kept promise as the why
    at_b.locator("dd").get_by_role("link", name="Alice").click()
    expect(at_b.locator("main h1")).to_have_text("Trust in Alice")
    why = at_b.get_by_role("table", name="This node's verdicts on Alice's promises")
    expect(why.get_by_role("row", name="Send the minutes")).to_contain_text("kept")
    expect(at_b.get_by_role("img", name="belief")).not_to_have_count(0)
    history = at_b.get_by_role("table", name="How the opinion moved while this node ran")
    expect(history.get_by_role("row")).not_to_have_count(1)  # (a header and points)
    at_b.go_back()

    # -- B assesses it in its app; A's app shows B's assessment on the promise
    assess = at_b.locator("form", has=at_b.get_by_role("heading", name="Assess"))
    assess.get_by_label("kept").check()
    assess.get_by_label("Reason").fill("got them")
    assess.get_by_role("button", name="Assess").click()
    write_token_dialog(at_b, b.write_token)
    expect(assess.get_by_role("status")).to_contain_text("Assessed")
    expect(at_a.get_by_role("row", name="Bob")).to_contain_text("got them",
                                                                timeout=LIVE_S * 1000)


def test_a_ranked_vote_in_the_browser_is_counted_by_another_nodes_tally(
        nodes: tuple[WebNode, WebNode], context: BrowserContext, artifacts: Path) -> None:
    a, b = nodes
    name_each_other(a, b)
    at_a = open_app(context, a, "votes")

    # -- A founds a community with Bob and proposes a ranked vote, in the app
    found = at_a.locator("form", has=at_a.get_by_role("heading", name="Found a community"))
    found.get_by_label("Name", exact=True).fill("Garden club")
    found.get_by_label("Bob").check()
    found.get_by_role("button", name="Found").click()
    write_token_dialog(at_a, a.write_token)
    expect(found.get_by_role("status")).to_contain_text("Founded Garden club")
    propose = at_a.locator("form", has=at_a.get_by_role("heading", name="Propose"))
    expect(propose.get_by_label("Community")).to_contain_text("Garden club")
    propose.get_by_label("Community").select_option(label="Garden club")
    propose.get_by_label("Title").fill("Where do we meet?")
    propose.get_by_label("Options").fill("park\nlibrary\ncafe")
    propose.get_by_label("Method").select_option("ranked")
    closes = time.time() + 15
    propose.get_by_label("Closes (your local time)").fill(picker(closes))
    propose.get_by_role("button", name="Propose").click()
    expect(propose.get_by_role("status")).to_contain_text("Proposed")
    [p] = [p for p in a.http.get("/v1/proposals").json() if p["title"] == "Where do we meet?"]
    assert p["method"] == "ranked"
    at_a.get_by_role("link", name="Overview").click()
    closing = at_a.get_by_role("table", name="Open proposals, soonest first")
    expect(closing.get_by_role("row", name="Where do we meet?")).to_contain_text("Garden club")

    # -- at B: Bob ranks cafe first with the keyboard-operable reorder buttons
    at_b = open_app(context, b, "votes")
    link = at_b.get_by_role("link", name="Where do we meet?")
    link.click(timeout=LIVE_S * 1000)
    at_b.get_by_role("button", name="Move cafe up").click()
    at_b.get_by_role("button", name="Move cafe up").click()
    assert [t.split(" ")[0] for t in at_b.locator("#ranking li").all_inner_texts()] == [
        "cafe", "park", "library"]
    at_b.get_by_role("button", name="Vote", exact=True).click()
    write_token_dialog(at_b, b.write_token)
    expect(at_b.get_by_role("status").filter(has_text="Voted")).to_contain_text(
        "cafe > park > library")
    a.http.post("/v1/ballots", json={"proposal": p["cid"], "choices": ["park", "cafe",
                                                                       "library"]})

    # -- A's app counts Bob's ballot live, before the close
    at_a.goto(f"{a.api}/#/votes/{p['cid']}")
    expect(at_a.get_by_text("2 ballots counted")).to_be_visible(timeout=LIVE_S * 1000)

    # -- after the close (+ skew) each member's node publishes its tally; A's
    #    counted Bob's ballot, and Bob's app says so
    wait_for(lambda: time.time() > closes + SKEW_S, "the vote to close")
    tallies = at_b.get_by_role("table", name="Each member's latest tally, as this node checks it")
    expect(tallies.get_by_role("row", name="Alice")).to_contain_text(
        "counted", timeout=LIVE_S * 1000)
    attest = at_b.get_by_role("table", name="What each member's tally did with your vote")
    expect(attest.get_by_role("row", name="Alice")).to_contain_text("counted it")
    expect(at_b.locator("#my-vote")).to_contain_text("Yes: this node counts your ballot")
    expect(at_b.locator("#outcome")).to_contain_text("decided", timeout=LIVE_S * 1000)
    # (Schulze: cafe beats library 2-0, park and cafe tie 1-1: ties to the first listed)
    expect(at_b.locator("#outcome")).to_contain_text("park")
    explained = b.http.get(f"/v1/proposals/{p['cid']}", params={"explain": True}).json()
    counted = explained["explanation"]["counted"]
    assert [a.agent, counted] in explained["explanation"]["attestations"]
    at_b.screenshot(path=artifacts / "vote-at-b.png", full_page=True)


def test_a_read_only_session_cannot_sign(nodes: tuple[WebNode, WebNode],
                                         context: BrowserContext, console: Console) -> None:
    a, _ = nodes
    # The browser logs each refused fetch; these two are the point of the test.
    console.allowed = ["status of 401", "status of 403"]
    at_a = open_app(context, a, "promises")
    seq = a.ident()["own_seq"]
    expect(at_a.locator("#mode")).to_have_text("read-only")
    form = at_a.locator("form", has=at_a.get_by_role("heading", name="Make a promise"))
    form.get_by_label("What you promise").fill("Sign with a read token")
    status = form.get_by_role("status")

    # the action asks for the write token; cancelling signs nothing
    form.get_by_role("button", name="Promise").click()
    at_a.get_by_role("dialog", name="Write token needed").wait_for()
    at_a.keyboard.press("Escape")
    expect(status).to_contain_text("nothing was signed")

    # the read token is refused by the API (403), a wrong one too (401)
    for token, answer in ((a.home.api_read_token(), "403 forbidden"),
                          ("not-a-token", "401 unauthorized")):
        form.get_by_role("button", name="Promise").click()
        write_token_dialog(at_a, token)
        expect(status).to_contain_text(answer)
        expect(at_a.locator("#mode")).to_have_text("read-only")  # the bad token is forgotten
    assert a.ident()["own_seq"] == seq

    # the page itself holds only the read token, which the API refuses to sign with
    stored = at_a.evaluate("Object.fromEntries(Object.entries(sessionStorage))")
    assert stored == {"troth-read-token": a.home.api_read_token()}
    answer = at_a.evaluate("""async () => { const r = await fetch('/v1/promises', {method: 'POST',
        headers: {Authorization: 'Bearer ' + sessionStorage.getItem('troth-read-token'),
                  'Content-Type': 'application/json'}, body: '{"text": "x"}'});
        return [r.status, (await r.json()).error]; }""")
    assert answer == [403, "forbidden"]
    assert a.write_token not in at_a.content()  # the page never embeds the write token
    r = httpx.post(f"{a.api}/v1/promises", json={"text": "x"})
    assert r.status_code == 401 and a.ident()["own_seq"] == seq


def test_every_view_passes_axe_and_works_with_the_keyboard_alone(
        nodes: tuple[WebNode, WebNode], context: BrowserContext, artifacts: Path,
        axe_source: str) -> None:
    a, b = nodes
    # something in every view: two rival claims of one slot make a conflict set
    claims = [n.http.post("/v1/promises", json={"text": f"{n.agent[-4:]} keeps the keys",
                                               "slot": "keyholder"}).json()["cid"]
              for n in (a, b)]
    wait_for(lambda: all(a.http.get(f"/v1/tokens/{c}").status_code == 200 for c in claims),
             "A to hold both claims")
    page = open_app(context, a)
    for view in ("overview", "promises", "trust", "conflicts", "votes", "names",
                 f"promises/{claims[1]}", f"trust/{b.agent}"):
        page.goto(f"{a.api}/#/{view}")
        expect(page.locator("nav a[aria-current=page]")).to_have_attribute(
            "href", f"#/{view.split('/')[0]}")
        page.locator("main[aria-busy=false]").wait_for()  # (the view has its data)
        assert run_axe(page, axe_source) == [], view
        page.screenshot(path=artifacts / f"{view.split('/')[0]}"
                        f"{'-one' if '/' in view else ''}.png", full_page=True)
        if view == "conflicts":
            expect(page.get_by_role("heading", name="Slot “keyholder” in network-wide")) \
                .to_be_visible()

    # keyboard alone: Tab to the Promises link, make a promise, sign it
    page.goto(f"{a.api}/#/overview")
    page.locator("main h1").wait_for()

    def tab_to(selector: str) -> None:
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("nav a[href='#/promises']")
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Promises")
    tab_to("textarea[name=text]")
    page.keyboard.type("Water the plants")
    tab_to("form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Write token needed")).to_be_visible()
    page.keyboard.type(a.write_token)  # (focus is in the token field)
    page.keyboard.press("Enter")
    expect(page.get_by_role("row", name="Water the plants")).to_be_visible(
        timeout=LIVE_S * 1000)
    assert run_axe(page, axe_source) == []  # with data and a status line

    # ... and name an agent in the Names view: the name shows everywhere
    tab_to("nav a[href='#/names']")
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Names")
    tab_to(f"input[aria-label='Name for {b.agent}']")
    page.keyboard.press("Control+A")
    page.keyboard.type("Bob of the keys")
    page.keyboard.press("Enter")
    wait_for(lambda: a.http.get("/v1/names").json().get(b.agent) == "Bob of the keys",
             "the name to be saved")
    page.goto(f"{a.api}/#/conflicts")
    expect(page.get_by_role("link", name="Bob of the keys").first).to_be_visible()
