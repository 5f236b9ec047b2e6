#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from ../shared/slack-samples (see its INDEX.md).

The corpora are generated, not committed: run this before `cargo +nightly fuzz run TARGET`.
Bodies are shaped the way Slack sends them (interactivity JSON as a `payload=` form field), and
the signature seeds are signed with Slack's documented test secret at the timestamp the fuzz
target's clock is set to (src/fuzzing.rs), so mutations start from requests that verify.
"""

import hashlib
import hmac
import json
import pathlib
import sys
import urllib.parse

SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1531420618
PURPOSE = b"circlet/capture-modal/v1"

here = pathlib.Path(__file__).resolve().parent
samples = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else here / "../../shared/slack-samples").resolve()
corpus = here / "corpus"


def put(target, name, data):
    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def sign(body, ts=NOW):
    digest = hmac.new(SECRET, b"v0:%d:" % ts + body, hashlib.sha256).hexdigest()
    return b"%d\nv0=%s\n" % (ts, digest.encode()) + body


def seal(context):
    """The modal's private_metadata as src/domain/modal/metadata.rs seals it."""
    mac = hmac.new(SECRET, PURPOSE, hashlib.sha256)
    for field in ("team_id", "channel_id", "message_ts", "user_id"):
        value = context[field].encode()
        mac.update(len(value).to_bytes(8, "big") + value)
    issued = str(context["issued_at"]).encode()
    mac.update(len(issued).to_bytes(8, "big") + issued)
    return json.dumps({**context, "sig": mac.hexdigest()})


def form(fields):
    return urllib.parse.urlencode(fields).encode()


for path in sorted((samples / "events").glob("*.json")):
    body = path.read_bytes()
    put("events", path.name, body)
    put("signature", path.name, sign(body))

for path in sorted((samples / "interactivity").glob("*.json")):
    body = form({"payload": path.read_text()})
    put("interactions", path.name, body)
    put("signature", path.name + ".form", sign(body))

context = {"team_id": "T0CIRCLE", "channel_id": "C0CIRCLE", "message_ts": "1700000000.000100",
           "user_id": "U0MAYA", "issued_at": NOW}
submission = {
    "type": "view_submission", "team": {"id": "T0CIRCLE"}, "user": {"id": "U0MAYA", "team_id": "T0CIRCLE"},
    "view": {"id": "V1", "callback_id": "capture_feedback", "private_metadata": seal(context),
             "state": {"values": {
                 "text": {"text": {"type": "plain_text_input", "value": "Refills please"}},
                 "tags": {"tags": {"type": "multi_static_select", "selected_options": [{"value": "idea"}]}},
                 "sentiment": {"sentiment": {"type": "static_select", "selected_option": {"value": "positive"}}},
             }}},
}
put("interactions", "view_submission_sealed", form({"payload": json.dumps(submission)}))

for path in sorted((samples / "commands").glob("*.txt")):
    body = path.read_bytes()
    put("commands", path.name, body)
    put("signature", path.name, sign(body))

feedback = [
    "help", "status 42 shipped", "status #7 Planned", "merge #3 into #4", "merge 3 INTO 4",
    'rules add "dark mode" idea capture', "rules add \u201crefund\u201d billing", "rules remove 2",
    "tags set :rocket: launch", "tags unset :bulb:", "circle add <#C0BEAUTY|beauty-insiders>",
    "circle remove C0BEAUTY", "circle list", "report 7d #ideas tag:bug",
    'prompt add "What would you change?"', "prompt remove 2", "digest circle off <#C0B|b>",
    "digest preview",
]
for n, text in enumerate(feedback):
    put("commands", f"feedback_{n:02}", form({
        "team_id": "T0CIRCLE", "user_id": "U0MAYA", "command": "/feedback", "text": text,
        "response_url": "https://hooks.slack.com/commands/T0CIRCLE/1/x", "trigger_id": "1.2.3",
    }))

filters = [
    "format=csv&since=2026-01-01&until=2026-02-01&tag=bug&channel=C0BEAUTY&status=shipped&after_id=42",
    "format=jsonl&since=2026-01-31T09:00:00Z", "since=2026-01-31T09:00:00%2B02:00&until=2026-02-01",
    "channel=%3C%23C0BEAUTY%7Cbeauty-insiders%3E&after_id=%2310", "format=xml", "since=yesterday",
    "csv 30d #beauty tag:idea status:planned", "jsonl since 2026-01-01 until 2026-03-01 <#C0B|b>",
    "7d", "90d tag:pain-point", "since 2026-11-23", "until 2026-12-01", "status:declined",
]
for n, text in enumerate(filters):
    put("export_filter", f"filter_{n:02}", text)
    put("commands", f"export_{n:02}", form({
        "team_id": "T0CIRCLE", "user_id": "U0PM", "command": "/feedback", "text": "export " + text,
        "response_url": "https://hooks.slack.com/commands/T0CIRCLE/1/x", "trigger_id": "1.2.3",
    }))

put("signature", "docs_vector", sign((samples / "commands/slash_command_signed_docs_example__pysdk.txt").read_bytes()))
for target in sorted(p.name for p in corpus.iterdir()):
    print(f"{target}: {len(list((corpus / target).iterdir()))} seeds")
