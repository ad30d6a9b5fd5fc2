"""The official `openai` Python package, unmodified, against the real local gateway (scripts/openai-clients).

Each check is a sentence; the first failure stops the run with its assertion. The environment names the gateway,
the keys and the models (see scripts/openai-clients)."""

import json
import os
import threading
import urllib.request

import openai
from openai import OpenAI

API = os.environ["HELIX_API_URL"]
KEY = os.environ["HELIX_API_KEY"]
KEY_ID = os.environ["HELIX_API_KEY_ID"]
POOR_KEY = os.environ["HELIX_POOR_API_KEY"]
JWT = os.environ["HELIX_JWT"]
MODEL = os.environ["HELIX_MODEL"]

client = OpenAI(base_url=f"{API}/v1", api_key=KEY)


def helix(method, path, body=None, token=JWT):
    request = urllib.request.Request(
        f"{API}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def key_ledger_rows():
    return helix("GET", f"/v1/budget?api_key_id={KEY_ID}&limit=100")["ledger"]


def say(message):
    print(f"python openai {openai.__version__}: {message}", flush=True)


def models_lists_the_agents_and_the_embedding_model():
    ids = [model.id for model in client.models.list()]
    assert MODEL in ids, ids
    assert all(model.object == "model" for model in client.models.list())
    return next(i for i in ids if i.startswith("local/") and "minilm" in i.lower())


def a_completion_answers_with_usage_and_helix_headers():
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello there"}]
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.choices[0].message.content.startswith("You said: **Hello there**"), completion
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert int(raw.headers["x-helix-cost-micros"]) == completion.model_extra["helix"]["cost_micros"] > 0
    assert raw.headers["x-helix-max-tokens-reduced"] == "false"


def a_stream_ends_with_usage_and_the_cost():
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("You said: **Stream please**"), text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"], finishes
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens > 0, last
    assert last.model_extra["helix"]["cost_micros"] > 0


CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluates an arithmetic expression",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
    },
}


def tool_calls_come_back_and_the_conversation_goes_on():
    messages = [{"role": "user", "content": "Please use the calculator"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[CALCULATOR])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "calculator"
    assert json.loads(call.function.arguments) == {"expression": "6*7"}
    messages += [choice.message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "42"}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[CALCULATOR])
    assert second.choices[0].message.content == f"Tool said: {call.id}=42", second

    streamed = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Please use the calculator"}], tools=[CALCULATOR], stream=True
    )
    calls = [c.choices[0].delta.tool_calls for c in streamed if c.choices and c.choices[0].delta.tool_calls]
    assert len(calls) == 1 and calls[0][0].function.name == "calculator", calls


def embeddings_come_as_floats_either_way(embedding_model):
    # The SDK asks for base64 by default and decodes it itself.
    by_default = client.embeddings.create(model=embedding_model, input=["a cat", "a dog"])
    assert [d.index for d in by_default.data] == [0, 1]
    assert len(by_default.data[0].embedding) == 384
    floats = client.embeddings.create(model=embedding_model, input="a cat", encoding_format="float")
    assert abs(sum(a * b for a, b in zip(floats.data[0].embedding, by_default.data[0].embedding)) - 1) < 1e-4
    assert floats.usage.prompt_tokens > 0


def a_conversation_is_stored_and_continued_through_extra_body():
    first = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Remember the lighthouse"},
        ],
        extra_body={"helix": {"personality_id": "helix-assistant", "save": True}},
    )
    saved = first.model_extra["helix"]
    conversation_id = saved["conversation_id"]
    assert saved["message_id"] and saved["history_omitted"] == 0, saved
    # Only the new question is sent, streamed: the history and the personality are the conversation's own.
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "What was it?"}],
            extra_body={"helix": {"conversation_id": conversation_id}},
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("You said: **What was it?**. My instructions begin: “You are Helix"), text
    continued = chunks[-1].model_extra["helix"]
    assert continued["conversation_id"] == conversation_id, continued
    stored = helix("GET", f"/v1/conversations/{conversation_id}")
    assert stored["personality_id"] == "helix-assistant", stored
    assert [(m["role"], m["content"]) for m in stored["messages"] if m["role"] == "user"] == [
        ("user", "Remember the lighthouse"),
        ("user", "What was it?"),
    ], stored["messages"]
    assert [m["id"] for m in stored["messages"] if m["role"] == "assistant"] == [
        saved["message_id"],
        continued["message_id"],
    ], stored["messages"]
    try:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"helix": {"conversation_id": "zzzzzzzzzzzz"}},
        )
    except openai.NotFoundError as error:
        assert error.code == "conversation_not_found", error.body
    else:
        raise AssertionError("no 404")


