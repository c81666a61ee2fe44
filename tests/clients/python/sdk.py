"""The official Mailgun Python SDK (PyPI `mailgun` 1.10), unchanged, against
envoi: its README's and examples' calls for domains, templates, messages,
events and suppressions. Run by tests/tests/python_clients.rs with
ENVOI_URL and ENVOI_KEY; prints one JSON line of what the Rust side checks
at the sink."""

import json
import os
import sys

from mailgun.client import Client

URL, KEY = os.environ["ENVOI_URL"], os.environ["ENVOI_KEY"]
DOMAIN = "sdk.test"
c = Client(auth=("api", KEY), api_url=URL)


def ok(r, what):
    assert r.status_code == 200, f"{what}: {r.status_code} {r.text}"
    return r.json()


# Domains: the v3 family the SDK calls.
created = ok(c.domains.create(data={"name": DOMAIN}), "domains.create")
assert created["domain"]["name"] == DOMAIN
assert created["sending_dns_records"], created
got = ok(c.domains.get(domain=DOMAIN), "domains.get")
assert got["domain"]["name"] == DOMAIN and "receiving_dns_records" in got
ok(c.domains.put(data={"spam_action": "disabled"}, domain=DOMAIN), "domains.put")
ok(c.domains.put(domain=DOMAIN, verify=True), "domains.put(verify)")
names = [d["name"] for d in ok(c.domainlist.get(), "domainlist.get")["items"]]
assert DOMAIN in names, names

# Templates.
tpl = ok(
    c.templates.create(
        data={
            "name": "Welcome",
            "description": "first mail",
            "template": "<p>Hi {{name}}, {{#equal plan \"pro\"}}pro{{else}}free{{/equal}} #{{recipient.n}}</p>",
            "tag": "v1",
            "comment": "first",
            "headers": json.dumps({"Subject": "Welcome aboard", "Reply-To": "help@sdk.test"}),
        },
        domain=DOMAIN,
    ),
    "templates.create",
)
assert tpl["message"] == "template has been stored", tpl
assert tpl["template"]["name"] == "welcome", "names are lower-cased"
assert tpl["template"]["version"]["active"] is True, "the first version is active"
listed = ok(c.templates.get(domain=DOMAIN), "templates.get")
assert [t["name"] for t in listed["items"]] == ["welcome"], listed
active = ok(
    c.templates.get(domain=DOMAIN, filters={"active": "yes"}, template_name="welcome"),
    "templates.get(active)",
)
assert active["template"]["version"]["tag"] == "v1", active
ok(
    c.templates.create(
        data={"tag": "v2", "template": "<p>v2 {{name}}</p>", "comment": "second"},
        domain=DOMAIN,
        template_name="welcome",
        versions=True,
    ),
    "templates.create(versions)",
)
versions = ok(
    c.templates.get(domain=DOMAIN, template_name="welcome", versions=True),
    "templates.get(versions)",
)
assert [v["tag"] for v in versions["template"]["versions"]] == ["v1", "v2"], versions
ok(
    c.templates.put(
        data={"comment": "kept"},
        domain=DOMAIN,
        template_name="welcome",
        versions=True,
        tag="v2",
    ),
    "templates.put(version)",
)
copied = ok(
    c.templates.put(
        domain=DOMAIN,
        filters={"comment": "copy"},
        template_name="welcome",
        versions=True,
        tag="v2",
        copy=True,
        new_tag="v3",
    ),
    "templates.put(copy)",
)
assert copied["version"]["tag"] == "v3", copied
ok(
    c.templates.delete(domain=DOMAIN, template_name="welcome", versions=True, tag="v3"),
    "templates.delete(version)",
)

# A batch send with the template, t:variables, recipient-variables and a
# v: value taken from them.
sent = ok(
    c.messages.create(
        data={
            "from": f"Shop <shop@{DOMAIN}>",
            "to": ["ann@dest.test", "ben@dest.test"],
            "template": "welcome",
            "t:version": "v1",
            "t:text": "yes",
            "t:variables": json.dumps({"name": "Ann & Ben", "plan": "pro"}),
            "recipient-variables": json.dumps(
                {"ann@dest.test": {"n": "1"}, "ben@dest.test": {"n": "2"}}
            ),
            "v:cust": "cust-%recipient.n%",
            "o:tag": "welcome",
        },
        domain=DOMAIN,
    ),
    "messages.create",
)
message_id = sent["id"]

# Events: a filter expression, and the stream that follows paging.next.
accepted = ok(
    c.events.get(domain=DOMAIN, filters={"event": "rejected OR accepted"}),
    "events.get",
)
assert len(accepted["items"]) == 2, accepted
assert {e["message"]["headers"]["message-id"] for e in accepted["items"]} == {
    message_id.strip("<>")
}, "every copy carries the id the send returned"
assert sorted(e["user-variables"]["cust"] for e in accepted["items"]) == [
    "cust-1",
    "cust-2",
], accepted
# (Deliveries may have added `delivered` events by now: none is anything else.)
none = ok(
    c.events.get(domain=DOMAIN, filters={"event": "NOT (accepted OR delivered)"}),
    "events NOT",
)
assert none["items"] == [], none
streamed = list(c.events.stream(domain=DOMAIN, filters={"event": "accepted", "limit": 1}))
assert len(streamed) == 2, f"stream went through {len(streamed)} events"
bad = c.events.get(domain=DOMAIN, filters={"event": "accepted OR"})
assert bad.status_code == 400 and "filter" in bad.json()["message"], bad.text

# Suppressions: one JSON object, as the SDK's example posts.
ok(
    c.bounces.create(
        data=json.dumps({"address": "bob@example.org", "code": "550", "error": "gone"}),
        domain=DOMAIN,
        headers={"Content-Type": "application/json"},
    ),
    "bounces.create(json object)",
)
ok(c.bounces.get(domain=DOMAIN, bounce_address="bob@example.org"), "bounces.get")

# An endpoint envoi does not serve says so.
tags = c.tags.get(domain=DOMAIN)
assert tags.status_code == 404 and "not served by envoi" in tags.json()["message"], tags.text

print(json.dumps({"message_id": message_id}))
sys.stdout.flush()
