"""schemathesis hooks for `make fuzz` (scripts/fuzz).

The fake provider behind the fuzzed gateway speaks OpenAI's wire format (the `local` and `openai` engines);
Anthropic and Bedrock point at it too, so a turn for them could only fail as a 502, which says nothing about
Helix. A fuzzed turn that names one of them runs on `local` instead; every other field stays as generated.

POST /auth/logout goes with a token of its own (not a valid one): with the run's token it would sign that token
out, and every later request of the run would be a 401 that tests nothing.
"""

import schemathesis

SPOKEN_ELSEWHERE = ("anthropic", "bedrock")


@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.operation.path == "/auth/logout":
        case.headers = {**(case.headers or {}), "Authorization": "Bearer fuzz-not-the-runs-token"}
        return
    if case.operation.path != "/v1/turns" or not isinstance(case.body, dict):
        return
    if case.body.get("engine") in SPOKEN_ELSEWHERE:
        case.body["engine"] = "local"