def an_exhausted_budget_is_the_sdks_402_with_budget_exhausted():
    poor = OpenAI(base_url=f"{API}/v1", api_key=POOR_KEY, max_retries=0)
    try:
        poor.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    except openai.APIStatusError as error:
        assert error.status_code == 402, error
        assert error.code == "budget_exhausted", error.body
        assert error.type == "insufficient_quota", error.body
    else:
        raise AssertionError("no 402")


def a_revoked_key_is_the_sdks_authentication_error():
    created = helix("POST", "/v1/keys", {"name": "revoke me"})
    revoked = OpenAI(base_url=f"{API}/v1", api_key=created["key"], max_retries=0)
    assert revoked.models.list().data
    helix("DELETE", f"/v1/keys/{created['id']}")
    try:
        revoked.models.list()
    except openai.AuthenticationError as error:
        assert error.status_code == 401 and error.code == "invalid_api_key", error.body
    else:
        raise AssertionError("a revoked key still works")


def an_unknown_model_and_a_bad_field_are_the_sdks_errors():
    try:
        client.chat.completions.create(model="nope/nothing", messages=[{"role": "user", "content": "hi"}])
    except openai.NotFoundError as error:
        assert error.code == "model_not_found", error.body
    else:
        raise AssertionError("no 404")
    try:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=0)
    except openai.BadRequestError as error:
        assert error.param == "max_tokens" and error.type == "invalid_request_error", error.body
    else:
        raise AssertionError("no 400")


def too_many_calls_at_once_is_the_sdks_rate_limit_error_with_retry_after():
    # HELIX_MAX_CALLS_IN_FLIGHT is 2 (scripts/openai-clients): the third slow call at once is refused.
    impatient = OpenAI(base_url=f"{API}/v1", api_key=KEY, max_retries=0)
    errors = []

    def call():
        try:
            impatient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "count slowly"}])
        except openai.RateLimitError as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1, errors
    assert errors[0].status_code == 429 and errors[0].response.headers.get("retry-after"), errors[0]


def the_sdks_own_retries_never_charge_twice():
    # The client gives up after 1 s of a 5-second answer and retries with the same Idempotency-Key: Helix
    # answers 409 while the first call runs (the SDK retries that too), then replays the stored answer.
    before = len(key_ledger_rows())
    patient = OpenAI(base_url=f"{API}/v1", api_key=KEY, timeout=1.0, max_retries=8)
    completion = patient.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "count slowly, once"}],
        extra_headers={"Idempotency-Key": "python-retry-1"},
    )
    assert completion.choices[0].message.content.endswith("The end."), completion
    assert len(key_ledger_rows()) == before + 1, "retried calls were charged more than once"


embedding_model = models_lists_the_agents_and_the_embedding_model()
say("models.list() lists the agents' models and the embedding model")
a_completion_answers_with_usage_and_helix_headers()
say("a completion answers in OpenAI's shape with usage and the x-helix headers")
a_stream_ends_with_usage_and_the_cost()
say("a stream ends with the usage chunk and the cost")
tool_calls_come_back_and_the_conversation_goes_on()
say("tool calls come back (whole and streamed) and the conversation goes on")
embeddings_come_as_floats_either_way(embedding_model)
say("embeddings come back as floats, base64 or not")
a_conversation_is_stored_and_continued_through_extra_body()
say("extra_body helix starts a stored conversation and continues it, streamed, from its history")
an_exhausted_budget_is_the_sdks_402_with_budget_exhausted()
say("an exhausted budget is an APIStatusError 402 budget_exhausted")
a_revoked_key_is_the_sdks_authentication_error()
say("a revoked key is an AuthenticationError")
an_unknown_model_and_a_bad_field_are_the_sdks_errors()
say("an unknown model is a NotFoundError, a bad field a BadRequestError naming it")
too_many_calls_at_once_is_the_sdks_rate_limit_error_with_retry_after()
say("too many calls at once is a RateLimitError with Retry-After")
the_sdks_own_retries_never_charge_twice()
say("the SDK's own retries never charge twice")
