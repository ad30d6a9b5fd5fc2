"""schemathesis hooks for `make fuzz` (scripts/fuzz).

The fake provider behind the fuzzed gateway speaks OpenAI's wire format (the `local` and `openai` engines);
Anthropic and Bedrock point at it too, so a turn for them could only fail as a 502, which says nothing about
Helix. A fuzzed turn that names one of them runs on `local` instead; every other field stays as generated.
"""

import schemathesis

SPOKEN_ELSEWHERE = ("anthropic", "bedrock")


@schemathesis.hook
def before_call(context, case, **kwargs):
    if case.operation.path != "/v1/turns" or not isinstance(case.body, dict):
        return
    if case.body.get("engine") in SPOKEN_ELSEWHERE:
        case.body["engine"] = "local"
